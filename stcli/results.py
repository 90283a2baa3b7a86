"""Result records returned by the library: plain dataclasses, no formatting.

``reports.py`` is the only module that knows how these become CSV or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClassScore:
    """One entry of a top-k list; ``rank`` starts at 1, ``score`` is a probability."""

    rank: int
    class_id: int
    label: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """A video that was classified: its probe facts and its top-k classes."""

    video: str
    frames: int
    fps: float
    duration_s: float
    views: str
    preset: str
    seconds: float
    topk: list[ClassScore] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None


@dataclass(frozen=True)
class VideoFailure:
    """A video that could not be processed, with a one-line reason."""

    video: str
    error: str
    preset: str
    seconds: float = 0.0
    status: str = "error"



@dataclass(frozen=True)
class Segment:
    """One detected action instance in an untrimmed video (times in seconds)."""

    label: str
    class_id: int
    start_s: float
    end_s: float
    score: float


@dataclass(frozen=True)
class Localization:
    """A video that was localized: its probe facts and its segments, best first."""

    video: str
    video_id: str
    frames: int
    fps: float
    duration_s: float
    windows: int
    preset: str
    seconds: float
    segments: list[Segment] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    # The per-window scores behind the segments (tasks.localize.WindowScores), for
    # --scores-out and --plot; not part of the JSON record.
    window_scores: Any = field(default=None, repr=False, compare=False)


Result = Prediction | Localization | VideoFailure
