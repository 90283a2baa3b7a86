"""The executor options every batch command shares (``--executor``, ``--ray-address``,
``--workers``, ``--threads-per-worker``); ``stcli.executors`` runs them."""

from __future__ import annotations

from typing import Annotated

import typer

from ..choices import Executor
from ..settings import ExecutorSettings
from ._common import choice_option

ExecutorOption = Annotated[str, choice_option(
    Executor, "--executor", help="Where videos are processed: local (this process) or ray "
    "(the workers of a Ray cluster; pip install 'stcli[ray]'). Same results either way.")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", help="With --executor ray: the cluster to use (HOST:PORT, or auto for "
    "the one 'ray start' began on this machine). Default: $RAY_ADDRESS, else a local "
    "cluster started for this run.", show_default=False)]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=1, help="With --executor ray: worker processes, each loading the "
    "model once. Default: as many as the cluster's CPUs hold.", show_default=False)]
ThreadsPerWorkerOption = Annotated[int, typer.Option(
    "--threads-per-worker", min=1, help="With --executor ray: CPUs (network threads) per "
    "worker.")]
EXECUTOR_DEFAULTS = ExecutorSettings()
