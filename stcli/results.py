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
    decoder: str | None = None  # which decoder read the file: decord or ffmpeg
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
    decoder: str | None = None  # which decoder read the file: decord or ffmpeg
    segments: list[Segment] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    # The per-window scores behind the segments (tasks.localize.WindowScores), for
    # --scores-out and --plot; not part of the JSON record.
    window_scores: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ActionScore:
    """One AVA action's sigmoid score for one person (``action_id`` 1..80)."""

    action_id: int
    label: str
    score: float


@dataclass(frozen=True)
class PersonActions:
    """One person at one keyframe: the box and every action's score, best first.

    ``box`` is ``(x1, y1, x2, y2)`` normalized to [0, 1] by the frame's width and height
    (AVA's convention); ``person_score`` is the detector's or proposal's confidence
    (``None`` when the proposal file gives none).
    """

    box: tuple[float, float, float, float]
    person_score: float | None
    actions: tuple[ActionScore, ...] = ()

    def above(self, threshold: float) -> list[ActionScore]:
        """The actions scoring at least ``threshold``, best first."""
        return [a for a in self.actions if a.score >= threshold]


@dataclass(frozen=True)
class Keyframe:
    """One keyframe: its time (seconds, with any ``--time-offset``), frame index, persons.

    An empty ``persons`` means no person was found there: a result, not an error.
    """

    timestamp: float
    frame: int
    persons: tuple[PersonActions, ...] = ()


@dataclass(frozen=True)
class Detection:
    """A video that went through spatio-temporal detection, keyframes in time order."""

    video: str
    video_id: str
    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    preset: str
    persons_from: str
    seconds: float
    decoder: str | None = None  # which decoder read the file: decord or ffmpeg
    keyframes: list[Keyframe] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None


@dataclass(frozen=True)
class Features:
    """A video's snippet features ``(T, 2048)`` and each snippet's start and end (s)."""

    video: str
    video_id: str
    frames: int
    fps: float
    duration_s: float
    snippets: int
    preset: str
    seconds: float
    decoder: str | None = None  # which decoder read the file: decord or ffmpeg
    status: str = "ok"
    error: str | None = None
    output: str | None = None  # the .npy file, once written
    # Arrays, not part of the JSON record (written as .npy by the CLI).
    features: Any = field(default=None, repr=False, compare=False)
    starts_s: Any = field(default=None, repr=False, compare=False)
    ends_s: Any = field(default=None, repr=False, compare=False)


Result = Prediction | Localization | Detection | Features | VideoFailure


# -- stcli watch: one event per step of a live source ------------------------------------------
@dataclass(frozen=True)
class WatchScore:
    """The newest clip scored at ``stream_time`` (seconds of the source): its top-k of the
    probabilities averaged over the last clips, and ``latency_ms`` from the capture of
    the clip's last frame to this result."""

    stream_time: float
    wall_time: str  # ISO 8601, UTC
    latency_ms: float
    topk: list[ClassScore] = field(default_factory=list)


@dataclass(frozen=True)
class WatchStart:
    """A class scored at or above the threshold for the minimum duration: a segment opened
    at ``start_s``, known at ``stream_time``."""

    label: str
    class_id: int
    start_s: float
    stream_time: float
    wall_time: str
    score: float  # mean averaged score so far


@dataclass(frozen=True)
class WatchEnd:
    """A segment closed: its class fell below the threshold at ``end_s`` (or the stream
    ended); ``score`` is its mean averaged score."""

    label: str
    class_id: int
    start_s: float
    end_s: float
    wall_time: str
    score: float


@dataclass(frozen=True)
class WatchSummary:
    """The last event of a watch: what was read and scored, and why it ended
    (``end of stream``, ``duration``, ``interrupted`` or ``error``)."""

    source: str
    preset: str
    ended: str
    stream_seconds: float
    frames_read: int
    clips_scored: int
    steps_skipped: int  # steps replaced by a newer one while the network was busy
    frames_dropped: int  # frames no scored clip covered
    reconnects: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    wall_time: str


WatchEvent = WatchScore | WatchStart | WatchEnd | WatchSummary
