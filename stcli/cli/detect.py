"""``stcli detect``: AVA-style spatio-temporal action detection (persons x 80 actions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..batch import DETECT, DetectOutputs
from ..settings import DetectSettings, ModelSpec
from ._batch import BatchArgs, batch_command, run_command
from ._checks import conflict, given
from ._common import PathsArgument, Styled, domain_errors, print_table

ALL_SCORES_THRESHOLD = 0.002  # what AVA evaluation files keep: every score that can matter
DEFAULTS = DetectSettings()


@batch_command(DETECT)
def detect(
    ctx: typer.Context,
    paths: PathsArgument,
    model: ModelSpec,
    proposals: Annotated[Path | None, typer.Option(
        "--proposals", help="Person boxes per keyframe: AVA CSV video_id,timestamp,x1,y1,x2,"
        "y2[,score] (normalized) or JSON. Without --keyframe-interval/--timestamps, the "
        "file's timestamps are the keyframes.", dir_okay=False)] = None,
    person_detector: Annotated[str, typer.Option(
        "--person-detector", "--detector", help="Person detector when no --proposals: hog "
        "(built in, offline) or onnx:MODEL.onnx (YOLO-style export; needs pip install "
        "'stcli[onnx]').", autocompletion=lambda: ["hog", "onnx:"])
    ] = DEFAULTS.person_detector,
    person_threshold: Annotated[float | None, typer.Option(
        "--person-threshold", help="Minimum person score (default: the detector's own; "
        "proposals: keep all).")] = DEFAULTS.person_threshold,
    keyframe_interval: Annotated[float | None, typer.Option(
        "--keyframe-interval", help="Seconds between keyframes (default 1.0).")
    ] = DEFAULTS.keyframe_interval,
    timestamps: Annotated[str | None, typer.Option(
        "--timestamps", help="Keyframe times in seconds, comma-separated.")] = None,
    time_offset: Annotated[float, typer.Option(
        "--time-offset", help="Seconds added to reported times (AVA clips cut at 15:00 use "
        "900).")] = DEFAULTS.time_offset,
    action_threshold: Annotated[float, typer.Option(
        "--action-threshold", help="Report actions scoring at least this.")
    ] = DEFAULTS.action_threshold,
    all_scores: Annotated[bool, typer.Option(
        "--all-scores", help=f"Report every action scoring >= {ALL_SCORES_THRESHOLD} (for "
        "'stcli evaluate ava').")] = False,
    render: Annotated[Path | None, typer.Option(
        "--render", help="Draw boxes and top actions: FILE.mp4 for one video, or a folder.")
    ] = None,
    top: Annotated[int, typer.Option(
        "--top", min=1, help="Actions per person in the table and --render.")] = 3,
    batch: BatchArgs = BatchArgs(),
) -> None:
    """Find persons at keyframes and score 80 AVA actions for each (AVA CSV with --out .csv)."""
    with domain_errors(batch.quiet):
        # Each of these would silently override the other.
        conflict("--all-scores", "--action-threshold",
                 both=all_scores and given(ctx, "action_threshold"))
        conflict("--proposals", "--person-detector",
                 both=proposals is not None and given(ctx, "person_detector"))
        settings = DetectSettings(
            proposals=proposals, person_detector=person_detector,
            person_threshold=person_threshold, keyframe_interval=keyframe_interval,
            timestamps=timestamps, time_offset=time_offset,
            action_threshold=ALL_SCORES_THRESHOLD if all_scores else action_threshold,
            **batch.time_range)
        run_command(DETECT, paths, model, settings, batch, DetectOutputs(render, top),
                    table=lambda records: _table(records, top))


def _table(records: list[dict[str, Any]], top: int) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok" and not rec.get("keyframes"):
            rows.append((rec["video"], "", "", Styled(f"error: {rec['error']}", "red")))
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
            rows.append(("", "", "", Styled(f"error: {rec['error']}", "red")))
    print_table(("video", "time_s", "box (x1 y1 x2 y2)", "actions"), rows)
