"""What every ``stcli`` command shares: option definitions, logging, error mapping, output.

stdout carries results only; progress, per-video errors and summaries go to stderr
through the ``stcli`` logger. Exit codes: 0 all videos succeeded, 1 some video failed,
2 usage or setup error, 3 the results could not be written to ``--out`` (they were saved
to a recovery file), 128 + N ended by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; the
results finished so far are still written).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import io
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from .. import presets, reports
from ..choices import Backend, Choice, Device, OutputFormat, Precision, SummaryFormat
from ..errors import OutputError, StcliError, UsageError
from ..fileio import write_atomic
from ..inputs import expand_inputs, input_keys
from ..presets import DEFAULT_PRESETS
from ..progress import progress_bar
from ..settings import ModelSpec
from ..shards import Batch
from ._checks import check_outputs

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..resume import Resume, ResumePlan
    from ..settings import _Settings

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# Signals that end a run the way Ctrl-C does: finished results are written, then the
# exit code is 128 + the signal's number, as a shell reports a process the signal killed.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
state = {"debug": False}
log = logging.getLogger("stcli.cli")
F = TypeVar("F", bound=Callable[..., Any])


# -- logging ---------------------------------------------------------------------------------
class _StderrLines(logging.Handler):
    """``stcli: [warning: |error: ]message`` lines on the current ``sys.stderr``, written
    around any progress bar rather than through it."""

    _PREFIX = {logging.WARNING: "warning: ", logging.ERROR: "error: ",
               logging.CRITICAL: "error: "}

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm  # only when there is something to say: keeps --help fast

        try:
            text = f"stcli: {self._PREFIX.get(record.levelno, '')}{record.getMessage()}"
            tqdm.write(text, file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never take the command down
            self.handleError(record)


def setup_logging(quiet: bool = False) -> None:
    """Route the ``stcli`` logger to stderr: info and up, warnings and errors only when
    ``quiet``, everything with ``--debug``."""
    logger = logging.getLogger("stcli")
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines())
    logger.propagate = False  # the application's own root handlers must not repeat lines
    logger.setLevel(logging.DEBUG if state["debug"] else
                    logging.WARNING if quiet else logging.INFO)


# -- options -------------------------------------------------------------------------------
def choice_option(choice: type[Choice], *flags: str, help: str) -> Any:  # noqa: A002
    """An option taking one of ``choice``'s values: they show in the help and complete in
    the shell. The value arrives as typed and is parsed by the library
    (``Choice.parse``), so that a wrong one gets the same one-line error there as here."""
    values = choice.values()
    return typer.Option(*flags, help=help, metavar=f"[{'|'.join(values)}]",
                        autocompletion=choice.values)


def preset_names() -> list[str]:
    """The presets, for shell completion (looked up when asked: presets are data)."""
    return presets.available_presets()


PresetOption = Annotated[str, typer.Option(
    "--preset", "-p", help="Model preset (see 'stcli weights list').",
    autocompletion=preset_names)]
PathsArgument = Annotated[list[str], typer.Argument(
    help="Videos, folders (searched recursively), globs, or '-' to read paths from stdin.",
    show_default=False)]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Checkpoint file to use instead of the preset's "
                  "cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx "
                  "file made by 'stcli export'.", dir_okay=False),
]
HeadOption = Annotated[
    Path | None, typer.Option("--head", help="A NAME.head folder from 'stcli train-head': "
                              "your classes instead of the preset's.", file_okay=False,
                              exists=True)
]
DeviceOption = Annotated[str, choice_option(
    Device, "--device", help="auto (CUDA when present), cpu or cuda.")]
BackendOption = Annotated[str, choice_option(
    Backend, "--backend", help="auto (onnxruntime on the CPU when installed: same numbers, "
    "faster; OpenVINO for bf16 on the CPU; torch on CUDA), torch, onnxruntime or openvino.")]
PrecisionOption = Annotated[str, choice_option(
    Precision, "--precision", help="fp32 (exact); bf16: ~2x faster on a CPU with bf16 "
    "arithmetic (OpenVINO, pip install 'stcli[openvino]'), close to fp32, not equal; fp16 "
    "or bf16 on CUDA (torch).")]
BatchSizeOption = Annotated[int, typer.Option(
    "--batch-size", min=1, help="Clips per network call (views, windows, snippets or "
    "keyframe clips).")]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bar or summary (warnings and errors still show).")]
# One rule for -f everywhere: the given format; with --out and no -f, nothing on stdout;
# otherwise a table on a terminal and JSON in a pipe.
FORMAT_RULE = ("Default: table on a terminal, json otherwise; with --out only the file is "
                "written unless --format is given.")
FormatOption = Annotated[str | None, choice_option(
    OutputFormat, "--format", "-f", help=f"table, json, jsonl or csv. {FORMAT_RULE}")]
SummaryFormatOption = Annotated[str | None, choice_option(
    SummaryFormat, "--format", "-f", help=f"table or json. {FORMAT_RULE}")]
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


def model_options(task: str, head: bool = True) -> Callable[[F], F]:
    """Give a command the model options (--preset, --checkpoint, [--head,] --device,
    --backend, --precision, --batch-size), defined here once, in place of its ``model``
    parameter, which then receives them as one :class:`~stcli.settings.ModelSpec`."""
    spec = ModelSpec()
    added = [("preset", PresetOption, DEFAULT_PRESETS[task]),
             ("checkpoint", CheckpointOption, None),
             *([("head", HeadOption, None)] if head else []),
             ("device", DeviceOption, spec.device.value),
             ("backend", BackendOption, spec.backend.value),
             ("precision", PrecisionOption, spec.precision.value),
             ("batch_size", BatchSizeOption, spec.batch_size)]

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        params = list(signature.parameters.values())
        at = [p.name for p in params].index("model")
        new = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                 default=default) for name, annotation, default in added]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        params[at : at + 1] = new

        @functools.wraps(command)
        def wrapper(**options: Any) -> Any:
            fields = {name: options.pop(name) for name, _, _ in added}
            with domain_errors():
                model = ModelSpec(**fields)  # a bad --device fails before anything else
            return command(**options, model=model)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # Typer must read the signature above, not the command's
        return wrapper  # type: ignore[return-value]

    return decorate


# -- errors, signals and stdout --------------------------------------------------------------
class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) turned into what Ctrl-C raises, so that every
    command ends the same way whichever of them stopped it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


def catchable(signals: Iterable[int]) -> list[int]:
    """Those of ``signals`` this process did not start with ignored. An ignored signal
    stays ignored: ``nohup stcli ...`` must outlive its terminal (SIGHUP), and a job that a
    script started in the background (``stcli ... &``) is not stopped by the Ctrl-C meant
    for the script (SIGINT; Python itself leaves it ignored then)."""
    return [sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN]


def stopped_by(exc: KeyboardInterrupt) -> int:
    """The signal behind an interruption (SIGINT for Ctrl-C)."""
    return getattr(exc, "signum", signal.SIGINT)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Interrupted`` for the duration, unless ignored
    (``catchable``; main thread only: Python delivers signals there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in catchable(STOP_SIGNALS)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stdout:
    """stdout for results. When the reader goes away (``| head -1``), further output is
    dropped quietly instead of raising ``BrokenPipeError``; ``closed`` tells a batch so."""

    closed = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run a block that writes to stdout; a closed pipe ends it quietly (and once
        closed, what the block writes goes to /dev/null)."""
        try:
            yield
            sys.stdout.flush()
        except BrokenPipeError:
            self.closed = True
            # Point fd 1 at /dev/null: Python's final flush of the buffered text must not
            # fail again (and print "Exception ignored") on the way out.
            with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)

    def write(self, text: str) -> None:
        """Results on stdout, flushed (pipelines read them as they come)."""
        with self.guard():
            sys.stdout.write(text)


STDOUT = _Stdout()
write_stdout = STDOUT.write


@contextlib.contextmanager
def domain_errors(quiet: bool = False) -> Iterator[None]:
    """Set up logging; map domain errors to one clean line and an exit code; tracebacks
    only with --debug. SIGTERM and SIGHUP end a command as Ctrl-C does."""
    setup_logging(quiet)
    try:
        with _stop_signals():
            yield
    except StcliError as exc:
        if state["debug"]:
            raise
        log.error("%s", exc)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt as exc:
        signum = stopped_by(exc)
        log.error("interrupted (%s)", signal.Signals(signum).name)
        raise typer.Exit(128 + signum) from None
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one clear line
        if state["debug"]:
            raise
        if isinstance(exc, OSError) and exc.filename:
            # A file the system refused (gone, not allowed, disk full): the user can act.
            log.error("%s: %s", exc.filename, exc.strerror or exc)
        else:
            log.error("internal error: %s: %s (run with --debug for details)",
                      type(exc).__name__, exc)
        raise typer.Exit(EXIT_SETUP) from None


def stdout_format(fmt: str | None, out: Path | None = None,
                  choices: type[Choice] = OutputFormat) -> Choice | None:
    """What goes to stdout: the given format; nothing when only --out is given; else a
    table on a terminal and JSON in a pipe."""
    if fmt is not None:
        return choices.parse(fmt)
    if out is not None:
        return None
    return choices.parse("table" if sys.stdout.isatty() else "json")


def emit_summary(data: Any, show_table: Callable[[], None], fmt: str | None, *,
                 out: Path | None = None, csv_text: str | None = None,
                 choices: type[Choice] = SummaryFormat) -> None:
    """A command's one summary record: ``out`` written (JSON, or CSV by its suffix,
    atomically), then stdout by the one ``-f`` rule (``stdout_format``)."""
    as_json = json.dumps(data, indent=2) + "\n"
    if out is not None:
        try:
            write_atomic(out, csv_text if out.suffix.lower() == ".csv" else as_json)
        except OSError as exc:
            raise OutputError(f"--out: cannot write {exc.filename or out} "
                              f"({exc.strerror or exc})") from None
    chosen = stdout_format(fmt, out, choices)
    if chosen == "json":
        write_stdout(as_json)
    elif chosen == "csv":
        write_stdout(csv_text or "")
    elif chosen == "table":
        with STDOUT.guard():
            show_table()


def write_failed(result: Any, flag: str, exc: OSError) -> Any:
    """``result`` turned into its video's error after writing one of its files failed:
    the batch goes on, the error names the file."""
    return dataclasses.replace(
        result, status="error", error=f"{flag}: cannot write {exc.filename or ''} "
        f"({exc.strerror or exc})".replace("  ", " "))


def batch_inputs(paths: list[str], fmt: str | None, out: Path | None, *,
                 report_dir: Path | None = None, skip_existing: bool = False,
                 folders: dict[str, Path | None] | None = None, shard: str | None = None,
                 shards: int | None = None, parts_folder: Path | None = None) -> Batch:
    """The videos a batch command will process (with ``--shard``, its shard's), after
    checking every output option (formats, ``--skip-existing``, shards, folders writable,
    no input overwritten): all before the model loads. A sharded run's merge data goes
    beside its ``--out`` part, else into ``parts_folder`` (``features``' folder)."""
    from ..shards import SIDECAR_SUFFIX, Part, parse_shard, part_path, sidecar_path

    stdout_format(fmt, out)
    if out is not None:
        reports.format_from_path(out)
    if skip_existing and report_dir is None:
        raise UsageError("--skip-existing needs --report-dir (where finished videos are)")
    if shards is not None and shard is None:
        raise UsageError("--shards goes with --shard auto")
    part = None if shard is None else Part(parse_shard(shard, shards), input_keys(paths))
    inputs = list(part.inputs) if part else expand_inputs(paths)
    if not inputs:
        raise UsageError("no videos found in the given paths")
    batch = Batch(part.videos if part else inputs, inputs, out, part)
    if part is not None:
        if out is not None:
            batch.out = part_path(out, part.shard)
            batch.sidecar = sidecar_path(batch.out)
        elif parts_folder is not None:
            batch.sidecar = parts_folder / f"{part.shard.name}{SIDECAR_SUFFIX}"
    check_outputs(inputs, batch.out, {"--report-dir": report_dir, **(folders or {})})
    return batch


def resume_plan(command: str, model: LoadedModel, settings: _Settings, batch: Batch,
                report_dir: Path | None, skip_existing: bool
                ) -> tuple[Resume | None, ResumePlan]:
    """The fingerprinted report writer of a run (``--report-dir``) and, with
    ``--skip-existing``, the reports it reuses (``stcli.resume``). Records the run's
    fingerprint in ``batch``: a shard's sidecar carries it, for merge to compare."""
    from ..resume import ResumePlan, plan_for, run_fingerprint

    batch.command = command
    batch.run = run_fingerprint(command, model, settings)
    if report_dir is None:
        return None, ResumePlan({}, list(batch.videos), [])
    return plan_for(report_dir, batch.run, batch.videos, skip_existing, named=batch.inputs)


def progress(total: int, quiet: bool, desc: str, unit: str = "video",
             leave: bool = True) -> Any:
    """Progress on stderr, hidden when quiet or for a single item: a tqdm bar on a
    terminal, plain lines every few seconds otherwise (``_progress``)."""
    return progress_bar(total, quiet or total < 2, desc, unit, leave)


# -- the batch loop ---------------------------------------------------------------------------
def run_batch(
    layout: reports.Layout, results: Iterable[Any], batch: Batch, *, fmt: str | None,
    quiet: bool, desc: str, table: Any,
    writer: Resume | None = None, plan: ResumePlan | None = None,
    meta: dict[str, Any] | None = None,
) -> NoReturn:
    """Consume a task's results, stream and write every output, exit with the right code.

    ``plan.done`` holds records reused from an earlier run (``--skip-existing``): they are
    reported as they were and not computed again. ``writer`` writes each new record as a
    fingerprinted per-video report; a video whose report cannot be written becomes an
    error record and the batch goes on. On Ctrl-C, SIGTERM or SIGHUP what is finished is
    still written; a closed stdout ends the run quietly unless files are being written.
    A shard writes its sidecar last, once its part is written (``_write_sidecar``).
    """
    videos, out = batch.videos, batch.out
    stdout_fmt = stdout_format(fmt, out)
    done = plan.done if plan else {}
    records: dict[str, dict[str, Any]] = dict(done)
    signum = None
    if stdout_fmt == OutputFormat.CSV:
        write_stdout(layout.header())
    bar = progress(len(videos), quiet, desc)
    bar.update(len(done))
    iterator = iter(results)

    def emit(rec: dict[str, Any]) -> None:
        if stdout_fmt in (OutputFormat.JSONL, OutputFormat.CSV):
            write_stdout(layout.render_line(rec, stdout_fmt))

    try:
        for rec in done.values():
            emit(rec)
        for result in iterator:
            rec = layout.record(result)
            if writer is not None:
                rec = _write_report(writer, rec)
            records[rec["video"]] = rec
            if rec["status"] != "ok":
                log.error("%s: %s", rec["video"], rec["error"])
            emit(rec)
            bar.update(1)
            if STDOUT.closed and out is None and writer is None:
                break  # nobody reads the results any more, and no file wants them
    except KeyboardInterrupt as exc:
        signum = stopped_by(exc)
    finally:
        bar.close()
        getattr(iterator, "close", lambda: None)()  # stop the decoders of a stopped run
    ordered = [records[v] for v in videos if v in records]
    saved = _write_out(out, layout, ordered, meta, writer) if out else True
    if saved and batch.part is not None and batch.sidecar is not None:
        saved = _write_sidecar(batch, ordered, meta)
    if stdout_fmt == OutputFormat.JSON:
        write_stdout(layout.render(ordered, "json", meta))
    elif stdout_fmt == OutputFormat.TABLE:
        with STDOUT.guard():
            table(ordered)
    failed = sum(r["status"] != "ok" for r in ordered)
    if signum is not None:
        log.error("interrupted (%s): %d of %d videos done; finished results were written",
                  signal.Signals(signum).name, len(ordered), len(videos))
    cut_short = STDOUT.closed and len(ordered) < len(videos)
    looked = plan is not None and writer is not None and plan.looked
    if signum is None and not cut_short and (len(videos) > 1 or looked):
        resumed = f"; {plan.describe(writer.folder)}" if looked else ""
        log.info("%d videos: %d ok, %d failed%s", len(ordered), len(ordered) - failed,
                 failed, resumed)
    raise typer.Exit(EXIT_OUTPUT if not saved else 128 + signum if signum is not None
                     else EXIT_FAILED if failed else EXIT_OK)


def _write_sidecar(batch: Batch, records: list[dict[str, Any]],
                   meta: dict[str, Any] | None) -> bool:
    """Write a shard's merge data; False (exit 3) when it cannot be: the part is written
    but merge would call the shard missing, so running it again is the fix."""
    assert batch.part is not None and batch.sidecar is not None and batch.run is not None
    try:
        batch.part.write_sidecar(batch.sidecar, batch.command, batch.run, records, meta)
    except OSError as exc:
        log.error("--shard: cannot write %s (%s); run shard %s again", exc.filename or
                  batch.sidecar, exc.strerror or exc, batch.part.shard)
        return False
    return True


def _write_report(writer: Resume, rec: dict[str, Any]) -> dict[str, Any]:
    """Write one per-video report; failing that, the record becomes the video's error."""
    try:
        writer.write(rec)
    except OSError as exc:
        return {**rec, "status": "error", "error": f"--report-dir: cannot write "
                f"{exc.filename} ({exc.strerror or exc})"}
    return rec


def _write_out(out: Path, layout: reports.Layout, records: list[dict[str, Any]],
               meta: dict[str, Any] | None, writer: Resume | None) -> bool:
    """Write ``--out``. When that fails (disk full, read-only, gone), save the same text
    to a recovery file (beside it, else in the report folder, the working folder or the
    temporary folder), say where, and return False: finished work is never lost."""
    text = layout.render(records, reports.format_from_path(out).value, meta)
    try:
        write_atomic(out, text)
        return True
    except OSError as exc:
        log.error("--out: cannot write %s (%s)", exc.filename or out, exc.strerror or exc)
    name = f"{out.stem}.recovered-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}{out.suffix}"
    places = [out.parent, writer.folder if writer else None, Path.cwd(),
              Path(tempfile.gettempdir())]
    for folder in dict.fromkeys(p for p in places if p is not None):
        try:
            write_atomic(folder / name, text)
        except OSError:
            continue
        log.error("the results of %d videos were saved to %s instead", len(records),
                  folder / name)
        return False
    log.error("the results could not be saved anywhere (%s)",
              ", ".join(str(p) for p in places if p is not None))
    return False


class Styled(str):
    """A table cell shown in a rich style (``Styled("error: ...", "red")``)."""

    style: str

    def __new__(cls, text: str, style: str) -> Styled:
        cell = super().__new__(cls, text)
        cell.style = style
        return cell


def print_table(columns: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """A rich table on stdout. Cells are plain text, never markup: file names and labels
    such as ``clip [final].mp4`` show as they are; ``Styled`` cells get their style."""
    from rich.console import Console  # not at import: keeps --help fast
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold")
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text(cell, style=getattr(cell, "style", "")) for cell in row))
    with STDOUT.guard():
        Console(file=sys.stdout).print(table)
