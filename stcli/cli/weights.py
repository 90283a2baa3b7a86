"""``stcli weights``: list, locate, download and import checkpoint files; list and prune
the cached ONNX exports made from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from ..choices import SummaryFormat
from ..presets import available_presets, load_preset
from ..weights import (
    cache_dir,
    cached_exports,
    download_weights,
    find_weights,
    import_weights,
    prune_exports,
    status,
)
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
    rich_markup_mode=None, no_args_is_help=True,
    help="List, locate, download and import checkpoint files; prune the ONNX exports made "
    "from them.")
PresetArgument = Annotated[str, typer.Argument(help="Preset name.",
                                               autocompletion=preset_names)]


@weights_app.command("list")
def weights_list(fmt: SummaryFormatOption = None) -> None:
    """Show every preset, its checkpoint file and where (if anywhere) it is stored, and the
    cached ONNX exports (JSON: each preset's under "exports")."""

    with domain_errors():
        stdout_format(fmt, choices=SummaryFormat)  # a bad --format fails before any work
        exports = cached_exports()
        rows = [status(load_preset(name), exports) for name in available_presets()]

        def tables() -> None:
            print_table(("preset", "file", "stored at", "url"),
                        [(r.preset, r.file, r.path or Styled("not downloaded", "yellow"), r.url)
                         for r in rows])
            if exports:
                print_table(("ONNX export", "size", "made from"), [
                    (e.path, _size(e.size), e.checkpoint or Styled(
                        f"checkpoint {e.weights_sha256_prefix}... is gone: 'stcli weights "
                        "prune' removes it", "yellow")) for e in exports])

        emit_summary([dataclasses.asdict(r) for r in rows], tables, fmt)


@weights_app.command("prune")
def weights_prune(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show what would be removed.")] = False,
    fmt: SummaryFormatOption = None,
) -> None:
    """Remove the cached ONNX exports whose checkpoint is no longer in the cache or
    $STCLI_WEIGHTS (exports of --checkpoint files elsewhere included: they are made again
    when next used)."""

    with domain_errors():
        stdout_format(fmt, choices=SummaryFormat)
        removed = prune_exports(dry_run=dry_run)
        emit_summary([dataclasses.asdict(e) for e in removed], lambda: print_table(
            ("would remove" if dry_run else "removed", "size", "checkpoint sha256"),
            [(e.path, _size(e.size), f"{e.weights_sha256_prefix}...") for e in removed]), fmt)
        total = _size(sum(e.size for e in removed))
        log.info("%s %d stale ONNX export%s (%s)", "would remove" if dry_run else "removed",
                 len(removed), "" if len(removed) == 1 else "s", total)


def _size(size: int) -> str:
    """Bytes as people read them: ``118.2 MB``."""
    return f"{size / 1e6:.1f} MB"


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
