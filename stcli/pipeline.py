"""Running videos through a network: the pieces every task composes.

- ``run_videos`` / ``VideoJob``: one result per path, in order, the next video decoded
  on a background thread (``Background``) while the network works on the current one; a
  video that fails (``VideoError``) becomes a ``VideoFailure`` record, anything else is a
  bug and propagates. A ``VideoJob`` is a task's per-video function, whatever runs it.
- Recognition views (``decode_views`` / ``assemble_views``): the protocol's clips, each
  distinct frame decoded, resized and normalized once, views cut when needed.
- Streams (``stream_frames`` / ``complete_clips`` / ``scan_windows``): one sequential
  pass over a long video feeding planned clips (sliding windows, snippets, keyframes),
  each frame kept only while a pending clip needs it.
- Progress (``Progress`` / ``video_progress``): a caller's hook told how many of a
  video's clips went through the network; the library itself never prints.

Decoding functions are pure (no network work) so they can run on the background thread;
resizing and the network stay on the caller's thread. Clips are numpy float32 arrays: no
torch here, so that an onnxruntime run never imports it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import VideoError
from .presets import Preset, Protocol
from .results import Result, VideoFailure
from .video.frames import VideoInfo, open_video
from .video.sampling import release_points, test_clip_indices
from .video.transforms import (
    Box,
    crop_boxes,
    normalize,
    resize_frames,
    resized_size,
    stack_views,
    view_plan,
)

T = TypeVar("T")
Paths = str | Path | Iterable[str | Path]  # one video or many, as every task takes them
# ``on_progress(video, done, total)``: ``done`` of the video's ``total`` clips (views,
# windows, snippets, keyframes) went through the network; first called with done 0 once
# the total is known. A long video is minutes of work: this is how a caller can show it.
Progress = Callable[[str, int, int], None]
Tick = Callable[[int, int], None]  # one video's ``(done, total)``


def video_progress(on_progress: Progress | None, path: str | Path) -> Tick:
    """``on_progress`` bound to one video, or a no-op when there is no hook."""
    if on_progress is None:
        return lambda done, total: None
    video = str(path)
    return lambda done, total: on_progress(video, done, total)


# -- many videos ---------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoJob:
    """A task's per-video work, whichever executor runs it: ``decode(path)`` (pure
    decoding, run on a background thread), then ``process(path, decoded, started)`` on
    the caller's thread; a failure becomes a ``VideoFailure`` of ``preset``. The local
    executor runs many paths in one process (``run``); a Ray worker runs one path at a
    time (``run_one``): the same function, so the same record."""

    decode: Callable[[str], Iterator[Any]]
    process: Callable[[str, Iterator[Any], float], Result]
    preset: str

    def run(self, paths: Paths) -> Iterator[Result]:
        """One result per path, in order, the next video decoded while this one runs."""
        return run_videos(paths, self.decode, self.process, self.preset)

    def run_one(self, path: str | Path) -> Result:
        """The result of one video."""
        return next(self.run([path]))


def run_videos(
    paths: Paths, decode: Callable[[str], Iterator[Any]],
    process: Callable[[str, Iterator[Any], float], Result], preset: str,
) -> Iterator[Result]:
    """One result per path (one path or many), in order; a video that fails with a
    ``VideoError`` becomes a ``VideoFailure`` of ``preset``.

    ``decode(path)`` is pure decoding and runs on a background thread; the next video's
    decoding starts as soon as the current one's is used up, so it overlaps the network's
    work on the current one. ``process(path, decoded, started)`` does the rest on this
    thread. Any other exception is a bug, not a bad video: it ends the run.
    """
    paths = [str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
    jobs: dict[int, Background] = {}

    def start(i: int) -> None:
        if i < len(paths) and i not in jobs:
            jobs[i] = Background(decode(paths[i]), on_end=lambda: start(i + 1))

    start(0)
    try:
        for i, path in enumerate(paths):
            started = time.perf_counter()
            try:
                yield process(path, jobs[i], started)
            except VideoError as exc:
                yield VideoFailure(path, exc.reason, preset,
                                   round(time.perf_counter() - started, 4))
            finally:
                jobs.pop(i).close()
                start(i + 1)  # no-op unless this one failed before its decoding ended
    finally:
        for job in jobs.values():
            job.close()


class Background(Iterator[T]):
    """Iterate ``iterable`` on a daemon thread, staying at most ``ahead`` items in front.

    An exception raised by the producer is raised again by ``next`` in the consumer.
    Meant for decoding, which runs in native code without the GIL. Keep torch work off
    this thread: a second thread running torch ops gets its own OpenMP team, and on a
    2-core machine the two teams slowed the network by ~15% (benchmarks/classify.py).
    """

    _END = object()

    def __init__(
        self, iterable: Iterable[T], ahead: int = 4, name: str = "stcli-decode",
        on_end: Callable[[], object] | None = None,
    ) -> None:
        self._on_end = on_end  # called once, by the consumer, when the items run out
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, args=(iterable,), name=name,
                                        daemon=True)
        self._thread.start()

    def _produce(self, iterable: Iterable[T]) -> None:
        try:
            for item in iterable:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put((None, exc))
            return
        self._put((self._END, None))

    def _put(self, entry: tuple[object, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item, error = self._queue.get()
        if error is not None:
            self._finished = True
            raise error
        if item is self._END:
            self._finished = True
            if self._on_end is not None:
                self._on_end()
            raise StopIteration
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (it ends at its next item) and drop what it queued."""
        self._stop.set()
        self._finished = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break


# -- recognition views -----------------------------------------------------------------------
# A frame time within 1 us of a bound counts as on it: "12.5" and 300 / 24 may differ in
# the last bit.
_ON_BOUND_S = 1e-6


def segment_frames(path: str | Path, info: VideoInfo,
                   segment: tuple[float | None, float | None]) -> tuple[int, int]:
    """The frames ``[first, stop)`` of a ``(start_s, end_s)`` segment of a video (None: its
    own start or end): frame ``i``, shown at ``info.timestamps[i]`` (``i / fps`` at a
    constant rate), belongs to it when ``start_s <= t < end_s``. The one conversion of a
    time range to frames, for ``--start``/``--end`` and training segments alike."""
    start_s, end_s = segment
    if start_s is None and end_s is None:
        return 0, info.num_frames
    if info.fps <= 0:
        raise VideoError(path, "has no frame rate; cannot cut a segment by time")
    times = info.timestamps
    first = 0 if start_s is None else int(np.searchsorted(times, start_s - _ON_BOUND_S))
    stop = info.num_frames if end_s is None else int(
        np.searchsorted(times, end_s - _ON_BOUND_S))
    if first >= info.num_frames:
        raise VideoError(path, f"starts at {start_s:g} s, after the video's last frame "
                         f"({times[-1]:.3f} s of {info.duration_s:.3f}): give an earlier "
                         "--start")
    if first >= stop:
        raise VideoError(path, f"segment {start_s}..{end_s} s holds no frame of the video "
                         f"({info.duration_s:.3f} s)")
    return first, stop


def cut_info(path: str | Path, info: VideoInfo,
             segment: tuple[float | None, float | None]) -> VideoInfo:
    """``info`` of the segment's frames as a video of their own (``VideoInfo.cut``)."""
    first, stop = segment_frames(path, info, segment)
    return info if (first, stop) == (0, info.num_frames) else info.cut(first, stop)


@dataclass
class PreparedVideo:
    """A decoded video ready for the network: each distinct frame once, resized and
    normalized, plus the plan that cuts the protocol's views out of those frames."""

    info: VideoInfo
    frames: np.ndarray  # (distinct frames, 3, h, w) float32, normalized
    plan: list[tuple[Box, np.ndarray]]
    started: float

    @property
    def clips(self) -> np.ndarray:
        """All views at once, ``(views, 3, T, K, K)``."""
        return stack_views(self.frames, self.plan)

    def batches(self, size: int) -> Iterator[np.ndarray]:
        """The views in batches of ``size``, cut only when needed (bounded memory)."""
        for start in range(0, len(self.plan), size):
            yield stack_views(self.frames, self.plan[start : start + size])


def decode_views(path: str | Path, preset: Preset, protocol: Protocol,
                 segment: tuple[float | None, float | None] = (None, None)) -> Iterator[Any]:
    """Yield the video's info and clip rows, then its distinct frames in chunks.

    ``segment`` (start, end seconds; None = the video's own) restricts the clips to part
    of the video, as if it had been cut there; the info is then the part's
    (``VideoInfo.cut``). Pure decoding (no torch).
    """
    with open_video(path) as video:
        info = cut_info(path, video.info, segment)
        indices = info.first_frame + test_clip_indices(
            info.num_frames, preset.clip_len, preset.frame_interval, protocol.num_clips)
        # Each distinct frame is decoded, resized and normalized once, however many clips
        # and crops share it.
        distinct, rows = np.unique(indices, return_inverse=True)
        yield info, rows.reshape(indices.shape)
        yield from video.read_chunks(distinct, info.frames_per_chunk())


def assemble_views(path: str | Path, decoded: Iterator[Any], preset: Preset,
                   protocol: Protocol, started: float) -> PreparedVideo:
    """Resize and normalize what ``decode_views`` yields; plan the protocol's views."""
    info, rows = next(decoded)
    size = resized_size(info.width, info.height, protocol.short_side)
    frames = np.concatenate([resize_frames(chunk, size) for chunk in decoded])
    frames = normalize(frames, preset.mean, preset.std, inplace=True)
    try:
        boxes = crop_boxes(*size, protocol.crop_size, protocol.crops)
    except ValueError as exc:
        raise VideoError(path, f"cannot take the crops of this protocol: {exc}") from exc
    return PreparedVideo(info, frames, view_plan(rows, boxes), started)


def prepare_views(path: str | Path, preset: Preset, protocol: Protocol,
                  segment: tuple[float | None, float | None] = (None, None)) -> PreparedVideo:
    """Decode and preprocess every view of one video (or of a segment of it) here."""
    return assemble_views(path, decode_views(path, preset, protocol, segment), preset,
                          protocol, time.perf_counter())


# -- streams of planned clips ----------------------------------------------------------------
@dataclass
class StreamPlan:
    """What a sequential pass will deliver: ``clips`` ``(K, T)`` frame indices, the
    distinct frames ``needed`` in order, and the planner's ``context`` (window plan,
    keyframe times, ...)."""

    info: VideoInfo
    clips: np.ndarray
    needed: np.ndarray
    context: Any = None


def stream_frames(path: str | Path, purpose: str,
                  plan: Callable[[VideoInfo], tuple[Any, ...]], threads: int = 0,
                  segment: tuple[float | None, float | None] = (None, None)) -> Iterator[Any]:
    """Yield a :class:`StreamPlan`, then the frames it needs in chunks, from one
    sequential pass over the video. ``plan(info)`` returns ``(clips, context)`` or
    ``(clips, context, frames)`` with frames needed besides the clips' (keyframe images);
    ``purpose`` names what is placed in time ("windows", "keyframes", ...) in the error
    for a video without a frame rate; ``threads`` caps ffmpeg's decoding threads (0: its
    own choice). ``segment`` (start, end seconds) plans over that part only, as a video
    of its own (``VideoInfo.cut``: indices from its first frame; ``first_frame`` and
    ``start_s`` lead back to the file), and decoding starts there. Pure decoding (no
    torch)."""
    with open_video(path, sequential=True, threads=threads) as video:
        if video.info.fps <= 0:
            raise VideoError(path, f"has no frame rate; cannot place {purpose} in time")
        info = cut_info(path, video.info, segment)
        clips, context, *also = plan(info)
        needed = np.unique(np.concatenate([np.ravel(clips), *also]))
        yield StreamPlan(info, clips, needed, context)
        yield from video.read_chunks(needed + info.first_frame, info.frames_per_chunk())


def complete_clips(
    path: str | Path, chunks: Iterable[np.ndarray], needed: np.ndarray, clips: np.ndarray,
    prepare: Callable[[np.ndarray, np.ndarray], Iterable[Any]],
) -> Iterator[tuple[int, dict[int, Any]]]:
    """Assemble clips from a frame stream, holding only the frames still needed.

    ``chunks`` delivers the frames ``needed`` (sorted, distinct) in order; ``prepare(rows,
    chunk)`` turns a chunk into one item per frame (resized, normalized, ...). Yields
    ``(clip, frames)`` as soon as every frame of ``clips[clip]`` is in, with ``frames``
    mapping frame index -> item (read it before the next step: frames no pending clip
    needs are then dropped). Memory is bounded by the clips' span, not the video's length.
    """
    order, keep_from = release_points(clips)
    last = clips.max(axis=1)
    frames: dict[int, Any] = {}
    consumed, ready = 0, 0
    for chunk in chunks:
        rows = needed[consumed : consumed + len(chunk)]
        consumed += len(chunk)
        frames.update(zip(rows.tolist(), prepare(rows, chunk), strict=True))
        while ready < len(order) and last[order[ready]] <= rows[-1]:
            yield int(order[ready]), frames
            ready += 1
        if ready < len(order):
            for i in [i for i in frames if i < keep_from[ready]]:
                del frames[i]
    if ready < len(order):
        raise VideoError(path, f"decoding ended early: {len(order) - ready} clips left")


def centre_crop(preset: Preset, width: int,
                height: int) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """``(prepare, K)``: ``prepare`` turns uint8 ``(F, height, width, 3)`` frames into the
    network's ``(F, 3, K, K)`` input by the preset's test protocol with one centre crop
    (short side resized by OpenCV on uint8, cropped, normalized), what ``classify --views
    1x1`` does to each frame. ``ValueError`` when the crop does not fit."""
    protocol = preset.test
    size = resized_size(width, height, protocol.short_side)
    box = crop_boxes(*size, protocol.crop_size, 1)[0]

    def prepare(frames: np.ndarray) -> np.ndarray:
        return normalize(resize_frames(frames, size, box), preset.mean, preset.std,
                         inplace=True)

    return prepare, box[2]


def scan_windows(
    path: str | Path, decoded: Iterable[np.ndarray], plan: StreamPlan, preset: Preset,
    batch_size: int, compute: Callable[[np.ndarray], np.ndarray], width: int,
    tick: Tick | None = None,
) -> np.ndarray:
    """``compute`` over the centre-cropped clip of every row of ``plan.clips``, streamed:
    ``decoded`` yields the frames ``plan.needed`` in chunks; each frame is resized (short
    side of the preset's test protocol) and cropped once and kept only while a pending
    clip needs it. ``tick(done, total)`` follows the clips through the network. Returns
    ``(K, width)``."""
    info, indices = plan.info, plan.clips
    try:
        prepare_frames, k = centre_crop(preset, info.width, info.height)
    except ValueError as exc:
        raise VideoError(path, f"cannot take a centre crop: {exc}") from exc
    out = np.zeros((len(indices), width), dtype=np.float32)
    pending: list[int] = []
    done = 0
    tick = tick or (lambda done, total: None)
    tick(0, len(indices))
    # Clips are written straight into one reused batch buffer: one copy per frame.
    batch = np.empty((batch_size, 3, indices.shape[1], k, k), np.float32)

    def flush() -> None:
        nonlocal done
        if pending:
            out[pending] = compute(batch[: len(pending)])
            done += len(pending)
            tick(done, len(indices))
            pending.clear()

    def prepare(rows: np.ndarray, chunk: np.ndarray) -> np.ndarray:
        return prepare_frames(chunk)

    for w, frames in complete_clips(path, decoded, plan.needed, indices, prepare):
        slot = batch[len(pending)]
        for t, i in enumerate(indices[w].tolist()):
            slot[:, t] = frames[i]
        pending.append(w)
        if len(pending) == batch_size:
            flush()
    flush()
    return out
