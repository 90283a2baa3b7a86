"""stcli: SqueezeTime video action recognition as a library and a command-line tool.

    import stcli
    recognizer = stcli.load_recognizer("k400")
    for result in recognizer.classify(["a.mp4", "b.mp4"]):
        print(result)

Heavy dependencies (torch, decoders) load on first use, so ``import stcli`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, StcliError, UsageError, VideoError, WeightsError
from .presets import available_presets, load_preset
from .results import ClassScore, Prediction, VideoFailure

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "ClassScore", "Prediction", "Recognizer", "StcliError", "UsageError",
    "VideoError", "VideoFailure", "WeightsError", "__version__", "available_presets",
    "load_preset", "load_recognizer",
]

_LAZY = {"load_recognizer": "stcli.tasks.classify", "Recognizer": "stcli.tasks.classify"}

if TYPE_CHECKING:
    from .tasks.classify import Recognizer, load_recognizer


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stcli' has no attribute '{name}'")
