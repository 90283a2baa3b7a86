"""The batch commands, declared once each: what the CLI, ``merge``, the completion
scripts and ``stcli.run_batch`` read. A declaration names the command, its default
model, its settings class, the task's loaded model, the unit of a video's progress, the
layout of its records (from the run's settings, as merge finds them in a sidecar), and
its own outputs with the hooks that check and write them. A new batch command is one task
module, one settings class and one declaration here (README "Development").
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import reports
from ..choices import ScoresFormat
from ..errors import StcliError, UsageError
from ..fileio import file_identity
from ..progress import progress_bar
from ..settings import ClassifySettings, DetectSettings, FeatureSettings, LocalizeSettings
from .plan import writable_folder
from .writes import write_failed

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..settings import ModelSpec, _Settings
    from .runner import Run


@dataclass(frozen=True)
class BatchCommand:
    """One batch command (see the module's docstring). ``model``: ``"module:Class"`` of
    the task's loaded model, imported on use (it needs torch or onnxruntime). Hooks, each
    given the ``Run``: ``check`` before the inputs are planned, ``prepare`` after,
    before the model loads, ``meta`` (the JSON documents' meta data) once it is loaded,
    ``finish`` for each result before it is recorded (the command's own files)."""

    name: str
    task: str  # "recognition" or "detection": the default preset (presets.DEFAULT_PRESETS)
    settings: type[_Settings]
    model: str
    unit: str
    layout: Callable[[Mapping[str, Any]], reports.Layout]
    head: bool = True  # takes a custom head (--head)
    outputs: type | None = None
    check: Callable[[Run], None] | None = None
    prepare: Callable[[Run], None] | None = None
    meta: Callable[[Run], dict[str, Any] | None] | None = None
    finish: Callable[[Run, Any], Any] | None = None

    def load(self, spec: ModelSpec, progress: bool = True) -> LoadedModel:
        """The task's model for ``spec``."""
        module, _, name = self.model.partition(":")
        return getattr(importlib.import_module(module), name).load(spec, progress=progress)


def _run_meta(run: Run) -> dict[str, Any]:
    """Model and settings, as localize and detect record them in their JSON documents."""
    return {"preset": run.model.preset.name, "checkpoint": str(run.model.weights),
            **run.settings.to_dict()}


# -- localize: window scores and timelines beside the segments --------------------------------
@dataclass(frozen=True)
class LocalizeOutputs:
    """``scores_out``: each video's window scores (csv or npz), to re-threshold without
    the network; ``plot``: a PNG timeline per video (needs matplotlib)."""

    scores_out: Path | None = None
    scores_format: ScoresFormat = ScoresFormat.CSV
    plot: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores_format", ScoresFormat.parse(self.scores_format))

    def folders(self) -> dict[str, Path | None]:
        return {"--scores-out": self.scores_out, "--plot": self.plot}


def _localize_check(run: Run) -> None:
    from .. import render  # numpy (and matplotlib on use): not at import
    from ..tasks.localize import check_columns  # torch: not at import

    check_columns(run.spec, run.settings)  # a typo in --classes fails before the model loads
    if run.outputs.plot is not None:
        render.require_matplotlib()


def _localize_finish(run: Run, result: Any) -> Any:
    from .. import render

    ws, outputs = getattr(result, "window_scores", None), run.outputs
    stem = run.batch.stems[result.video]
    try:
        if ws is not None and outputs.scores_out is not None:
            reports.write_window_scores(outputs.scores_out, stem, ws, outputs.scores_format)
    except OSError as exc:
        result = write_failed(result, "--scores-out", exc)
    try:
        if ws is not None and outputs.plot is not None:
            render.plot_timeline(outputs.plot / f"{stem}.png", result)
    except OSError as exc:
        result = write_failed(result, "--plot", exc)
    return result


# -- detect: drawn videos ----------------------------------------------------------------------
@dataclass(frozen=True)
class DetectOutputs:
    """``render``: boxes and the ``top`` actions drawn on every frame, FILE.mp4 for one
    video or a folder of ``<video>.mp4``."""

    render: Path | None = None
    top: int = 3


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


def _detect_prepare(run: Run) -> None:
    from ..persons import person_source  # numpy, OpenCV: not at import

    run.state["targets"] = render_targets(run.outputs.render, run.batch.inputs)
    run.job["source"] = person_source(run.settings)  # a bad proposals file fails here


def _detect_finish(run: Run, result: Any) -> Any:
    """Draw one video; a failed drawing marks the video failed but keeps its detections."""
    target = run.state["targets"].get(result.video)
    if result.status != "ok" or target is None:
        return result
    from ..render import render_detections  # numpy, OpenCV: not at import

    bar = progress_bar(result.frames, not run.options.progress or result.frames < 2,
                       "render", unit="frame", leave=False)
    try:
        render_detections(result.video, result, target,
                          threshold=run.settings.action_threshold,  # type: ignore[attr-defined]
                          top=run.outputs.top, progress=bar.update)
    except StcliError as exc:
        return dataclasses.replace(result, status="error", error=f"--render failed: {exc}")
    except OSError as exc:
        return write_failed(result, "--render", exc)
    finally:
        bar.close()
    return result


# -- features: one .npy and .json per video ----------------------------------------------------
@dataclass(frozen=True)
class FeatureOutputs:
    """``folder``: where ``<video>.npy`` (T, 2048) and ``<video>.json`` go (and a
    shard's merge data)."""

    folder: Path = Path("features")

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))

    def folders(self) -> dict[str, Path | None]:
        return {"--out": self.folder}

    @property
    def parts_folder(self) -> Path:
        return self.folder


def _features_prepare(run: Run) -> None:
    report_dir = run.options.report_dir
    if report_dir is not None and file_identity(report_dir) == file_identity(run.outputs.folder):
        raise UsageError(f"--report-dir {report_dir} is the --out folder, where each "
                         "video's .json sidecar goes: give another folder")


def _features_meta(run: Run) -> dict[str, Any]:
    model, protocol = run.model, run.model.preset.test
    return {"preset": model.preset.name, "checkpoint": str(model.weights),
            "checkpoint_sha256": model.weights_sha256,
            "input": {"clip_len": model.preset.clip_len,
                      "frame_interval": model.preset.frame_interval,
                      "short_side": protocol.short_side, "crop_size": protocol.crop_size},
            "settings": run.settings.to_dict()}


def _features_finish(run: Run, result: Any) -> Any:
    if result.status != "ok":
        return result
    try:
        path = reports.write_features(run.outputs.folder, run.batch.stems[result.video],
                                      result, run.meta)
    except OSError as exc:
        result = write_failed(result, "--out", exc)
    else:
        result = dataclasses.replace(result, output=str(path))
    return dataclasses.replace(result, features=None)  # written: let go


CLASSIFY = BatchCommand("classify", "recognition", ClassifySettings,
                        "stcli.tasks.classify:Recognizer", "view", lambda _: reports.CLASSIFY)
LOCALIZE = BatchCommand("localize", "recognition", LocalizeSettings,
                        "stcli.tasks.localize:Localizer", "window", lambda _: reports.LOCALIZE,
                        outputs=LocalizeOutputs, check=_localize_check, meta=_run_meta,
                        finish=_localize_finish)
DETECT = BatchCommand("detect", "detection", DetectSettings, "stcli.tasks.detect:Detector",
                      "keyframe", lambda s: reports.detect_layout(s["action_threshold"]),
                      head=False, outputs=DetectOutputs, prepare=_detect_prepare,
                      meta=_run_meta, finish=_detect_finish)
FEATURES = BatchCommand("features", "recognition", FeatureSettings,
                        "stcli.tasks.features:FeatureExtractor", "snippet",
                        lambda _: reports.FEATURES, head=False, outputs=FeatureOutputs,
                        prepare=_features_prepare, meta=_features_meta,
                        finish=_features_finish)
COMMANDS: dict[str, BatchCommand] = {c.name: c for c in (CLASSIFY, LOCALIZE, DETECT, FEATURES)}


def layout_of(command: str, settings: Mapping[str, Any]) -> reports.Layout:
    """The layout a run of ``command`` with ``settings`` (as recorded) wrote with."""
    if command not in COMMANDS:
        raise UsageError(f"merge: parts of '{command}' cannot be merged")
    return COMMANDS[command].layout(settings)
