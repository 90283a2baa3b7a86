"""``stcli features``: ``(T, 2048)`` snippet features per video, for localization frameworks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import reports
from ..choices import FeatureDtype
from ..settings import DEFAULT_STRIDE, FeatureSettings, ModelSpec
from ._checks import check_folder
from ._common import (
    FormatOption,
    PathsArgument,
    QuietOption,
    Styled,
    batch_inputs,
    choice_option,
    domain_errors,
    model_options,
    print_table,
    run_batch,
)
from ._progress import VideoProgress


@model_options("recognition", head=False)
def features(
    paths: PathsArgument,
    model: ModelSpec,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder for <video>.npy (T, 2048) and <video>.json (snippet times, "
        "settings, checkpoint sha256).", file_okay=False)] = Path("features"),
    stride: Annotated[int | None, typer.Option(
        "--stride", min=1, help=f"Frames between snippet starts (a snippet is 16 frames, "
        f"every 4th). Default: {DEFAULT_STRIDE}, unless --fps.", show_default=False)
    ] = FeatureSettings.stride,
    fps: Annotated[float | None, typer.Option(
        "--fps", help="Snippets per second instead of --stride.")] = FeatureSettings.fps,
    dtype: Annotated[str, choice_option(FeatureDtype, "--dtype", help="float32 or float16.")
                     ] = FeatureSettings.dtype.value,
    fmt: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Extract SqueezeTime snippet features (globally pooled backbone output) per video."""
    with domain_errors(quiet):
        from ..tasks.features import FeatureExtractor  # torch: not at import

        videos = batch_inputs(paths, fmt, None)
        check_folder(out, "--out")
        settings = FeatureSettings(**FeatureSettings.pick(locals()))
        extractor = FeatureExtractor.load(model, progress=not quiet)
        stems = reports.unique_stems(videos)
        protocol = extractor.preset.test
        meta = {"preset": extractor.preset.name, "checkpoint": str(extractor.weights),
                "checkpoint_sha256": extractor.weights_sha256,
                "input": {"clip_len": extractor.preset.clip_len,
                          "frame_interval": extractor.preset.frame_interval,
                          "short_side": protocol.short_side, "crop_size": protocol.crop_size},
                "settings": settings.to_dict()}

        shown = VideoProgress(quiet, "features", "snippet")

        def results() -> Iterator[Any]:
            for result in shown.follow(extractor.iter_features(videos, settings,
                                                               on_progress=shown)):
                if result.status == "ok":
                    path = reports.write_features(out, stems[result.video], result, meta)
                    result = dataclasses.replace(result, output=str(path), features=None)
                yield result

        run_batch(reports.FEATURES, results(), videos, fmt=fmt, out=None,
                  report_dir=None, quiet=quiet, desc="features", table=_table, meta=meta)


def _table(records: list[dict[str, Any]]) -> None:
    print_table(("video", "snippets", "output"), [
        (r["video"], str(r["snippets"]), r["output"]) if r["status"] == "ok"
        else (r["video"], "", Styled(f"error: {r['error']}", "red")) for r in records])
