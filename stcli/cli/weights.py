"""``stcli weights``: list, locate, download and import checkpoint files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from ..choices import SummaryFormat
from ..presets import available_presets, load_preset
from ..weights import cache_dir, download_weights, find_weights, import_weights, status
from ._common import (
    EXIT_FAILED,
    QuietOption,
    Styled,
    SummaryFormatOption,
    domain_errors,
    emit_summary,
    log,
    preset_names,
    print_table,
    stdout_format,
    write_stdout,
)

weights_app = typer.Typer(
    rich_markup_mode=None, help="List, locate, download and import checkpoint files.",
                          no_args_is_help=True)
PresetArgument = Annotated[str, typer.Argument(help="Preset name.",
                                               autocompletion=preset_names)]


@weights_app.command("list")
def weights_list(fmt: SummaryFormatOption = None) -> None:
    """Show every preset, its checkpoint file and where (if anywhere) it is stored."""

    with domain_errors():
        stdout_format(fmt, choices=SummaryFormat)  # a bad --format fails before any work
        rows = [status(load_preset(name)) for name in available_presets()]
        emit_summary([dataclasses.asdict(r) for r in rows], lambda: print_table(
            ("preset", "file", "stored at", "url"),
            [(r.preset, r.file, r.path or Styled("not downloaded", "yellow"), r.url)
             for r in rows]), fmt)


@weights_app.command("path")
def weights_path(preset: PresetArgument) -> None:
    """Print the path of a preset's checkpoint (exit 1 if it is not stored yet)."""

    with domain_errors():
        spec = load_preset(preset)
        found = find_weights(spec)
        if found is None:
            write_stdout(f"{cache_dir() / spec.weights_file}\n")
            log.error("%s: not stored yet; 'stcli weights download %s' puts it here", preset,
                      preset)
            raise typer.Exit(EXIT_FAILED)
        write_stdout(f"{found}\n")


@weights_app.command("download")
def weights_download(
    preset: PresetArgument,
    force: Annotated[bool, typer.Option("--force", help="Download again even if cached.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Download a preset's checkpoint into the cache, verify it and record its sha256."""

    with domain_errors(quiet):
        write_stdout(f"{download_weights(load_preset(preset), progress=not quiet, force=force)}\n")


@weights_app.command("import")
def weights_import(
    preset: PresetArgument,
    file: Annotated[Path, typer.Argument(help="Checkpoint file to copy into the cache.",
                                         dir_okay=False)],
) -> None:
    """Check a checkpoint you obtained yourself against a preset and copy it into the cache."""

    with domain_errors():
        write_stdout(f"{import_weights(load_preset(preset), file)}\n")
