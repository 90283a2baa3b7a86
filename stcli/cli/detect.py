"""``stcli detect``: AVA-style spatio-temporal action detection (persons x 80 actions)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import StcliError, UsageError
from ._common import (
    BackendOption,
    CheckpointOption,
    DeviceOption,
    FormatOption,
    OutOption,
    PrecisionOption,
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

ALL_SCORES_THRESHOLD = 0.002  # what AVA evaluation files keep: every score that can matter


def render_targets(render: Path | None, videos: list[str]) -> dict[str, Path]:
    """Where ``--render`` writes each video: the file itself for one video, else
    ``DIR/<stem>.mp4``."""
    if render is None:
        return {}
    from ..reports import unique_stems

    if render.suffix.lower() in (".mp4", ".m4v", ".mov"):
        if len(videos) > 1:
            raise UsageError(f"--render {render}: {len(videos)} videos need a folder, not a "
                             "file name")
        return {videos[0]: render}
    return {video: render / f"{stem}.mp4" for video, stem in unique_stems(videos).items()}


def detect(
    paths: PathsArgument,
    preset: Annotated[str, typer.Option(
        "--preset", "-p", help="Detection preset (see 'stcli weights list').")] = "ava21",
    checkpoint: CheckpointOption = None,
    device: DeviceOption = "auto",
    backend: BackendOption = "auto",
    precision: PrecisionOption = "fp32",
    proposals: Annotated[Path | None, typer.Option(
        "--proposals", help="Person boxes per keyframe: AVA CSV video_id,timestamp,x1,y1,x2,"
        "y2[,score] (normalized) or JSON. Without --keyframe-interval/--timestamps, the "
        "file's timestamps are the keyframes.", dir_okay=False)] = None,
    detector: Annotated[str, typer.Option(
        "--detector", help="Person detector when no --proposals: hog (built in, offline) or "
        "onnx:MODEL.onnx (YOLO-style export; needs pip install 'stcli[onnx]').")] = "hog",
    person_threshold: Annotated[float | None, typer.Option(
        "--person-threshold", help="Minimum person score (default: the detector's own; "
        "proposals: keep all).")] = None,
    keyframe_interval: Annotated[float | None, typer.Option(
        "--keyframe-interval", help="Seconds between keyframes (default 1.0).")] = None,
    timestamps: Annotated[str | None, typer.Option(
        "--timestamps", help="Keyframe times in seconds, comma-separated.")] = None,
    time_offset: Annotated[float, typer.Option(
        "--time-offset", help="Seconds added to reported times (AVA clips cut at 15:00 use "
        "900).")] = 0.0,
    action_threshold: Annotated[float, typer.Option(
        "--action-threshold", help="Report actions scoring at least this.")] = 0.5,
    all_scores: Annotated[bool, typer.Option(
        "--all-scores", help=f"Report every action scoring >= {ALL_SCORES_THRESHOLD} (for "
        "'stcli evaluate ava').")] = False,
    render: Annotated[Path | None, typer.Option(
        "--render", help="Draw boxes and top actions: FILE.mp4 for one video, or a folder.")
    ] = None,
    top: Annotated[int, typer.Option(
        "--top", min=1, help="Actions per person in the table and --render.")] = 3,
    fmt: FormatOption = None,
    out: OutOption = None,
    report_dir: ReportDirOption = None,
    skip_existing: SkipExistingOption = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Keyframe clips per network call.")] = 8,
    quiet: QuietOption = False,
) -> None:
    """Find persons at keyframes and score 80 AVA actions for each (AVA CSV with --out .csv)."""
    from .. import reports

    with domain_errors():
        videos = batch_inputs(paths, fmt, out)
        threshold = ALL_SCORES_THRESHOLD if all_scores else action_threshold
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"--action-threshold {action_threshold}: must be in [0, 1]")
        targets = render_targets(render, videos)
        from ..tasks.detect import DetectSettings, load_detector, parse_timestamps

        settings = DetectSettings(
            keyframe_interval=keyframe_interval,
            timestamps=parse_timestamps(timestamps) if timestamps else None,
            time_offset=time_offset, proposals=str(proposals) if proposals else None,
            detector=detector, person_threshold=person_threshold,
        )
        source = settings.person_source()  # a bad proposals file fails before model loading
        done, todo = resume(report_dir, skip_existing, videos)
        runner = load_detector(preset, checkpoint, device, progress=not quiet,
                               batch_size=batch_size,
                               backend=backend, precision=precision)

        def results() -> Iterator[Any]:
            for result in runner.iter_detect(todo, settings, source):
                if result.status == "ok" and result.video in targets:
                    result = _render(result, targets[result.video], threshold, top, quiet)
                yield result

        meta = {"preset": preset, "checkpoint": str(runner.weights),
                "action_threshold": threshold, **settings.to_dict()}
        run_batch(reports.detect_layout(threshold), results(), videos, fmt=fmt, out=out,
                  report_dir=report_dir, quiet=quiet, desc="detect",
                  table=lambda records: _table(records, top), done=done, meta=meta)


def _render(result: Any, target: Path, threshold: float, top: int, quiet: bool) -> Any:
    """Draw one video; a failed drawing marks the video failed but keeps its detections."""
    from tqdm import tqdm

    from ..render import render_detections

    bar = tqdm(total=result.frames, unit="frame", file=sys.stderr, desc="render",
               dynamic_ncols=True, leave=False, disable=quiet)
    try:
        render_detections(result.video, result, target, threshold=threshold, top=top,
                          progress=bar.update)
    except StcliError as exc:
        return dataclasses.replace(result, status="error", error=f"--render failed: {exc}")
    finally:
        bar.close()
    return result


def _table(records: list[dict[str, Any]], top: int) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok" and not rec.get("keyframes"):
            rows.append((rec["video"], "", "", f"[red]error: {rec['error']}[/red]"))
            continue
        first = True
        for kf in rec["keyframes"]:
            people = kf["persons"] or [None]
            for person in people:
                if person is None:
                    what, box = "(no person)", ""
                else:
                    box = " ".join(f"{v:.2f}" for v in person["box"])
                    what = ", ".join(f"{a['label']} {a['score']:.2f}"
                                     for a in person["actions"][:top]) or "(no action)"
                rows.append((rec["video"] if first else "", f"{kf['timestamp']:g}", box, what))
                first = False
        if rec["status"] != "ok":
            rows.append(("", "", "", f"[red]error: {rec['error']}[/red]"))
    print_table(("video", "time_s", "box (x1 y1 x2 y2)", "actions"), rows)
