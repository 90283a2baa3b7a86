"""``stcli localize``: sliding-window temporal action localization (THUMOS14 style)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..batch import LOCALIZE, LocalizeOutputs
from ..choices import NmsMode, ScoresFormat
from ..settings import DEFAULT_OVERLAP, LocalizeSettings, ModelSpec
from ._batch import BatchArgs, batch_command, run_command
from ._common import PathsArgument, Styled, choice_option, domain_errors, print_table

DEFAULTS = LocalizeSettings()


@batch_command(LOCALIZE)
def localize(
    paths: PathsArgument,
    model: ModelSpec,
    windows: Annotated[str, typer.Option(
        "--windows", help="Window lengths in frames, comma-separated; each window is one "
        "16-frame clip spread over it (64 = every 4th frame, as the checkpoints were "
        "trained; S-CNN used 16,32,64,128,256,512).")
    ] = ",".join(map(str, DEFAULTS.windows)),
    overlap: Annotated[float | None, typer.Option(
        "--overlap", help=f"Overlap of consecutive windows of one length, in [0, 1). "
        f"Default: {DEFAULT_OVERLAP}, unless --stride-s.", show_default=False)
    ] = LocalizeSettings.overlap,
    stride_s: Annotated[float | None, typer.Option(
        "--stride-s", help="Window stride in seconds (instead of --overlap).")
    ] = DEFAULTS.stride_s,
    classes: Annotated[str | None, typer.Option(
        "--classes", help="Only these classes: names or ids, comma-separated.")
    ] = DEFAULTS.classes,
    label_map: Annotated[Path | None, typer.Option(
        "--label-map", help="CSV source_class,target_label: fold checkpoint classes into your "
        "labels (probabilities summed).", dir_okay=False, exists=True)] = None,
    min_score: Annotated[float, typer.Option(
        "--min-score", help="Windows scoring at least this become candidate segments.")
    ] = DEFAULTS.min_score,
    smooth: Annotated[int, typer.Option(
        "--smooth", min=1, help="Moving average over N windows of the score curve.")
    ] = DEFAULTS.smooth,
    nms: Annotated[str, choice_option(NmsMode, "--nms", help="soft, hard or none.")
                   ] = DEFAULTS.nms.value,
    nms_iou: Annotated[float, typer.Option(
        "--nms-iou", help="tIoU above which hard NMS suppresses.")] = DEFAULTS.nms_iou,
    sigma: Annotated[float, typer.Option("--sigma", help="Soft-NMS sigma.")] = DEFAULTS.sigma,
    max_segments: Annotated[int, typer.Option(
        "--max-segments", min=1, help="Segments kept per video.")] = DEFAULTS.max_segments,
    batch: BatchArgs = BatchArgs(),
    scores_out: Annotated[Path | None, typer.Option(
        "--scores-out", help="Save each video's window scores into DIR (to re-threshold "
        "without running the model again).", file_okay=False)] = None,
    scores_format: Annotated[str, choice_option(
        ScoresFormat, "--scores-format", help="csv or npz, for --scores-out.")
    ] = ScoresFormat.CSV.value,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG timeline per video into DIR (needs matplotlib: "
        "pip install 'stcli[plot]').", file_okay=False)] = None,
) -> None:
    """Find action segments (label, start, end, score) in long videos with sliding windows."""
    with domain_errors(batch.quiet):
        settings = LocalizeSettings(
            windows=windows, overlap=overlap, stride_s=stride_s, classes=classes,
            label_map=label_map, min_score=min_score, smooth=smooth, nms=nms,
            nms_iou=nms_iou, sigma=sigma, max_segments=max_segments, **batch.time_range)
        outputs = LocalizeOutputs(scores_out, scores_format, plot)
        run_command(LOCALIZE, paths, model, settings, batch, outputs, table=_table)


def _table(records: list[dict[str, Any]]) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            rows.append((rec["video"], Styled(f"error: {rec['error']}", "red"), "", "", ""))
        elif not rec["segments"]:
            rows.append((rec["video"], "(no segments)", "", "", ""))
        for n, s in enumerate(rec["segments"]):
            rows.append((rec["video"] if n == 0 else "", s["label"], f"{s['start_s']:.2f}",
                         f"{s['end_s']:.2f}", f"{s['score']:.4f}"))
    print_table(("video", "label", "start_s", "end_s", "score"), rows)
