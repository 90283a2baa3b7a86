"""What every ``stcli`` command shares: option definitions (the model options), logging,
error mapping, stdout and tables; the batch commands' own shared part is ``_batch``.

stdout carries results only; progress, per-video errors and summaries go to stderr
through the ``stcli`` logger. Exit codes: 0 all videos succeeded, 1 some video failed,
2 usage or setup error, 3 the results could not be written to ``--out`` (they were saved
to a recovery file), 128 + N ended by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; the
results finished so far are still written).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .. import presets
from ..choices import Backend, Choice, Device, OutputFormat, Precision, SummaryFormat
from ..errors import OutputError, StcliError
from ..fileio import write_atomic
from ..presets import DEFAULT_PRESETS
from ..progress import progress_bar
from ..settings import ModelSpec

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
def replace_parameter(name: str, added: list[tuple[str, Any, Any]],
                      build: Callable[[dict[str, Any]], Any]) -> Callable[[F], F]:
    """A decorator giving a command the options ``added`` (``(name, annotation,
    default)``, declared once) in place of its parameter ``name``, which then receives
    ``build`` of their values: one object instead of a copy of each option per command."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        params = list(signature.parameters.values())
        at = [p.name for p in params].index(name)
        new = [inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY,
                                 annotation=annotation, default=default)
               for option, annotation, default in added]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        params[at : at + 1] = new

        @functools.wraps(command)
        def wrapper(**options: Any) -> Any:
            fields = {option: options.pop(option) for option, _, _ in added}
            return command(**options, **{name: build(fields)})

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # Typer must read the signature above, not the command's
        return wrapper  # type: ignore[return-value]

    return decorate


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

    def build(fields: dict[str, Any]) -> ModelSpec:
        with domain_errors():
            return ModelSpec(**fields)  # a bad --device fails before anything else

    return replace_parameter("model", added, build)


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


def progress(total: int, quiet: bool, desc: str, unit: str = "video",
             leave: bool = True) -> Any:
    """Progress on stderr, hidden when quiet or for a single item: a tqdm bar on a
    terminal, plain lines every few seconds otherwise (``_progress``)."""
    return progress_bar(total, quiet or total < 2, desc, unit, leave)


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
