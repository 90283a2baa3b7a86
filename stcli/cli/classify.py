"""``stcli classify``: top-k action labels per video by the official test protocol."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import reports
from ..presets import load_preset
from ..settings import ClassifySettings, ExecutorSettings, ModelSpec
from ._checks import ForceOption, check_views
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
    resume_plan,
    run_batch,
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


@model_options("recognition")
def classify(
    paths: PathsArgument,
    model: ModelSpec,
    views: Annotated[str | None, typer.Option(
        "--views", help="Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3). "
        "Default: the preset's official test protocol.")] = ClassifySettings.views,
    fast: Annotated[bool, typer.Option(
        "--fast", help="1 clip, short side 256, centre crop 224 (validation setting).")
    ] = ClassifySettings.fast,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per video.")
                     ] = ClassifySettings.top_k,
    force: ForceOption = False,
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
    """Classify videos: top-k action labels per video, by the official test protocol."""
    with domain_errors(quiet):
        from ..executors import run_videos_with
        from ..tasks.classify import Recognizer  # torch: not at import, keeps --help fast

        settings = ClassifySettings(**ClassifySettings.pick(locals()))
        runner = ExecutorSettings(**ExecutorSettings.pick(locals()))
        # Bad or huge --views fail before the model loads.
        check_views(settings.protocol(load_preset(model.preset)), force)
        batch = batch_inputs(paths, fmt, out, report_dir=report_dir,
                             skip_existing=skip_existing, shard=shard, shards=shards)
        recognizer = Recognizer.load(model, progress=not quiet)
        writer, plan = resume_plan("classify", recognizer, settings, batch, report_dir,
                                   skip_existing)
        shown = VideoProgress(quiet, "classify", "view")
        results = shown.follow(run_videos_with(runner, recognizer, model, settings,
                                               plan.todo, on_progress=shown))
        run_batch(reports.CLASSIFY, results, batch, fmt=fmt, quiet=quiet, desc="classify",
                  table=_table, writer=writer, plan=plan)


def _table(records: list[dict[str, Any]]) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            rows.append((rec["video"], "", Styled(f"error: {rec['error']}", "red"), ""))
            continue
        for entry in rec["topk"]:
            rows.append((rec["video"] if entry["rank"] == 1 else "", str(entry["rank"]),
                         entry["label"], f"{entry['score']:.4f}"))
    print_table(("video", "rank", "label", "score"), rows)
