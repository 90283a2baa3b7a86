"""``stcli features``: ``(T, 2048)`` snippet features per video, for localization frameworks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    BackendOption,
    CheckpointOption,
    DeviceOption,
    FormatOption,
    PrecisionOption,
    PresetOption,
    QuietOption,
    batch_inputs,
    domain_errors,
    print_table,
    run_batch,
)
from .classify import PathsArgument


def features(
    paths: PathsArgument,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder for <video>.npy (T, 2048) and <video>.json (snippet times, "
        "settings, checkpoint sha256).", file_okay=False)] = Path("features"),
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    device: DeviceOption = "auto",
    backend: BackendOption = "auto",
    precision: PrecisionOption = "fp32",
    stride: Annotated[int, typer.Option(
        "--stride", min=1, help="Frames between snippet starts (a snippet is 16 frames, "
        "every 4th).")] = 4,
    fps: Annotated[float | None, typer.Option(
        "--fps", help="Snippets per second instead of --stride.")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float32 or float16.")] = "float32",
    fmt: FormatOption = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Snippets per network call.")] = 8,
    quiet: QuietOption = False,
) -> None:
    """Extract SqueezeTime snippet features (globally pooled backbone output) per video."""
    from .. import reports

    with domain_errors():
        videos = batch_inputs(paths, fmt, None)
        from ..tasks.features import FeatureSettings, load_extractor

        settings = FeatureSettings(stride=stride, fps=fps, dtype=dtype)
        extractor = load_extractor(preset, checkpoint, device, progress=not quiet,
                                   batch_size=batch_size,
                                   backend=backend, precision=precision)
        stems = reports.unique_stems(videos)
        meta = {"preset": preset, "checkpoint": str(extractor.weights),
                "checkpoint_sha256": extractor.weights_sha256,
                "input": {"clip_len": extractor.preset.clip_len,
                          "frame_interval": extractor.preset.frame_interval,
                          "short_side": extractor.preset.test.short_side,
                          "crop_size": extractor.preset.test.crop_size},
                "settings": settings.to_dict()}

        def results() -> Iterator[Any]:
            for result in extractor.iter_features(videos, settings):
                if result.status == "ok":
                    path = reports.write_features(out, stems[result.video], result, meta)
                    result = dataclasses.replace(result, output=str(path), features=None)
                yield result

        run_batch(reports.FEATURES, results(), videos, fmt=fmt, out=None,
                  report_dir=None, quiet=quiet, desc="features", table=_table, meta=meta)


def _table(records: list[dict[str, Any]]) -> None:
    print_table(("video", "snippets", "output"), [
        (r["video"], str(r["snippets"]), r["output"]) if r["status"] == "ok"
        else (r["video"], "", f"[red]error: {r['error']}[/red]") for r in records])
