"""``stcli localize``: sliding-window temporal action localization (THUMOS14 style)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import reports
from ..choices import NmsMode, ScoresFormat
from ..settings import DEFAULT_OVERLAP, ExecutorSettings, LocalizeSettings, ModelSpec
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
    choice_option,
    domain_errors,
    model_options,
    print_table,
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

DEFAULTS = LocalizeSettings()


@model_options("recognition")
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
    scores_out: Annotated[Path | None, typer.Option(
        "--scores-out", help="Save each video's window scores into DIR (to re-threshold "
        "without running the model again).", file_okay=False)] = None,
    scores_format: Annotated[str, choice_option(
        ScoresFormat, "--scores-format", help="csv or npz, for --scores-out.")
    ] = ScoresFormat.CSV.value,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a PNG timeline per video into DIR (needs matplotlib: "
        "pip install 'stcli[plot]').", file_okay=False)] = None,
    quiet: QuietOption = False,
) -> None:
    """Find action segments (label, start, end, score) in long videos with sliding windows."""
    with domain_errors(quiet):
        from .. import render  # numpy (and matplotlib on use): not at import
        from ..executors import run_videos_with
        from ..tasks.localize import Localizer, check_columns  # torch: not at import

        settings = LocalizeSettings(**LocalizeSettings.pick(locals()))
        runner = ExecutorSettings(**ExecutorSettings.pick(locals()))
        check_columns(model, settings)  # a typo in --classes fails before the model loads
        scores_format = ScoresFormat.parse(scores_format)
        if plot is not None:
            render.require_matplotlib()
        batch = batch_inputs(paths, fmt, out, report_dir=report_dir,
                             skip_existing=skip_existing, shard=shard, shards=shards,
                             folders={"--scores-out": scores_out, "--plot": plot})
        localizer = Localizer.load(model, progress=not quiet)
        writer, plan = resume_plan("localize", localizer, settings, batch, report_dir,
                                   skip_existing)
        stems = batch.stems
        shown = VideoProgress(quiet, "localize", "window")

        def results() -> Iterator[Any]:
            for result in shown.follow(run_videos_with(runner, localizer, model, settings,
                                                       plan.todo, on_progress=shown)):
                ws = getattr(result, "window_scores", None)
                try:
                    if ws is not None and scores_out is not None:
                        reports.write_window_scores(scores_out, stems[result.video], ws,
                                                    scores_format)
                except OSError as exc:
                    result = write_failed(result, "--scores-out", exc)
                try:
                    if ws is not None and plot is not None:
                        render.plot_timeline(plot / f"{stems[result.video]}.png", result)
                except OSError as exc:
                    result = write_failed(result, "--plot", exc)
                yield result

        meta = {"preset": localizer.preset.name, "checkpoint": str(localizer.weights),
                **settings.to_dict()}
        run_batch(reports.LOCALIZE, results(), batch, fmt=fmt, quiet=quiet, desc="localize",
                  table=_table, writer=writer, plan=plan, meta=meta)


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
