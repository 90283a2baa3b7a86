"""stcli: SqueezeTime video action recognition as a library and a command-line tool.

    import stcli
    recognizer = stcli.load_recognizer("k400")
    for result in recognizer.classify(["a.mp4", "b.mp4"]):
        print(result)

    localizer = stcli.load_localizer("k400")
    settings = stcli.LocalizeSettings(windows=(64, 128), min_score=0.3)
    for segment in localizer.localize("match.mp4", settings)[0].segments:
        print(segment.label, segment.start_s, segment.end_s, segment.score)

    detector = stcli.load_detector("ava21")
    for keyframe in detector.detect("clip.mp4")[0].keyframes:
        for person in keyframe.persons:
            print(keyframe.timestamp, person.box, person.above(0.5))

Every command of the CLI is one call here, with the same defaults: a loader taking the
model options (``ModelSpec`` fields: preset, checkpoint, head, device, backend, precision,
batch_size), then the task's method taking its settings object. Modules that need torch or
the decoders load on first use, so ``import stcli`` is cheap. ``run_batch`` runs a
whole batch as the CLI does (shards, resume, reports, ``--out`` and its recovery).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .choices import (
    AvaProtocol,
    Backend,
    Device,
    FeatureDtype,
    NmsMode,
    OutputFormat,
    Precision,
    Quantization,
    ReportFormat,
    ScoresFormat,
    SummaryFormat,
)
from .errors import (
    CheckpointError,
    PresetError,
    StcliError,
    StreamError,
    UsageError,
    VideoError,
    WeightsError,
)
from .presets import Preset, Protocol, Views, available_presets, load_preset
from .results import (
    ActionScore,
    ClassScore,
    Detection,
    Features,
    Keyframe,
    Localization,
    PersonActions,
    Prediction,
    Result,
    Segment,
    VideoFailure,
    WatchEnd,
    WatchEvent,
    WatchScore,
    WatchStart,
    WatchSummary,
)
from .settings import (
    ClassifySettings,
    DetectSettings,
    FeatureSettings,
    LocalizeSettings,
    ModelSpec,
    TimeRange,
    TrainHeadSettings,
    WatchSettings,
)
from .version import __version__

# Public names whose modules import torch, the decoders or onnx: loaded on first use.
_LAZY = {
    "LoadedModel": "stcli.loader",
    "Recognizer": "stcli.tasks.classify", "load_recognizer": "stcli.tasks.classify",
    "Localizer": "stcli.tasks.localize", "load_localizer": "stcli.tasks.localize",
    "WindowScores": "stcli.tasks.localize",
    "Detector": "stcli.tasks.detect", "load_detector": "stcli.tasks.detect",
    "FeatureExtractor": "stcli.tasks.features", "load_extractor": "stcli.tasks.features",
    "HeadTrainer": "stcli.tasks.train_head", "load_head_trainer": "stcli.tasks.train_head",
    "TrainClip": "stcli.tasks.train_head", "read_clips": "stcli.tasks.train_head",
    "Head": "stcli.heads", "TrainingReport": "stcli.heads", "fit_head": "stcli.heads",
    "load_head": "stcli.heads", "save_head": "stcli.heads",
    "ExportResult": "stcli.deploy.export", "export_model": "stcli.deploy.export",
    "QuantReport": "stcli.deploy.quantize",
    "BenchReport": "stcli.deploy.bench", "run_bench": "stcli.deploy.bench",
    "evaluate_localization": "stcli.evaluate.localization",
    "LocalizationReport": "stcli.evaluate.localization",
    "evaluate_ava": "stcli.evaluate.ava", "AvaReport": "stcli.evaluate.ava",
    "evaluate_classification": "stcli.evaluate.classification",
    "ClassificationReport": "stcli.evaluate.classification",
    "watch": "stcli.tasks.watch",
    "run_batch": "stcli.batch", "BatchOptions": "stcli.batch", "BatchSummary": "stcli.batch",
    "BatchCommand": "stcli.batch", "LocalizeOutputs": "stcli.batch",
    "DetectOutputs": "stcli.batch", "FeatureOutputs": "stcli.batch",
}

__all__ = [
    "ActionScore", "AvaProtocol", "AvaReport", "Backend", "BenchReport", "CheckpointError",
    "ClassScore", "ClassificationReport", "ClassifySettings", "DetectSettings", "Detection",
    "Detector", "Device", "ExportResult", "FeatureDtype", "FeatureExtractor", "FeatureSettings",
    "Features", "Head", "HeadTrainer", "Keyframe", "LoadedModel", "Localization",
    "LocalizationReport", "LocalizeSettings", "Localizer", "ModelSpec", "NmsMode",
    "OutputFormat", "PersonActions", "Precision", "Prediction", "Preset", "PresetError",
    "Protocol", "QuantReport", "Quantization", "Recognizer", "ReportFormat", "Result",
    "ScoresFormat", "Segment", "StcliError", "SummaryFormat", "TrainClip", "TrainHeadSettings",
    "TrainingReport", "UsageError", "VideoError", "VideoFailure", "WeightsError",
    "WindowScores", "StreamError", "WatchEnd", "WatchEvent", "WatchScore", "WatchSettings",
    "WatchStart", "WatchSummary", "watch", "__version__", "available_presets", "evaluate_ava",
    "evaluate_classification", "evaluate_localization", "export_model", "fit_head",
    "load_detector", "load_extractor", "load_head", "load_head_trainer", "load_localizer",
    "load_preset", "load_recognizer", "read_clips", "run_bench", "save_head",
    "run_batch", "BatchOptions", "BatchSummary", "BatchCommand", "LocalizeOutputs",
    "DetectOutputs", "FeatureOutputs", "TimeRange", "Views",
]

if TYPE_CHECKING:
    from .batch import (
        BatchCommand,
        BatchOptions,
        BatchSummary,
        DetectOutputs,
        FeatureOutputs,
        LocalizeOutputs,
        run_batch,
    )
    from .deploy.bench import BenchReport, run_bench
    from .deploy.export import ExportResult, export_model
    from .deploy.quantize import QuantReport
    from .evaluate.ava import AvaReport, evaluate_ava
    from .evaluate.classification import ClassificationReport, evaluate_classification
    from .evaluate.localization import LocalizationReport, evaluate_localization
    from .heads import Head, TrainingReport, fit_head, load_head, save_head
    from .loader import LoadedModel
    from .tasks.classify import Recognizer, load_recognizer
    from .tasks.detect import Detector, load_detector
    from .tasks.features import FeatureExtractor, load_extractor
    from .tasks.localize import Localizer, WindowScores, load_localizer
    from .tasks.train_head import HeadTrainer, TrainClip, load_head_trainer, read_clips
    from .tasks.watch import watch


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stcli' has no attribute '{name}'")
