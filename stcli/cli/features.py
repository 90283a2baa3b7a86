"""``stcli features``: ``(T, 2048)`` snippet features per video, for localization frameworks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import reports
from ..choices import FeatureDtype
from ..errors import UsageError
from ..fileio import file_identity
from ..settings import DEFAULT_STRIDE, ExecutorSettings, FeatureSettings, ModelSpec
from ._common import (
    FormatOption,
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
    """Extract SqueezeTime snippet features (globally pooled backbone output) per video."""
    with domain_errors(quiet):
        from ..executors import run_videos_with
        from ..tasks.features import FeatureExtractor  # torch: not at import

        settings = FeatureSettings(**FeatureSettings.pick(locals()))
        runner = ExecutorSettings(**ExecutorSettings.pick(locals()))
        batch = batch_inputs(paths, fmt, None, report_dir=report_dir,
                             skip_existing=skip_existing, folders={"--out": out},
                             shard=shard, shards=shards, parts_folder=out)
        if report_dir is not None and file_identity(report_dir) == file_identity(out):
            raise UsageError(f"--report-dir {report_dir} is the --out folder, where each "
                             "video's .json sidecar goes: give another folder")
        extractor = FeatureExtractor.load(model, progress=not quiet)
        writer, plan = resume_plan("features", extractor, settings, batch, report_dir,
                                   skip_existing)
        stems = batch.stems
        protocol = extractor.preset.test
        meta = {"preset": extractor.preset.name, "checkpoint": str(extractor.weights),
                "checkpoint_sha256": extractor.weights_sha256,
                "input": {"clip_len": extractor.preset.clip_len,
                          "frame_interval": extractor.preset.frame_interval,
                          "short_side": protocol.short_side, "crop_size": protocol.crop_size},
                "settings": settings.to_dict()}

        shown = VideoProgress(quiet, "features", "snippet")

        def results() -> Iterator[Any]:
            for result in shown.follow(run_videos_with(runner, extractor, model, settings,
                                                       plan.todo, on_progress=shown)):
                if result.status == "ok":
                    try:
                        path = reports.write_features(out, stems[result.video], result, meta)
                    except OSError as exc:
                        result = write_failed(result, "--out", exc)
                    else:
                        result = dataclasses.replace(result, output=str(path))
                    result = dataclasses.replace(result, features=None)  # written: let go
                yield result

        run_batch(reports.FEATURES, results(), batch, fmt=fmt, quiet=quiet, desc="features",
                  table=_table, writer=writer, plan=plan, meta=meta)


def _table(records: list[dict[str, Any]]) -> None:
    print_table(("video", "snippets", "output"), [
        (r["video"], str(r["snippets"]), r["output"]) if r["status"] == "ok"
        else (r["video"], "", Styled(f"error: {r['error']}", "red")) for r in records])
