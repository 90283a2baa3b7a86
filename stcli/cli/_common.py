"""What every ``stcli`` command shares: option definitions, logging, error mapping, output.

stdout carries results only; progress, per-video errors and summaries go to stderr
through the ``stcli`` logger. Exit codes: 0 all videos succeeded, 1 some video failed,
2 usage or setup error, 130 interrupted (results finished so far are still written).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from .. import presets, reports
from ..choices import Backend, Choice, Device, OutputFormat, Precision, SummaryFormat
from ..errors import StcliError, UsageError
from ..fileio import write_atomic
from ..inputs import expand_inputs
from ..presets import DEFAULT_PRESETS
from ..settings import ModelSpec
from ._checks import check_folder
from ._progress import progress_bar

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
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
    "faster; torch on CUDA), torch or onnxruntime.")]
PrecisionOption = Annotated[str, choice_option(
    Precision, "--precision", help="fp32; fp16 or bf16 run the torch backend in half "
    "precision (meant for --device cuda).")]
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
    Path | None, typer.Option("--out", "-o", help="Write results to FILE (.csv, .json or "
                              ".jsonl).", dir_okay=False)
]
ReportDirOption = Annotated[
    Path | None, typer.Option("--report-dir", help="Also write one JSON report per video "
                              "into DIR.", file_okay=False)
]
SkipExistingOption = Annotated[
    bool, typer.Option("--skip-existing", help="With --report-dir: reuse the reports of "
                       "videos already done (resumes an interrupted batch).")
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


# -- errors and output -----------------------------------------------------------------------
def write_stdout(text: str) -> None:
    """Results on stdout, flushed (pipelines read them as they come)."""
    sys.stdout.write(text)
    sys.stdout.flush()


@contextlib.contextmanager
def domain_errors(quiet: bool = False) -> Iterator[None]:
    """Set up logging; map domain errors to one clean line and an exit code; tracebacks
    only with --debug."""
    setup_logging(quiet)
    try:
        yield
    except StcliError as exc:
        if state["debug"]:
            raise
        log.error("%s", exc)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        log.error("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one clear line
        if state["debug"]:
            raise
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
        write_atomic(out, csv_text if out.suffix.lower() == ".csv" else as_json)
    chosen = stdout_format(fmt, out, choices)
    if chosen == "json":
        write_stdout(as_json)
    elif chosen == "csv":
        write_stdout(csv_text or "")
    elif chosen == "table":
        show_table()


def batch_inputs(paths: list[str], fmt: str | None, out: Path | None) -> list[str]:
    """The videos a batch command will process, after checking its output options."""
    stdout_format(fmt, out)
    if out is not None:
        reports.format_from_path(out)
        check_folder(out, "--out", parent=True)
    videos = expand_inputs(paths)
    if not videos:
        raise UsageError("no videos found in the given paths")
    return videos


def progress(total: int, quiet: bool, desc: str, unit: str = "video",
             leave: bool = True) -> Any:
    """Progress on stderr, hidden when quiet or for a single item: a tqdm bar on a
    terminal, plain lines every few seconds otherwise (``_progress``)."""
    return progress_bar(total, quiet or total < 2, desc, unit, leave)


def run_batch(
    layout: reports.Layout, results: Iterable[Any], videos: list[str], *, fmt: str | None,
    out: Path | None, report_dir: Path | None, quiet: bool, desc: str,
    table: Any, done: dict[str, dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> NoReturn:
    """Consume a task's results, stream and write every output, exit with the right code.

    ``done`` holds records of videos finished by an earlier run (``--skip-existing``);
    they are reported as they were and not computed again. On Ctrl-C what is finished is
    still written, then the exit code is 130.
    """
    stdout_fmt = stdout_format(fmt, out)
    file_fmt = reports.format_from_path(out) if out else None
    names = reports.report_names(videos) if report_dir else {}
    done = done or {}
    records: dict[str, dict[str, Any]] = dict(done)
    interrupted = False
    if stdout_fmt == OutputFormat.CSV:
        write_stdout(layout.header())
    bar = progress(len(videos), quiet, desc)
    bar.update(len(done))

    def emit(rec: dict[str, Any]) -> None:
        if stdout_fmt in (OutputFormat.JSONL, OutputFormat.CSV):
            write_stdout(layout.render_line(rec, stdout_fmt))

    try:
        for rec in done.values():
            emit(rec)
        for result in results:
            rec = layout.record(result)
            records[rec["video"]] = rec
            if report_dir:
                reports.write_report(report_dir, names[rec["video"]], rec)
            if rec["status"] != "ok":
                log.error("%s: %s", rec["video"], rec["error"])
            emit(rec)
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    ordered = [records[v] for v in videos if v in records]
    if out:
        write_atomic(out, layout.render(ordered, file_fmt, meta))
    if stdout_fmt == OutputFormat.JSON:
        write_stdout(layout.render(ordered, "json", meta))
    elif stdout_fmt == OutputFormat.TABLE:
        table(ordered)
    failed = sum(r["status"] != "ok" for r in ordered)
    if interrupted:
        log.error("interrupted: %d of %d videos done; finished results were written",
                  len(ordered), len(videos))
        raise typer.Exit(EXIT_INTERRUPTED)
    if len(videos) > 1:
        log.info("%d videos: %d ok, %d failed", len(ordered), len(ordered) - failed, failed)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def resume(
    report_dir: Path | None, skip_existing: bool, videos: list[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``--skip-existing``: the records already in ``report_dir`` and the videos still to do."""
    if skip_existing and report_dir is None:
        raise UsageError("--skip-existing needs --report-dir (where finished videos are)")
    done = load_reports(report_dir, videos) if skip_existing and report_dir else {}
    return done, [v for v in videos if v not in done]


def load_reports(report_dir: Path, videos: list[str]) -> dict[str, dict[str, Any]]:
    """Records of videos whose successful report is already in ``report_dir``."""
    found = {}
    for video, name in reports.report_names(videos).items():
        path = report_dir / name
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # absent or half-written by a crash: compute it again
        if rec.get("video") == video and rec.get("status") == "ok":
            found[video] = rec
    return found


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
    Console(file=sys.stdout).print(table)
