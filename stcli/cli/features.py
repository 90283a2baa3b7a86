"""``stcli features``: ``(T, 2048)`` snippet features per video, for localization frameworks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..batch import FEATURES, FeatureOutputs
from ..choices import FeatureDtype
from ..settings import DEFAULT_STRIDE, FeatureSettings, ModelSpec
from ._batch import BatchArgs, batch_command, run_command
from ._common import PathsArgument, Styled, choice_option, domain_errors, print_table


@batch_command(FEATURES, out=False)
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
    batch: BatchArgs = BatchArgs(),
) -> None:
    """Extract SqueezeTime snippet features (globally pooled backbone output) per video."""
    with domain_errors(batch.quiet):
        settings = FeatureSettings(stride=stride, fps=fps, dtype=dtype, **batch.time_range)
        run_command(FEATURES, paths, model, settings, batch, FeatureOutputs(out),
                    table=_table)


def _table(records: list[dict[str, Any]]) -> None:
    print_table(("video", "snippets", "output"), [
        (r["video"], str(r["snippets"]), r["output"]) if r["status"] == "ok"
        else (r["video"], "", Styled(f"error: {r['error']}", "red")) for r in records])
