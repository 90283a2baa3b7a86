"""The options every batch command shares (``batch_options``), declared once, and the
run of one (``run_command``): the library's ``stcli.batch.run_batch`` with the results
streamed to stdout, rendered at the end, and the exit code.

Each command keeps only its own options; ``batch_command(DECLARATION)`` gives it the
model options and these, and hands them in as a ``ModelSpec`` and a ``BatchArgs``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from ..batch import BatchCommand, BatchOptions, run_batch
from ..choices import Executor, OutputFormat
from ..settings import ExecutorSettings, ModelSpec
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_OUTPUT,
    STDOUT,
    FormatOption,
    QuietOption,
    choice_option,
    log,
    model_options,
    replace_parameter,
    stdout_format,
    write_stdout,
)

if TYPE_CHECKING:
    from .. import reports
    from ..settings import _Settings

F = TypeVar("F", bound=Callable[..., Any])

OutOption = Annotated[
    # Not dir_okay=False: check_outputs refuses a folder in one line, before any work.
    Path | None, typer.Option("--out", "-o", help="Write results to FILE (.csv, .json or "
                              ".jsonl).")
]
ReportDirOption = Annotated[
    Path | None, typer.Option("--report-dir", help="Also write one JSON report per video "
                              "into DIR.", file_okay=False)
]
SkipExistingOption = Annotated[
    bool, typer.Option("--skip-existing", help="With --report-dir: reuse the report of a "
                       "video done by an earlier run when its fingerprint (command, version, "
                       "checkpoint, settings, the video's size and mtime) matches this run; "
                       "recompute the others.")
]
ShardOption = Annotated[
    str | None, typer.Option("--shard", help="Process only shard I/N of the videos (I from "
                             "0), or 'auto': the index and count of a SLURM array or "
                             "Kubernetes indexed Job. --out FILE becomes "
                             "FILE.part-IIII-of-NNNN.EXT; join the parts with 'stcli merge'.",
                             metavar="I/N|auto")
]
ShardsOption = Annotated[
    int | None, typer.Option("--shards", min=1, help="With --shard auto on Kubernetes: the "
                             "shard count (the Job's completions; default: $STCLI_SHARDS).",
                             show_default=False)
]
# --start / --end: given as text and parsed once, into the task's settings
# (``settings.parse_time``).
_FORMS = "seconds (12.5) or [HH:]MM:SS[.fff] (1:02:03.5)"
StartOption = Annotated[str | None, typer.Option(
    "--start", help=f"Analyse each video from this time on, as if cut there: {_FORMS}. "
    "Reported times stay the video's own.", show_default=False)]
EndOption = Annotated[str | None, typer.Option(
    "--end", help=f"Analyse each video up to this time (frames shown before it): {_FORMS}.",
    show_default=False)]
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


@dataclass(frozen=True)
class BatchArgs:
    """The shared options of a batch command as given: ``options()`` parses them into the
    library's ``BatchOptions``; ``start``/``end`` go into the task's settings
    (``time_range``); ``fmt`` and ``quiet`` are the CLI's own."""

    fmt: str | None = None
    out: Path | None = None
    report_dir: Path | None = None
    skip_existing: bool = False
    shard: str | None = None
    shards: int | None = None
    start: str | None = None
    end: str | None = None
    executor: str = EXECUTOR_DEFAULTS.executor.value
    ray_address: str | None = EXECUTOR_DEFAULTS.ray_address
    workers: int | None = EXECUTOR_DEFAULTS.workers
    threads_per_worker: int = EXECUTOR_DEFAULTS.threads_per_worker
    quiet: bool = False

    @property
    def time_range(self) -> dict[str, str | None]:
        """``start`` and ``end``, as the settings classes take them."""
        return {"start": self.start, "end": self.end}

    def options(self) -> BatchOptions:
        """The library's options (the executor checked: ray installed, no ray options
        given to the local one)."""
        executor = ExecutorSettings(self.executor, self.ray_address, self.workers,
                                    self.threads_per_worker)
        return BatchOptions(self.out, self.report_dir, self.skip_existing, self.shard,
                            self.shards, executor, progress=not self.quiet)


def batch_options(out: bool = True) -> Callable[[F], F]:
    """Give a command the shared batch options (``-f``, ``--out`` unless ``out`` is
    False, ``--report-dir``, ``--skip-existing``, ``--shard``, ``--shards``, ``--start``,
    ``--end``, the executor options, ``-q``) in place of its ``batch`` parameter, which
    then receives them as one :class:`BatchArgs`."""
    added = [("fmt", FormatOption, None), *([("out", OutOption, None)] if out else []),
             ("report_dir", ReportDirOption, None), ("skip_existing", SkipExistingOption, False),
             ("shard", ShardOption, None), ("shards", ShardsOption, None),
             ("start", StartOption, None), ("end", EndOption, None),
             ("executor", ExecutorOption, BatchArgs.executor),
             ("ray_address", RayAddressOption, BatchArgs.ray_address),
             ("workers", WorkersOption, BatchArgs.workers),
             ("threads_per_worker", ThreadsPerWorkerOption, BatchArgs.threads_per_worker),
             ("quiet", QuietOption, False)]
    return replace_parameter("batch", added, lambda fields: BatchArgs(**fields))


def batch_command(command: BatchCommand, out: bool = True) -> Callable[[F], F]:
    """The model options (``command.task``'s default preset, ``--head`` when the command
    takes one) and the batch options, for the CLI command of ``command``."""
    def decorate(function: F) -> F:
        with_batch = batch_options(out)(function)
        return model_options(command.task, head=command.head)(with_batch)

    return decorate


class _StdoutRecords:
    """Records on stdout as they come (``-f jsonl`` and ``csv``; the CSV header first)."""

    def __init__(self, fmt: Any) -> None:
        self.fmt = fmt
        self.layout: reports.Layout | None = None

    @property
    def reading(self) -> bool:
        return not STDOUT.closed

    def start(self, layout: reports.Layout) -> None:
        self.layout = layout
        if self.fmt == OutputFormat.CSV:
            write_stdout(layout.header())

    def record(self, rec: dict[str, Any]) -> None:
        if self.layout is not None and self.fmt in (OutputFormat.JSONL, OutputFormat.CSV):
            write_stdout(self.layout.render_line(rec, self.fmt))


def run_command(command: BatchCommand, paths: list[str], model: ModelSpec,
                settings: _Settings, batch: BatchArgs, outputs: Any = None, *,
                table: Callable[[list[dict[str, Any]]], None]) -> NoReturn:
    """Run ``command`` as the library does, stream and render its records, log how it
    went, and exit: 0 all ok, 1 some video failed, 3 an output could not be written
    (saved to a recovery file), 128 + N stopped by signal N (finished work written)."""
    fmt = stdout_format(batch.fmt, batch.out)
    summary = run_batch(command, paths, model, settings, batch.options(), outputs,
                        sink=_StdoutRecords(fmt))
    records, videos = summary.records, summary.videos
    if fmt == OutputFormat.JSON:
        write_stdout(summary.layout.render(records, "json", summary.meta))
    elif fmt == OutputFormat.TABLE:
        with STDOUT.guard():
            table(records)
    signum = summary.signum
    if signum is not None:
        log.error("interrupted (%s): %d of %d videos done; finished results were written",
                  signal.Signals(signum).name, len(records), len(videos))
    cut_short = STDOUT.closed and not summary.complete
    if signum is None and not cut_short and (len(videos) > 1 or summary.resumed):
        log.info("%s", summary.describe())
    raise typer.Exit(EXIT_OUTPUT if not summary.saved else 128 + signum if signum is not None
                     else EXIT_FAILED if summary.failed else EXIT_OK)
