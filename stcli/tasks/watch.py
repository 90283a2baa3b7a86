"""Live source -> events: the newest clip scored every few seconds of stream time.

``watch(source, settings, model)`` reads a camera, a network stream or a file through
``live.ClipFeed`` (one ffmpeg process, a reader thread, a ring buffer of the last clip
span), scores the newest clip at every ``settings.every`` seconds of stream time with the
preprocessing of ``classify`` (short side of the preset's test protocol, one centre crop,
OpenCV resize on uint8), averages the probabilities of the last ``settings.average``
clips and yields events: a :class:`~stcli.results.WatchScore` per step, segment
starts and ends when a threshold is given, and a :class:`~stcli.results.WatchSummary`
last. Ctrl-C (or SIGTERM) inside the loop, or thrown into the generator, still yields the
closing events and the summary, then is raised again; so is a stream that failed after it
had started. A source that never delivered a frame raises ``StreamError`` at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ..errors import StreamError
from ..loader import LoadedModel
from ..pipeline import centre_crop
from ..presets import Preset
from ..results import (
    WatchEnd,
    WatchEvent,
    WatchScore,
    WatchStart,
    WatchSummary,
)
from ..settings import ModelSpec, WatchSettings
from ..video.live import Clip, ClipFeed, LiveSource

# Re-exported: the CLI checks a source before the model loads, through this task.
from ..video.live import check_source as check_source

log = logging.getLogger(__name__)
LATENCY_WINDOW = 10_000  # latencies kept for the summary's percentiles (flat memory)
_EPS = 1e-6


def wall_time() -> str:
    """Now, ISO 8601 in UTC with milliseconds (``2026-01-02T03:04:05.678Z``)."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return now.replace("+00:00", "Z")


def frame_preparer(preset: Preset) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 ``(H, W, 3)`` frame -> the network's ``(3, K, K)`` input: the short side of
    the preset's test protocol, one centre crop, normalized; what ``classify --views 1x1``
    does to each frame of its clip."""
    by_size: dict[tuple[int, int], Callable[[np.ndarray], np.ndarray]] = {}

    def prepare(pixels: np.ndarray) -> np.ndarray:
        height, width = pixels.shape[:2]
        if (width, height) not in by_size:
            # One crop of crop_size <= short_side always fits.
            by_size[(width, height)] = centre_crop(preset, width, height)[0]
        return by_size[(width, height)](pixels[None])[0]

    return prepare


@dataclass
class _Run:
    """A class at or above the threshold since ``start``."""

    start: float
    total: float = 0.0
    steps: int = 0
    started: bool = False

    @property
    def mean(self) -> float:
        return round(self.total / max(self.steps, 1), 6)


@dataclass
class OnlineSegments:
    """Averaged scores -> segment events, step by step: a class opens a segment once it
    has stayed at or above ``threshold`` for ``min_duration`` seconds (the start event
    says when it began) and closes it at the first step below."""

    threshold: float
    min_duration: float
    labels: list[str]
    runs: dict[int, _Run] = field(default_factory=dict)

    def update(self, t: float, probs: np.ndarray) -> Iterator[WatchStart | WatchEnd]:
        """The events of the step at stream time ``t``. A segment counts as started from
        its start event's yield on, so that one stopped in between (Ctrl-C while events
        are shown) closes exactly the segments whose start was seen."""
        above = set(np.flatnonzero(probs >= self.threshold).tolist())
        for cid in sorted(above):
            run = self.runs.setdefault(cid, _Run(t))
            run.total += float(probs[cid])
            run.steps += 1
        for cid in [c for c in self.runs if c not in above]:
            run = self.runs.pop(cid)
            if run.started:
                yield self._end(cid, run, t)
        for cid in sorted(above):
            run = self.runs[cid]
            if not run.started and t - run.start >= self.min_duration - _EPS:
                # The event is made before the flag is set: a signal while it is being
                # made must not leave a segment started whose start was never shown.
                start = WatchStart(self.labels[cid], cid, run.start, t, wall_time(), run.mean)
                run.started = True
                yield start

    def close(self, t: float) -> list[WatchEnd]:
        """End every open segment at ``t`` (the stream stopped)."""
        ends = [self._end(cid, run, t) for cid, run in self.runs.items() if run.started]
        self.runs.clear()
        return ends

    def _end(self, cid: int, run: _Run, t: float) -> WatchEnd:
        return WatchEnd(self.labels[cid], cid, run.start, t, wall_time(), run.mean)


class _Scorer:
    """The network's side of a watch: clips in, events out, counts for the summary."""

    def __init__(self, model: LoadedModel, settings: WatchSettings) -> None:
        self.model, self.settings = model, settings
        self.history: deque[np.ndarray] = deque(maxlen=settings.average)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.clips = self.dropped = 0
        self.last_index, self.last_time, self.connection = -1, 0.0, -1
        self.segments = None if settings.threshold is None else OnlineSegments(
            settings.threshold, settings.min_duration, model.labels)

    def score(self, clip: Clip) -> Iterator[WatchEvent]:
        batch = np.stack([f.pixels for f in clip.frames], axis=1)[None]
        probs = self.model.probabilities([batch])[0]
        latency = (time.monotonic() - clip.frames[-1].captured) * 1000.0
        self.latencies.append(latency)
        self.clips += 1
        # Frames between the last scored clip and this one that no clip covered (not
        # those before the first whole clip of a connection: nothing could score them).
        if clip.frames[0].connection == self.connection:
            self.dropped += max(0, clip.frames[0].index - self.last_index - 1)
        self.last_index, self.last_time = clip.frames[-1].index, clip.time
        self.connection = clip.frames[-1].connection
        self.history.append(probs)
        averaged = np.mean(self.history, axis=0)
        topk = self.model.top_classes(averaged, self.settings.top_k, digits=6)
        yield WatchScore(clip.time, wall_time(), round(latency, 3), topk)
        if self.segments is not None:
            yield from self.segments.update(clip.time, averaged)

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return round(float(np.percentile(np.asarray(self.latencies), q)), 3)


def watch(source: str, settings: WatchSettings | None, model: LoadedModel, *,
          on_frame: Callable[[np.ndarray, float, float], None] | None = None,
          stop: threading.Event | None = None) -> Iterator[WatchEvent]:
    """Events of ``source`` (a file, ``/dev/video0`` or a stream URL) as they come; see
    the module's description. Setting ``stop`` (from any thread, or a signal handler)
    ends the watch cleanly after the current step: open segments end, the summary says
    ``interrupted``. Close the generator to stop at once without a summary.
    ``on_frame(pixels, stream_time, fps)`` sees every frame as read (RGB uint8, not to
    be changed), on the reader thread."""
    settings = settings or WatchSettings()
    preset = model.preset
    live = LiveSource(source, timeout_s=settings.timeout, reconnect=settings.reconnect,
                      realtime=settings.realtime, threads=model.decode_threads)
    feed = ClipFeed(live, preset.clip_len, preset.frame_interval, settings.every,
                    frame_preparer(preset), settings.duration, on_frame, stop)
    scorer = _Scorer(model, settings)
    failure: BaseException | None = None
    ended = "end of stream"
    try:
        for clip in feed:
            yield from scorer.score(clip)
            if feed.stop.is_set():
                break
        if feed.stop.is_set():
            ended = "interrupted"
        elif feed.reached_until:
            ended = "duration"
    except StreamError as exc:
        if feed.frames_read == 0:
            raise  # never started: a setup error, nothing to sum up
        failure, ended = exc, "error"
    except KeyboardInterrupt as exc:
        failure, ended = exc, "interrupted"
    finally:
        feed.close()
    if not scorer.clips and ended == "end of stream":
        log.warning("%s: the stream ended before its first whole clip (%d frames, %d read)",
                    source, feed.span, feed.frames_read)
    if scorer.segments is not None:
        yield from scorer.segments.close(scorer.last_time)
    yield WatchSummary(
        source=str(source), preset=preset.name, ended=ended,
        stream_seconds=round(feed.last_time + (1 / live.fps if live.fps else 0.0), 6),
        frames_read=feed.frames_read, clips_scored=scorer.clips,
        steps_skipped=feed.skipped, frames_dropped=scorer.dropped,
        reconnects=live.reconnects, latency_p50_ms=scorer.percentile(50),
        latency_p95_ms=scorer.percentile(95), wall_time=wall_time())
    if failure is not None:
        raise failure


def load_watcher(spec: ModelSpec, progress: bool = True) -> LoadedModel:
    """The recognition model ``watch`` scores with."""
    return LoadedModel.load(spec, progress=progress)

