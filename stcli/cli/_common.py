"""What every ``stcli`` command shares: option definitions, error mapping, output.

stdout carries results only; progress, per-video errors and summaries go to stderr.
Exit codes: 0 all videos succeeded, 1 some video failed, 2 usage or setup error,
130 interrupted (results finished so far are still written).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ..errors import StcliError, UsageError

if TYPE_CHECKING:
    from ..reports import Layout

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
state = {"debug": False}

# -- options shared by every command that runs a model (one definition, used everywhere) --
PresetOption = Annotated[
    str, typer.Option("--preset", "-p", help="Model preset (see 'stcli weights list').",
                      show_default=True)
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Checkpoint file to use instead of the preset's "
                  "cached or downloaded weights (.pth, .pt or .safetensors), or an .onnx "
                  "file made by 'stcli export'.", dir_okay=False),
]
DeviceOption = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")
]
BackendOption = Annotated[
    str, typer.Option("--backend", help="auto (onnxruntime on the CPU when installed: same "
                      "numbers, faster; torch on CUDA), torch or onnxruntime.")
]
PrecisionOption = Annotated[
    str, typer.Option("--precision", help="fp32; fp16 or bf16 run the torch backend in half "
                      "precision (meant for --device cuda).")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
# -- options shared by every command that writes per-video results --
FormatOption = Annotated[
    str | None, typer.Option(
        "--format", "-f", help="table, json, jsonl or csv. Default: table on a terminal, "
        "json otherwise; with --out only the file is written unless --format is given.",
        show_default=False)
]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write results to FILE (.csv, .json or "
                              ".jsonl).", dir_okay=False)
]
ReportDirOption = Annotated[
    Path | None, typer.Option("--report-dir", help="Also write one JSON report per video "
                              "into DIR.", file_okay=False)
]
HeadOption = Annotated[
    Path | None, typer.Option("--head", help="A NAME.head folder from 'stcli train-head': "
                              "your classes instead of the preset's.", file_okay=False,
                              exists=True)
]
SkipExistingOption = Annotated[
    bool, typer.Option("--skip-existing", help="With --report-dir: reuse the reports of "
                       "videos already done (resumes an interrupted batch).")
]


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(message, err=True)


def write_stdout(text: str) -> None:
    """Results on stdout, flushed (pipelines read them as they come)."""
    sys.stdout.write(text)
    sys.stdout.flush()


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Map domain errors to one clean line and an exit code; tracebacks only with --debug."""
    try:
        yield
    except StcliError as exc:
        if state["debug"]:
            raise
        err(f"stcli: error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        err("stcli: interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one clear line
        if state["debug"]:
            raise
        err(f"stcli: internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(EXIT_SETUP) from None


def stdout_format(fmt: str | None, out: Path | None) -> str | None:
    """What goes to stdout: the given format; nothing when only --out is given; else a
    table on a terminal and JSON in a pipe."""
    from ..reports import FORMATS

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt is None and out is not None:
        return None
    if fmt is None:
        return "table" if sys.stdout.isatty() else "json"
    return fmt


def check_outputs(fmt: str | None, out: Path | None) -> None:
    """Reject a bad --format or --out before any work is done."""
    from ..reports import format_from_path

    stdout_format(fmt, out)
    if out is not None:
        format_from_path(out)


def batch_inputs(paths: list[str], fmt: str | None, out: Path | None) -> list[str]:
    """The videos a batch command will process, after checking its output options."""
    from ..inputs import expand_inputs

    check_outputs(fmt, out)
    videos = expand_inputs(paths)
    if not videos:
        raise UsageError("no videos found in the given paths")
    return videos


def progress(total: int, quiet: bool, desc: str) -> Any:
    """A progress bar on stderr for batches; its ``write`` still reports errors when hidden."""
    from tqdm import tqdm

    return tqdm(total=total, unit="video", file=sys.stderr, desc=desc, dynamic_ncols=True,
                disable=quiet or total < 2)


def run_batch(
    layout: Layout, results: Iterable[Any], videos: list[str], *, fmt: str | None,
    out: Path | None, report_dir: Path | None, quiet: bool, desc: str,
    table: Any, done: dict[str, dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> NoReturn:
    """Consume a task's results, stream and write every output, exit with the right code.

    ``done`` holds records of videos finished by an earlier run (``--skip-existing``);
    they are reported as they were and not computed again. On Ctrl-C what is finished is
    still written, then the exit code is 130.
    """
    from .. import reports

    stdout_fmt = stdout_format(fmt, out)
    file_fmt = reports.format_from_path(out) if out else None
    names = reports.report_names(videos) if report_dir else {}
    done = done or {}
    records: dict[str, dict[str, Any]] = dict(done)
    interrupted = False
    if stdout_fmt == "csv":
        write_stdout(layout.header())
    bar = progress(len(videos), quiet, desc)
    bar.update(len(done))

    def emit(rec: dict[str, Any]) -> None:
        if stdout_fmt in ("jsonl", "csv"):
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
                bar.write(f"stcli: error: {rec['video']}: {rec['error']}", file=sys.stderr)
            emit(rec)
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    ordered = [records[v] for v in videos if v in records]
    if out:
        reports.write_atomic(out, layout.render(ordered, file_fmt, meta))
    if stdout_fmt == "json":
        write_stdout(layout.render(ordered, "json", meta))
    elif stdout_fmt == "table":
        table(ordered)
    failed = sum(r["status"] != "ok" for r in ordered)
    if interrupted:
        err(f"stcli: interrupted: {len(ordered)} of {len(videos)} videos done; "
            "finished results were written")
        raise typer.Exit(EXIT_INTERRUPTED)
    if not quiet and len(videos) > 1:
        err(f"stcli: {len(ordered)} videos: {len(ordered) - failed} ok, {failed} failed")
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
    from .. import reports

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


def print_table(columns: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """A rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(file=sys.stdout).print(table)
