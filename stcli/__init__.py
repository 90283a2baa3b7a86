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

Heavy dependencies (torch, decoders) load on first use, so ``import stcli`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, StcliError, UsageError, VideoError, WeightsError
from .presets import available_presets, load_preset
from .results import (
    ActionScore,
    ClassScore,
    Detection,
    Keyframe,
    Localization,
    PersonActions,
    Prediction,
    Segment,
    VideoFailure,
)

__version__ = "0.1.0"

__all__ = [
    "ActionScore", "CheckpointError", "ClassScore", "DetectSettings", "Detection", "Detector",
    "Keyframe", "Localization", "LocalizeSettings", "Localizer", "PersonActions", "Prediction",
    "Recognizer", "Segment", "StcliError", "UsageError", "VideoError", "VideoFailure",
    "WeightsError", "__version__", "available_presets", "load_detector", "load_localizer",
    "load_preset", "load_recognizer",
]

_LAZY = {
    "load_recognizer": "stcli.tasks.classify", "Recognizer": "stcli.tasks.classify",
    "load_localizer": "stcli.tasks.localize", "Localizer": "stcli.tasks.localize",
    "LocalizeSettings": "stcli.tasks.localize",
    "load_detector": "stcli.tasks.detect", "Detector": "stcli.tasks.detect",
    "DetectSettings": "stcli.tasks.detect",
}

if TYPE_CHECKING:
    from .tasks.classify import Recognizer, load_recognizer
    from .tasks.detect import Detector, DetectSettings, load_detector
    from .tasks.localize import Localizer, LocalizeSettings, load_localizer


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stcli' has no attribute '{name}'")
