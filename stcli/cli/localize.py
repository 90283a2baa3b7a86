"""``stcli localize``: sliding-window temporal action localization (THUMOS14 style)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from ._common import (
    BackendOption,
    CheckpointOption,
    DeviceOption,
    FormatOption,
    HeadOption,
    OutOption,
    PrecisionOption,
    PresetOption,
    QuietOption,
    ReportDirOption,
    SkipExistingOption,
    batch_inputs,
    domain_errors,
    print_table,
    resume,
    run_batch,
)
from .classify import PathsArgument


def localize(
    paths: PathsArgument,
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    head: HeadOption = None,
    device: DeviceOption = "auto",
    backend: BackendOption = "auto",
    precision: PrecisionOption = "fp32",
    windows: Annotated[str, typer.Option(
        "--windows", help="Window lengths in frames, comma-separated; each window is one "
        "16-frame clip spread over it (64 = every 4th frame, as the checkpoints were "
        "trained; S-CNN used 16,32,64,128,256,512).")] = "64",
    overlap: Annotated[float, typer.Option(
        "--overlap", help="Overlap of consecutive windows of one length, in [0, 1).")] = 0.75,
    stride_s: Annotated[float | None, typer.Option(
        "--stride-s", help="Window stride in seconds (instead of --overlap).")] = None,
    classes: Annotated[str | None, typer.Option(
        "--classes", help="Only these classes: names or ids, comma-separated.")] = None,
    label_map: Annotated[Path | None, typer.Option(
        "--label-map", help="CSV source_class,target_label: fold checkpoint classes into your "
        "labels (probabilities summed).", dir_okay=False, exists=True)] = None,
    min_score: Annotated[float, typer.Option(
        "--min-score", help="Windows scoring at least this become candidate segments.")] = 0.001,
    smooth: Annotated[int, typer.Option(
        "--smooth", min=1, help="Moving average over N windows of the score curve.")] = 1,
    nms: Annotated[str, typer.Option("--nms", help="soft, hard or none.")] = "soft",
    nms_iou: Annotated[float, typer.Option(
        "--nms-iou", help="tIoU above which hard NMS suppresses.")] = 0.4,
    sigma: Annotated[float, typer.Option("--sigma", help="Soft-NMS sigma.")] = 0.5,
    max_segments: Annotated[int, typer.Option(
        "--max-segments", min=1, help="Segments kept per video.")] = 200,
    fmt: FormatOption = None,
    out: OutOption = None,
    report_dir: ReportDirOption = None,
    skip_existing: SkipExistingOption = False,
    scores_out: Annotated[Path | None, typer.Option(
        "--scores-out", help="Save each video's window scores into DIR (to re-threshold "
        "without running the model again).", file_okay=False)] = None,
    scores_format: Annotated[str, typer.Option(
        "--scores-format", help="csv or npz, for --scores-out.")] = "csv",
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG timeline per video into DIR (needs matplotlib: "
        "pip install 'stcli[plot]').", file_okay=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Windows per network call.")] = 8,
    quiet: QuietOption = False,
) -> None:
    """Find action segments (label, start, end, score) in long videos with sliding windows."""
    from .. import reports

    with domain_errors():
        videos = batch_inputs(paths, fmt, out)
        if scores_format not in ("csv", "npz"):
            raise UsageError(f"--scores-format '{scores_format}': choose csv or npz")
        if plot is not None:
            from ..render import require_matplotlib

            require_matplotlib()
        from ..tasks.localize import LocalizeSettings, load_localizer, parse_windows

        settings = LocalizeSettings(
            windows=parse_windows(windows), overlap=overlap, stride_s=stride_s,
            classes=classes, label_map=str(label_map) if label_map else None,
            min_score=min_score, smooth=smooth, nms=nms, nms_iou=nms_iou, sigma=sigma,
            max_segments=max_segments,
        )
        done, todo = resume(report_dir, skip_existing, videos)
        localizer = load_localizer(preset, checkpoint, device, progress=not quiet,
                                   batch_size=batch_size, head=head,
                                   backend=backend, precision=precision)
        stems = reports.unique_stems(videos)

        def results() -> Iterator[Any]:
            for result in localizer.iter_localize(todo, settings):
                ws = getattr(result, "window_scores", None)
                if ws is not None and scores_out is not None:
                    reports.write_window_scores(scores_out, stems[result.video], ws,
                                                scores_format)
                if ws is not None and plot is not None:
                    from ..render import plot_timeline

                    plot_timeline(plot / f"{stems[result.video]}.png", result)
                yield result

        meta = {"preset": preset, "checkpoint": str(localizer.weights), **settings.to_dict()}
        run_batch(reports.LOCALIZE, results(), videos, fmt=fmt, out=out,
                  report_dir=report_dir, quiet=quiet, desc="localize", table=_table,
                  done=done, meta=meta)


def _table(records: list[dict[str, Any]]) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            rows.append((rec["video"], f"[red]error: {rec['error']}[/red]", "", "", ""))
        elif not rec["segments"]:
            rows.append((rec["video"], "(no segments)", "", "", ""))
        for n, s in enumerate(rec["segments"]):
            rows.append((rec["video"] if n == 0 else "", s["label"], f"{s['start_s']:.2f}",
                         f"{s['end_s']:.2f}", f"{s['score']:.4f}"))
    print_table(("video", "label", "start_s", "end_s", "score"), rows)
