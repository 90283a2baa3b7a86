"""One batch run, whatever the command: plan the inputs, load the model, reuse what an
earlier run finished, run the videos (here or on Ray), write each result as it comes and
every output at the end, and say how it went.

A run never loses finished work: Ctrl-C, SIGTERM or SIGHUP (``KeyboardInterrupt``) ends
the loop, and what is finished is still written; an ``out`` that cannot be written is
saved to a recovery file; a video whose own files cannot be written becomes that video's
error and the batch goes on.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import reports
from ..progress import VideoProgress, progress_bar
from ..settings import ModelSpec
from .plan import Batch, BatchOptions, plan_batch, resume_plan
from .writes import write_out, write_report, write_sidecar

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..settings import _Settings
    from .commands import BatchCommand
    from .resume import ResumePlan

log = logging.getLogger("stcli.batch")


class RecordSink(Protocol):
    """Where records go as they come (the CLI's stdout): ``start`` once the model is
    loaded, ``record`` per video; ``reading`` False once nobody reads any more (a closed
    pipe), which ends a run that writes no file."""

    reading: bool

    def start(self, layout: reports.Layout) -> None: ...

    def record(self, rec: dict[str, Any]) -> None: ...


@dataclass
class Run:
    """One run as the command's hooks see it (``BatchCommand``): what was asked, and,
    as they become known, the planned batch, the loaded model and the video job's extra
    options (detect's person source)."""

    command: BatchCommand
    spec: ModelSpec
    settings: _Settings
    options: BatchOptions
    outputs: Any
    batch: Batch = field(init=False)
    model: LoadedModel = field(init=False)
    meta: dict[str, Any] | None = None
    job: dict[str, Any] = field(default_factory=dict)  # the video job's extra options
    state: dict[str, Any] = field(default_factory=dict)  # what a hook keeps for a later one


@dataclass
class BatchSummary:
    """How a batch run went: every record in input order (reused and computed), whether
    every output was written (``saved``), and the signal that stopped it, if one did."""

    command: str
    videos: list[str]  # this process's videos (one shard's with ``shard``)
    records: list[dict[str, Any]]
    layout: reports.Layout
    meta: dict[str, Any] | None
    plan: ResumePlan
    report_dir: Path | None
    saved: bool = True
    signum: int | None = None

    @property
    def failed(self) -> int:
        """How many videos have an error record."""
        return sum(rec["status"] != "ok" for rec in self.records)

    @property
    def complete(self) -> bool:
        """Every video has a record."""
        return len(self.records) == len(self.videos)

    @property
    def resumed(self) -> bool:
        """Earlier reports were looked at (``skip_existing`` with a ``report_dir``)."""
        return self.plan.looked and self.report_dir is not None

    def describe(self) -> str:
        """The summary line: videos, ok, failed, and what was reused."""
        resumed = f"; {self.plan.describe(self.report_dir)}" if self.resumed else ""
        return (f"{len(self.records)} videos: {len(self.records) - self.failed} ok, "
                f"{self.failed} failed{resumed}")


def run_batch(command: BatchCommand | str, paths: list[str], model: ModelSpec | None = None,
              settings: _Settings | None = None, options: BatchOptions | None = None,
              outputs: Any = None, *, sink: RecordSink | None = None) -> BatchSummary:
    """Run ``command`` (a ``BatchCommand`` or its name) on ``paths`` (videos, folders,
    globs, URLs, ``-`` for stdin) with ``model``, the command's ``settings`` and the
    run's ``options``; ``outputs`` are the command's own output options (``--plot``,
    ``--render``, the features folder: its ``BatchCommand.outputs`` class). The same call
    the CLI makes: usage errors before the model loads, then the summary."""
    from .commands import COMMANDS

    command = COMMANDS[command] if isinstance(command, str) else command
    if outputs is None and command.outputs is not None:
        outputs = command.outputs()
    run = Run(command, model or ModelSpec(), settings or command.settings(),
              options or BatchOptions(), outputs)
    if command.check is not None:
        command.check(run)
    folders = outputs.folders() if hasattr(outputs, "folders") else {}
    run.batch = plan_batch(paths, run.options, folders=folders,
                           parts_folder=getattr(outputs, "parts_folder", None))
    if command.prepare is not None:
        command.prepare(run)
    run.model = command.load(run.spec, progress=run.options.progress)
    writer, plan = resume_plan(command.name, run.model, run.settings, run.batch, run.options)
    layout = command.layout(run.settings.to_dict())
    meta = run.meta = command.meta(run) if command.meta is not None else None
    shown = VideoProgress(not run.options.progress, command.name, command.unit)

    def results() -> Any:
        from ..executors import run_videos_with  # ray, when asked: only then

        for result in shown.follow(run_videos_with(run.options.executor, run.model, run.spec,
                                                   run.settings, plan.todo, on_progress=shown,
                                                   **run.job)):
            yield command.finish(run, result) if command.finish is not None else result

    batch, out = run.batch, run.batch.out
    records: dict[str, dict[str, Any]] = dict(plan.done)
    signum = None
    if sink is not None:
        sink.start(layout)
    bar = progress_bar(len(batch.videos), not run.options.progress or len(batch.videos) < 2,
                       command.name, "video", True)
    bar.update(len(plan.done))
    iterator = iter(results())
    try:
        for rec in plan.done.values():
            if sink is not None:
                sink.record(rec)
        for result in iterator:
            rec = layout.record(result)
            if writer is not None:
                rec = write_report(writer, rec)
            records[rec["video"]] = rec
            if rec["status"] != "ok":
                log.error("%s: %s", rec["video"], rec["error"])
            if sink is not None:
                sink.record(rec)
            bar.update(1)
            if sink is not None and not sink.reading and out is None and writer is None:
                break  # nobody reads the results any more, and no file wants them
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)  # Ctrl-C, or a stop signal
    finally:
        bar.close()
        iterator.close()  # stop the decoders of a stopped run
    ordered = [records[v] for v in batch.videos if v in records]
    saved = write_out(out, layout, ordered, meta, writer) if out else True
    if saved and batch.part is not None and batch.sidecar is not None:
        saved = write_sidecar(batch, ordered, meta)
    return BatchSummary(command.name, batch.videos, ordered, layout, meta, plan,
                        writer.folder if writer else None, saved, signum)
