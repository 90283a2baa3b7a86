"""What a run is asked to do: one frozen dataclass per task, and the model to run it with.

The CLI builds these once from its options and passes them whole to the task and on to its
helpers; the library takes the same objects with the same defaults. Each validates itself
when made, so a bad value fails before a model loads or a video is opened. Values may be
given as the CLI spells them (``windows="64,128"``, ``device="cpu"``); they are stored
parsed (a tuple, an Enum member).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

from .choices import Backend, Device, Executor, FeatureDtype, NmsMode, Precision
from .errors import UsageError, extra_missing
from .presets import Preset, Protocol, Views


def _set(obj: object, name: str, value: object) -> None:
    """Store a normalized value on a frozen dataclass (only from ``__post_init__``)."""
    object.__setattr__(obj, name, value)


def _path_text(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")


def parse_time(value: str | float, option: str = "time") -> float:
    """Seconds from ``12.5`` or a clock time ``[HH:]MM:SS[.fff]`` (``1:02:03.5``,
    ``02:03``): non-negative and finite; a :class:`UsageError` naming ``option`` else."""
    text = str(value).strip()
    clock = _CLOCK.fullmatch(text)
    try:
        if clock:
            hours, minutes, seconds = int(clock[1] or 0), int(clock[2]), float(clock[3])
            if (clock[1] and minutes >= 60) or seconds >= 60:
                raise ValueError
            result = hours * 3600 + minutes * 60 + seconds
        else:
            result = float(text)
    except ValueError:
        result = float("nan")
    if not (result >= 0 and result != float("inf")):
        raise UsageError(f"{option} '{text}': give seconds (12.5) or [HH:]MM:SS[.fff] "
                         "(1:02:03.5), at least 0")
    return result


class TimeRange(NamedTuple):
    """The part of each video to analyse, in seconds (``--start``, ``--end``; None: the
    video's own start or end): ``start <= t < end``."""

    start: float | None = None
    end: float | None = None

    @classmethod
    def parse(cls, start: str | float | None, end: str | float | None) -> TimeRange:
        """Both bounds parsed (``parse_time``) and checked: ``end`` after ``start``."""
        parsed = cls(*(None if value is None else parse_time(value, f"--{name}")
                       for name, value in (("start", start), ("end", end))))
        if parsed.start is not None and parsed.end is not None and parsed.end <= parsed.start:
            raise UsageError(f"--end {parsed.end:g} must be after --start {parsed.start:g}")
        return parsed


def _check_range(settings: Any) -> None:
    """Store a settings object's ``start`` and ``end`` parsed and checked, once."""
    start, end = TimeRange.parse(settings.start, settings.end)
    _set(settings, "start", start)
    _set(settings, "end", end)


class _Settings:
    """``to_dict`` shared by the settings classes: JSON-able values, tuples as lists."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings, as recorded in outputs."""
        def plain(value: Any) -> Any:
            if isinstance(value, tuple):
                return list(value)
            return os.fspath(value) if isinstance(value, os.PathLike) else value

        return {k: plain(v) for k, v in asdict(self).items()}  # type: ignore[call-overload]

    def input_files(self) -> tuple[str, ...]:
        """Files the settings name whose contents change the results (a resumed run must
        notice when they change)."""
        return ()

    def time_range(self) -> TimeRange:
        """``(start, end)`` seconds of the part of each video to analyse (``--start``,
        ``--end``; None: the video's own); ``(None, None)`` for settings without them."""
        return TimeRange(getattr(self, "start", None), getattr(self, "end", None))

    @classmethod
    def pick(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The entries of ``values`` that are fields of this class (the CLI's options)."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return {k: v for k, v in values.items() if k in names}


@dataclass(frozen=True)
class ModelSpec(_Settings):
    """Which network runs, with which weights, where and how.

    ``preset`` None is the task's default (``presets.DEFAULT_PRESETS``); ``checkpoint``
    None is the preset's cached (or downloaded) weights, or an ``.onnx`` file from
    ``stcli export``; ``head`` a ``NAME.head`` folder from ``stcli train-head``.
    """

    preset: str | None = None
    checkpoint: str | os.PathLike[str] | None = None
    head: str | os.PathLike[str] | None = None
    device: Device = Device.AUTO
    backend: Backend = Backend.AUTO
    precision: Precision = Precision.FP32
    batch_size: int = 8  # clips per network call

    def __post_init__(self) -> None:
        _set(self, "device", Device.parse(self.device))
        _set(self, "backend", Backend.parse(self.backend))
        _set(self, "precision", Precision.parse(self.precision))
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be at least 1")


@dataclass(frozen=True)
class ExecutorSettings(_Settings):
    """Where the per-video work runs (``stcli.executors``): ``local`` in this process, or
    ``ray``: ``workers`` actors (None: as many as the cluster's CPUs hold) of
    ``threads_per_worker`` threads each, on the cluster at ``ray_address`` (None:
    ``$RAY_ADDRESS``, else a local cluster started for the run). Not part of a run's
    fingerprint: every executor gives the same records."""

    executor: Executor = Executor.LOCAL
    ray_address: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1

    def __post_init__(self) -> None:
        _set(self, "executor", Executor.parse(self.executor))
        if self.executor == Executor.LOCAL:
            given = [flag for flag, value in (("--ray-address", self.ray_address),
                                              ("--workers", self.workers),
                                              ("--threads-per-worker",
                                               None if self.threads_per_worker == 1
                                               else self.threads_per_worker))
                     if value is not None]
            if given:
                verb = "goes" if len(given) == 1 else "go"
                raise UsageError(f"{', '.join(given)} {verb} with --executor ray")
        elif importlib.util.find_spec("ray") is None:  # before the model loads, not after
            raise extra_missing("--executor ray", "ray")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers {self.workers}: must be at least 1")
        if self.threads_per_worker < 1:
            raise UsageError(f"--threads-per-worker {self.threads_per_worker}: must be at "
                             "least 1")


@dataclass(frozen=True)
class ClassifySettings(_Settings):
    """``stcli classify``: the views of the protocol and how many labels to report.

    ``views`` None is the preset's official test protocol; ``fast`` its validation
    setting (1 clip, short side 256, centre crop 224).
    ``start`` and ``end`` (seconds, or ``"[HH:]MM:SS[.fff]"``) analyse only that part of
    each video, as if it had been cut out; reported times stay the original video's."""

    views: str | None = None
    fast: bool = False
    top_k: int = 5
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        _check_range(self)
        if self.views is not None:
            _set(self, "views", Views(self.views))
        if self.top_k < 1:
            raise UsageError("--top-k must be at least 1")

    def protocol(self, preset: Preset) -> Protocol:
        """The protocol these settings ask of ``preset``."""
        return preset.protocol(self.views, self.fast)


def parse_windows(text: str) -> tuple[int, ...]:
    """``"64,128"`` -> ``(64, 128)``."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--windows '{text}': give window lengths in frames, e.g. 64 or 64,128")
    return values


DEFAULT_OVERLAP = 0.75  # windows of one length, 3/4 overlapping, when no stride is given
DEFAULT_STRIDE = 4  # frames between feature snippets when no rate is given


@dataclass(frozen=True)
class LocalizeSettings(_Settings):
    """Every knob of ``stcli localize``; recorded in the JSON output.

    Windows of each length in ``windows`` (frames; one 16-frame clip each), ``overlap``
    apart (None: 0.75, stored as such) or every ``stride_s`` seconds, not both: then
    ``overlap`` stays None, as it does not apply; ``classes`` (names or ids, comma-separated) and
    ``label_map`` (CSV folding checkpoint classes into your labels) choose the columns;
    the rest turns window scores into segments (``segments.windows_to_segments``).
    ``start`` and ``end`` (seconds, or ``"[HH:]MM:SS[.fff]"``) analyse only that part of
    each video, as if it had been cut out; reported times stay the original video's.
    """

    windows: tuple[int, ...] = (64,)
    # None means "not given", so that a given one can be refused beside stride_s.
    overlap: float | None = None
    stride_s: float | None = None
    classes: str | None = None
    label_map: str | None = None
    min_score: float = 0.001
    smooth: int = 1
    nms: NmsMode = NmsMode.SOFT
    nms_iou: float = 0.4
    sigma: float = 0.5
    max_segments: int = 200
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        _check_range(self)
        if isinstance(self.windows, str):
            _set(self, "windows", parse_windows(self.windows))
        _set(self, "windows", tuple(int(w) for w in self.windows))
        _set(self, "label_map", _path_text(self.label_map))
        if not self.windows or any(w < 1 for w in self.windows):
            raise UsageError(f"--windows {self.windows}: window lengths are positive frames")
        if self.overlap is not None and self.stride_s is not None:
            raise UsageError("--overlap and --stride-s conflict: give one")
        if self.stride_s is None and self.overlap is None:
            _set(self, "overlap", DEFAULT_OVERLAP)
        if self.overlap is not None and not 0 <= self.overlap < 1:
            raise UsageError(f"--overlap {self.overlap}: must be in [0, 1)")
        if self.stride_s is not None and not self.stride_s > 0:
            raise UsageError(f"--stride-s {self.stride_s}: must be positive")
        _set(self, "nms", NmsMode.parse(self.nms))
        if self.max_segments < 1 or self.smooth < 1:
            raise UsageError("--max-segments and --smooth must be at least 1")
        if not self.sigma > 0:
            raise UsageError(f"--sigma {self.sigma}: Soft-NMS sigma must be positive")
        if not 0 < self.nms_iou <= 1:
            raise UsageError(f"--nms-iou {self.nms_iou}: must be in (0, 1]")

    def input_files(self) -> tuple[str, ...]:
        return (self.label_map,) if self.label_map else ()

    def segment_options(self) -> dict[str, Any]:
        """The keyword arguments of ``segments.windows_to_segments`` these settings fix."""
        return {k: getattr(self, k) for k in (
            "min_score", "smooth", "nms", "nms_iou", "sigma", "max_segments")}


def parse_timestamps(text: str) -> tuple[float, ...]:
    """``"1,2.5,7"`` -> ``(1.0, 2.5, 7.0)``: seconds, non-negative, sorted, distinct."""
    values = set()
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--timestamps '{text}': '{item.strip()}' is not a number of "
                             "seconds") from None
        if not value >= 0:
            raise UsageError(f"--timestamps '{text}': {item.strip()} is negative")
        values.add(value)
    return tuple(sorted(values))


ONNX_LAYOUTS = ("yolov8", "yolov5", "xyxy")


def onnx_detector(spec: str) -> tuple[str, str | None] | None:
    """``(model path, layout or None)`` of an ``onnx:PATH[#LAYOUT]`` person detector (the
    prefix in any case), None for any other (``hog``). The one reading of the option: the
    file detect runs must be the file a resumed run checks for changes."""
    spec = spec.strip()
    if spec[:5].lower() != "onnx:":
        return None
    path = spec[5:].strip()
    head, sep, tail = path.rpartition("#")
    if sep and tail.lower() in ONNX_LAYOUTS:
        return head, tail.lower()
    return path, None


@dataclass(frozen=True)
class DetectSettings(_Settings):
    """Every knob of ``stcli detect`` that changes the results; recorded in the JSON.

    Keyframes every ``keyframe_interval`` seconds (None: 1.0, or the proposals' own
    times), or at ``timestamps``; ``time_offset`` is added to reported times (AVA clips
    start at second 900). Persons come from ``proposals`` (a file) or the
    ``person_detector`` (``hog`` or ``onnx:MODEL.onnx``) at ``person_threshold``;
    actions scoring at least ``action_threshold`` are reported.
    ``start`` and ``end`` (seconds, or ``"[HH:]MM:SS[.fff]"``) analyse only that part of
    each video, as if it had been cut out; reported times stay the original video's.
    Keyframe intervals count from ``start``.
    """

    keyframe_interval: float | None = None
    timestamps: tuple[float, ...] | None = None
    time_offset: float = 0.0
    proposals: str | None = None
    person_detector: str = "hog"
    person_threshold: float | None = None
    action_threshold: float = 0.5
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        _check_range(self)
        if isinstance(self.timestamps, str):
            _set(self, "timestamps", parse_timestamps(self.timestamps))
        elif self.timestamps is not None:
            _set(self, "timestamps", tuple(float(t) for t in self.timestamps))
        _set(self, "proposals", _path_text(self.proposals))
        if self.keyframe_interval is not None and not self.keyframe_interval > 0:
            raise UsageError(f"--keyframe-interval {self.keyframe_interval}: must be positive")
        if self.keyframe_interval is not None and self.timestamps is not None:
            raise UsageError("give --keyframe-interval or --timestamps, not both")
        if not 0.0 <= self.action_threshold <= 1.0:
            raise UsageError(f"--action-threshold {self.action_threshold}: must be in [0, 1]")

    def input_files(self) -> tuple[str, ...]:
        onnx = onnx_detector(self.person_detector)
        return tuple(f for f in (self.proposals, onnx and onnx[0]) if f)


@dataclass(frozen=True)
class FeatureSettings(_Settings):
    """Every knob of ``stcli features``; recorded in each video's JSON sidecar: snippets
    every ``stride`` frames (None: 4, stored as such) or ``fps`` a second, not both (then
    ``stride`` stays None), saved as ``dtype``.
    ``start`` and ``end`` (seconds, or ``"[HH:]MM:SS[.fff]"``) analyse only that part of
    each video, as if it had been cut out; reported times stay the original video's."""

    # None means "not given", so that a given one can be refused beside fps.
    stride: int | None = None
    fps: float | None = None
    dtype: FeatureDtype = FeatureDtype.FLOAT32
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        _check_range(self)
        if self.stride is not None and self.fps is not None:
            raise UsageError("--stride and --fps conflict: give one")
        if self.stride is None and self.fps is None:
            _set(self, "stride", DEFAULT_STRIDE)
        if self.stride is not None and self.stride < 1:
            raise UsageError(f"--stride {self.stride}: must be at least one frame")
        if self.fps is not None and not self.fps > 0:
            raise UsageError(f"--fps {self.fps}: must be positive")
        _set(self, "dtype", FeatureDtype.parse(self.dtype))


@dataclass(frozen=True)
class TrainHeadSettings(_Settings):
    """``stcli train-head``: how clips are sampled and how the linear head is fitted.

    Each training clip gives ``views`` (clips x crops) feature rows; ``val_fraction`` of
    each label's clips validate and stop training early; ``background`` names a label
    used only to reject windows in localization. Features are cached in ``cache``
    (None: ``<weights cache>/features``) unless ``no_cache``.
    """

    views: str = "3x1"
    background: str | None = None
    val_fraction: float = 0.2
    seed: int = 0
    weight_decay: float = 1e-4
    cache: str | None = None
    no_cache: bool = False

    def __post_init__(self) -> None:
        _set(self, "views", Views(self.views))
        _set(self, "cache", _path_text(self.cache))
        if self.no_cache and self.cache is not None:
            raise UsageError("--cache and --no-cache conflict: give one")
        if not 0 <= self.val_fraction < 1:
            raise UsageError(f"--val-fraction {self.val_fraction}: must be at least 0 and "
                             "below 1")

    def cache_folder(self, default: Path) -> Path | None:
        """Where features are cached: ``cache``, else ``default``; None with ``no_cache``."""
        if self.no_cache:
            return None
        return Path(self.cache) if self.cache else default


@dataclass(frozen=True)
class WatchSettings(_Settings):
    """``stcli watch``: how a live source is read and scored.

    Every ``every`` seconds of stream time the newest clip is scored; the probabilities of
    the last ``average`` clips are averaged and their ``top_k`` classes reported. With
    ``threshold``, a class whose averaged score stays at or above it for ``min_duration``
    seconds opens a segment, closed when it drops below. ``duration`` (stream seconds)
    ends the run; a file is read as fast as scoring allows unless ``realtime`` (its own
    rate). Network reads give up after ``timeout`` seconds without data; ``reconnect``
    attempts follow a lost or refused connection."""

    every: float = 0.5
    average: int = 1
    top_k: int = 5
    threshold: float | None = None
    min_duration: float = 0.0
    duration: float | None = None
    realtime: bool = False
    reconnect: int = 0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.every > 0:
            raise UsageError(f"--every {self.every}: must be positive (seconds)")
        if self.average < 1 or self.top_k < 1:
            raise UsageError("--average and --top-k must be at least 1")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise UsageError(f"--threshold {self.threshold}: must be in [0, 1]")
        if self.min_duration < 0:
            raise UsageError(f"--min-duration {self.min_duration}: must not be negative")
        if self.duration is not None and not self.duration > 0:
            raise UsageError(f"--duration {self.duration}: must be positive (seconds)")
        if self.reconnect < 0:
            raise UsageError(f"--reconnect {self.reconnect}: must not be negative")
        if not self.timeout > 0:
            raise UsageError(f"--timeout {self.timeout}: must be positive (seconds)")
