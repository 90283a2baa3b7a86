"""The ``stcli`` command line: parse options, call one library function, render results.

stdout carries results only; progress, per-video errors and summaries go to stderr.
Exit codes: 0 all videos succeeded, 1 some video failed, 2 usage or setup error,
130 interrupted (results finished so far are still written).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .errors import StcliError, UsageError
from .presets import available_presets, load_preset

app = typer.Typer(
    name="stcli",
    help="Video action recognition with SqueezeTime: classify videos from the shell.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
weights_app = typer.Typer(help="List, locate, download and import checkpoint files.",
                          no_args_is_help=True)
app.add_typer(weights_app, name="weights")

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130
_state = {"debug": False}

# -- options shared by every command that runs a model (one definition, used everywhere) --
PresetOption = Annotated[
    str, typer.Option("--preset", "-p", help="Model preset (see 'stcli weights list').",
                      show_default=True)
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", "-c", help="Checkpoint file to use instead of the preset's "
                  "cached or downloaded weights (.pth, .pt or .safetensors).", dir_okay=False),
]
DeviceOption = Annotated[
    str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


@contextlib.contextmanager
def _domain_errors() -> Iterator[None]:
    """Map domain errors to one clean line and an exit code; tracebacks only with --debug."""
    try:
        yield
    except StcliError as exc:
        if _state["debug"]:
            raise
        _err(f"stcli: error: {exc}")
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _err("stcli: interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one clear line
        if _state["debug"]:
            raise
        _err(f"stcli: internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(EXIT_SETUP) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(
        help="Videos, folders (searched recursively), globs, or '-' to read paths from stdin.",
        show_default=False)],
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    device: DeviceOption = "auto",
    views: Annotated[str | None, typer.Option(
        "--views", help="Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3). "
        "Default: the preset's official test protocol.")] = None,
    fast: Annotated[bool, typer.Option(
        "--fast", help="1 clip, short side 256, centre crop 224 (validation setting).")] = False,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per video.")] = 5,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table, json, jsonl or csv. Default: table on a terminal, "
        "json otherwise; with --out only the file is written unless --format is given.",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write results to FILE (.csv, .json or .jsonl).",
        dir_okay=False)] = None,
    report_dir: Annotated[Path | None, typer.Option(
        "--report-dir", help="Also write one JSON report per video into DIR.",
        file_okay=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Views per network call.")] = 8,
    quiet: QuietOption = False,
) -> None:
    """Classify videos: top-k action labels per video, by the official test protocol."""
    from . import reports
    from .inputs import expand_inputs

    with _domain_errors():
        stdout_fmt = _stdout_format(fmt, out)
        file_fmt = reports.format_from_path(out) if out else None
        videos = expand_inputs(paths)
        if not videos:
            raise UsageError("no videos found in the given paths")
        from .tasks.classify import choose_protocol, load_recognizer

        choose_protocol(load_preset(preset), views, fast)  # reject bad --views before loading
        recognizer = load_recognizer(preset, checkpoint, device, progress=not quiet,
                                     batch_size=batch_size)
        names = reports.report_names(videos) if report_dir else {}
        results, interrupted = [], False
        if stdout_fmt == "csv":
            _write_stdout(reports.csv_header())
        progress = _progress(len(videos), quiet)
        try:
            for result in recognizer.iter_classify(videos, views=views, fast=fast, top_k=top_k):
                results.append(result)
                if report_dir:
                    reports.write_report(report_dir, names[result.video], result)
                if result.status != "ok":
                    progress.write(f"stcli: error: {result.video}: {result.error}", file=sys.stderr)
                if stdout_fmt in ("jsonl", "csv"):
                    _write_stdout(reports.render_line(result, stdout_fmt))
                progress.update(1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.close()
        if out:
            reports.write_atomic(out, reports.render(results, file_fmt))
        if stdout_fmt == "json":
            _write_stdout(reports.render(results, "json"))
        elif stdout_fmt == "table":
            _print_table(results)
        failed = sum(r.status != "ok" for r in results)
        if interrupted:
            _err(f"stcli: interrupted: {len(results)} of {len(videos)} videos done; "
                 "finished results were written")
            raise typer.Exit(EXIT_INTERRUPTED)
        if not quiet and len(videos) > 1:
            _err(f"stcli: {len(results)} videos: {len(results) - failed} ok, {failed} failed")
        raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _stdout_format(fmt: str | None, out: Path | None) -> str | None:
    from .reports import FORMATS

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt is None and out is not None:
        return None  # results go to the file only
    if fmt is None:
        return "table" if sys.stdout.isatty() else "json"
    return fmt


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _progress(total: int, quiet: bool) -> Any:
    """A progress bar on stderr for batches; its ``write`` still reports errors when hidden."""
    from tqdm import tqdm

    return tqdm(total=total, unit="video", file=sys.stderr, desc="classify",
                dynamic_ncols=True, disable=quiet or total < 2)


def _print_table(results: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for column in ("video", "rank", "label", "score"):
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for result in results:
        if result.status != "ok":
            table.add_row(result.video, "", f"[red]error: {result.error}[/red]", "")
            continue
        for entry in result.topk:
            table.add_row(result.video if entry.rank == 1 else "", str(entry.rank),
                          entry.label, f"{entry.score:.4f}")
    Console(file=sys.stdout).print(table)


# -- weights ----------------------------------------------------------------------------
@weights_app.command("list")
def weights_list(
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Show every preset, its checkpoint file and where (if anywhere) it is stored."""
    import dataclasses
    import json

    from .weights import status

    with _domain_errors():
        rows = [status(load_preset(name)) for name in available_presets()]
        if fmt == "json":
            _write_stdout(json.dumps([dataclasses.asdict(r) for r in rows], indent=2) + "\n")
            return
        if fmt != "table":
            raise UsageError(f"--format '{fmt}': choose table or json")
        from rich.console import Console
        from rich.table import Table

        table = Table("preset", "file", "stored at", "url")
        for r in rows:
            table.add_row(r.preset, r.file, r.path or "[yellow]not downloaded[/yellow]", r.url)
        Console(file=sys.stdout).print(table)


@weights_app.command("path")
def weights_path(preset: Annotated[str, typer.Argument(help="Preset name.")]) -> None:
    """Print the path of a preset's checkpoint (exit 1 if it is not stored yet)."""
    from .weights import cache_dir, find_weights

    with _domain_errors():
        spec = load_preset(preset)
        found = find_weights(spec)
        if found is None:
            target = cache_dir() / spec.weights_file
            _write_stdout(f"{target}\n")
            _err(f"stcli: {preset}: not stored yet; 'stcli weights download {preset}' puts it here")
            raise typer.Exit(EXIT_FAILED)
        _write_stdout(f"{found}\n")


@weights_app.command("download")
def weights_download(
    preset: Annotated[str, typer.Argument(help="Preset name.")],
    force: Annotated[bool, typer.Option("--force", help="Download again even if cached.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Download a preset's checkpoint into the cache, verify it and record its sha256."""
    from .weights import download_weights

    with _domain_errors():
        path = download_weights(load_preset(preset), progress=not quiet, force=force)
        _write_stdout(f"{path}\n")


@weights_app.command("import")
def weights_import(
    preset: Annotated[str, typer.Argument(help="Preset name.")],
    file: Annotated[Path, typer.Argument(help="Checkpoint file to copy into the cache.",
                                         dir_okay=False)],
) -> None:
    """Check a checkpoint you obtained yourself against a preset and copy it into the cache."""
    from .weights import import_weights

    with _domain_errors():
        _write_stdout(f"{import_weights(load_preset(preset), file)}\n")


def main() -> None:
    """Console-script entry point."""
    app()
