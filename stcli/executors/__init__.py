"""Executors: where a task's per-video function runs (``pipeline.VideoJob``).

- ``local``: in this process, the next video decoded while the network works on the
  current one (``VideoJob.run``).
- ``ray``: on the actors of a Ray cluster (``executors.ray``), each loading the model
  once from the same :class:`~stcli.settings.ModelSpec` and running the same per-video
  function on one path at a time; videos are read from their paths (shared storage).

Both yield one record per path in input order, so the writers (table, ``--out``,
reports, resume sidecars) cannot tell them apart. ``--shard`` (``stcli.batch.shards``) splits a
batch across separate runs of either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..choices import Executor
from ..settings import ExecutorSettings, ModelSpec

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..pipeline import Progress
    from ..results import Result
    from ..settings import _Settings


def run_videos_with(
    executor: ExecutorSettings | None, model: LoadedModel, spec: ModelSpec,
    settings: _Settings, paths: list[str], *, on_progress: Progress | None = None,
    **job_options: Any,
) -> Iterator[Result]:
    """One result per path, in order, from ``model``'s task (its ``video_job(settings)``)
    run by ``executor`` (default: local).

    ``model`` is the loaded model of ``spec``: the local executor runs it; Ray workers
    load their own from ``spec``. ``on_progress`` and ``job_options`` (detect's person
    ``source``) reach the local executor only: workers build theirs from ``settings``.
    """
    executor = executor or ExecutorSettings()
    if executor.executor == Executor.LOCAL:
        job = model.video_job(settings, on_progress=on_progress,  # type: ignore[attr-defined]
                              **job_options)
        return job.run(paths)
    from .ray import run_on_ray  # ray: only for this executor

    return run_on_ray(executor, type(model), spec, settings, paths, model.preset.name,
                      model.backend)
