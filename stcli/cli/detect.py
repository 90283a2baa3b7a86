"""``stcli detect``: AVA-style spatio-temporal action detection (persons x 80 actions)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import reports
from ..errors import StcliError, UsageError
from ..fileio import file_identity
from ..settings import DetectSettings, ExecutorSettings, ModelSpec
from ._checks import conflict, given, writable_folder
from ._common import (
    FormatOption,
    OutOption,
    PathsArgument,
    QuietOption,
    ReportDirOption,
    ShardOption,
    ShardsOption,
    SkipExistingOption,
    Styled,
    batch_inputs,
    domain_errors,
    model_options,
    print_table,
    progress,
    resume_plan,
    run_batch,
    write_failed,
)
from ._executors import (
    EXECUTOR_DEFAULTS,
    ExecutorOption,
    RayAddressOption,
    ThreadsPerWorkerOption,
    WorkersOption,
)
from ._progress import VideoProgress
from ._range import EndOption, StartOption

ALL_SCORES_THRESHOLD = 0.002  # what AVA evaluation files keep: every score that can matter
DEFAULTS = DetectSettings()


def render_targets(render: Path | None, videos: list[str]) -> dict[str, Path]:
    """Where ``--render`` writes each video: the file itself for one video, else
    ``DIR/<stem>.mp4`` (the folder made now). A target that is one of the inputs (the
    same file, by inode) is refused before any work: drawing would overwrite a source."""
    if render is None:
        return {}
    one_file = render.suffix.lower() in (".mp4", ".m4v", ".mov")
    if one_file:
        if len(videos) > 1:
            raise UsageError(f"--render {render}: {len(videos)} videos need a folder, not a "
                             "file name")
        targets = {videos[0]: render}
    else:
        targets = {video: render / f"{stem}.mp4"
                   for video, stem in reports.unique_stems(videos).items()}
    inputs = {file_identity(video) for video in videos} - {None}
    for target in targets.values():
        if file_identity(target) in inputs:
            raise UsageError(f"--render {target}: is one of the input videos; drawing would "
                             "overwrite it: give another file or folder")
    writable_folder("--render", render.parent if one_file else render)
    return targets


@model_options("detection", head=False)
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
    fmt: FormatOption = None,
    out: OutOption = None,
    report_dir: ReportDirOption = None,
    skip_existing: SkipExistingOption = False,
    shard: ShardOption = None,
    shards: ShardsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    executor: ExecutorOption = EXECUTOR_DEFAULTS.executor.value,
    ray_address: RayAddressOption = EXECUTOR_DEFAULTS.ray_address,
    workers: WorkersOption = EXECUTOR_DEFAULTS.workers,
    threads_per_worker: ThreadsPerWorkerOption = EXECUTOR_DEFAULTS.threads_per_worker,
    quiet: QuietOption = False,
) -> None:
    """Find persons at keyframes and score 80 AVA actions for each (AVA CSV with --out .csv)."""
    with domain_errors(quiet):
        # numpy, OpenCV, torch: not at import, keeps --help fast
        from ..executors import run_videos_with
        from ..persons import person_source
        from ..tasks.detect import Detector

        # Each of these would silently override the other.
        conflict("--all-scores", "--action-threshold",
                 both=all_scores and given(ctx, "action_threshold"))
        conflict("--proposals", "--person-detector",
                 both=proposals is not None and given(ctx, "person_detector"))
        if all_scores:
            action_threshold = ALL_SCORES_THRESHOLD
        settings = DetectSettings(**DetectSettings.pick(locals()))
        runner = ExecutorSettings(**ExecutorSettings.pick(locals()))
        batch = batch_inputs(paths, fmt, out, report_dir=report_dir,
                             skip_existing=skip_existing, shard=shard, shards=shards)
        targets = render_targets(render, batch.inputs)
        source = person_source(settings)  # a bad proposals file fails before model loading
        detector = Detector.load(model, progress=not quiet)
        writer, plan = resume_plan("detect", detector, settings, batch, report_dir,
                                   skip_existing)

        shown = VideoProgress(quiet, "detect", "keyframe")

        def results() -> Iterator[Any]:
            for result in shown.follow(run_videos_with(runner, detector, model, settings,
                                                       plan.todo, source=source,
                                                       on_progress=shown)):
                if result.status == "ok" and result.video in targets:
                    result = _render(result, targets[result.video], settings, top, quiet)
                yield result

        meta = {"preset": detector.preset.name, "checkpoint": str(detector.weights),
                **settings.to_dict()}
        run_batch(reports.detect_layout(settings.action_threshold), results(), batch,
                  fmt=fmt, quiet=quiet, desc="detect",
                  table=lambda records: _table(records, top), writer=writer, plan=plan,
                  meta=meta)


def _render(result: Any, target: Path, settings: DetectSettings, top: int,
            quiet: bool) -> Any:
    """Draw one video; a failed drawing marks the video failed but keeps its detections."""
    from ..render import render_detections  # numpy, OpenCV: not at import

    bar = progress(result.frames, quiet, "render", unit="frame", leave=False)
    try:
        render_detections(result.video, result, target, threshold=settings.action_threshold,
                          top=top, progress=bar.update)
    except StcliError as exc:
        return dataclasses.replace(result, status="error", error=f"--render failed: {exc}")
    except OSError as exc:
        return write_failed(result, "--render", exc)
    finally:
        bar.close()
    return result


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
