"""Frame-index plans: which frames of a video each clip uses. Pure NumPy arithmetic.

Four plans: the recognition test protocol (``test_clip_indices``), sliding windows for
temporal localization (``sliding_windows``), the official clips around AVA keyframes
(``keyframe_times`` + ``keyframe_indices``) and feature snippets (``snippet_starts`` +
``clips_from``); plus ``release_points``, which says when a streamed frame is no longer
needed by any clip.

Recognition follows mmaction2's ``SampleFrames`` in test mode, the sampler the official
SqueezeTime results were produced with, including its floating-point order of operations
(``arange(N) * (max_offset / (N - 1))``, then NumPy's round-half-to-even).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def clip_span(clip_len: int, frame_interval: int) -> int:
    """Frames covered by one clip, first to last inclusive."""
    return (clip_len - 1) * frame_interval + 1


def test_clip_offsets(num_frames: int, span: int, num_clips: int) -> np.ndarray:
    """Start frame of each of ``num_clips`` clips spread evenly over the video."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if num_clips < 1:
        raise ValueError("num_clips must be at least 1")
    max_offset = max(num_frames - span, 0)
    if num_clips == 1:
        return np.array([max_offset // 2], dtype=np.int64)
    # Same float expression as the reference: offset_between first, then the product.
    offset_between = max_offset / float(num_clips - 1)
    return np.round(np.arange(num_clips) * offset_between).astype(np.int64)


def test_clip_indices(
    num_frames: int, clip_len: int = 16, frame_interval: int = 4, num_clips: int = 10
) -> np.ndarray:
    """``(num_clips, clip_len)`` frame indices; a video shorter than one span loops."""
    offsets = test_clip_offsets(num_frames, clip_span(clip_len, frame_interval), num_clips)
    indices = offsets[:, None] + np.arange(clip_len, dtype=np.int64)[None, :] * frame_interval
    return np.mod(indices, num_frames)


@dataclass(frozen=True)
class WindowPlan:
    """Sliding windows over a video, one 16-frame clip each, ordered by start then length.

    ``indices[w]`` are window ``w``'s frames (spread evenly over its ``lengths[w]`` frames:
    every 4th for the default 64-frame window, as the checkpoints were trained);
    ``scale_ids[w]`` says which of the requested lengths it has.
    """

    starts: np.ndarray  # (W,) first frame
    lengths: np.ndarray  # (W,) frames covered; shorter than asked only for a short video
    scale_ids: np.ndarray  # (W,)
    indices: np.ndarray  # (W, clip_len)

    def __len__(self) -> int:
        return len(self.starts)


def sliding_windows(
    num_frames: int, lengths: Sequence[int] = (64,), overlap: float = 0.75,
    stride: int | None = None, clip_len: int = 16,
) -> WindowPlan:
    """Windows of each length in ``lengths`` (frames), ``stride`` frames apart (default:
    ``length * (1 - overlap)``). The last window of each length is aligned with the end of
    the video so that the tail is covered; a video shorter than a window gets one window
    spanning all of it."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    starts, spans, scales = [], [], []
    for scale, length in enumerate(lengths):
        if length < 1:
            raise ValueError(f"window lengths must be positive, got {length}")
        step = stride if stride is not None else max(1, round(length * (1 - overlap)))
        if step < 1:
            raise ValueError(f"the stride must be at least one frame, got {step}")
        span = min(length, num_frames)
        first = list(range(0, num_frames - span + 1, step))
        if first[-1] != num_frames - span:
            first.append(num_frames - span)
        starts += first
        spans += [span] * len(first)
        scales += [scale] * len(first)
    starts_a, spans_a, scales_a = (np.array(x, dtype=np.int64) for x in (starts, spans, scales))
    order = np.lexsort((spans_a, starts_a))
    starts_a, spans_a, scales_a = starts_a[order], spans_a[order], scales_a[order]
    offsets = (np.arange(clip_len, dtype=np.int64)[None, :] * spans_a[:, None]) // clip_len
    return WindowPlan(starts_a, spans_a, scales_a, starts_a[:, None] + offsets)


def keyframe_times(duration_s: float, interval_s: float) -> np.ndarray:
    """Keyframe times ``0, interval, 2 * interval, ...`` up to the end of the video."""
    if interval_s <= 0:
        raise ValueError(f"the keyframe interval must be positive, got {interval_s}")
    count = int(np.floor(duration_s / interval_s + 1e-9)) + 1
    times = np.arange(count, dtype=np.float64) * interval_s
    # A keyframe exactly at the end has no frame: keep times strictly inside the video.
    return times[times < duration_s - 1e-9] if duration_s > 0 else times[:1]


def clips_from(
    starts: np.ndarray, num_frames: int, clip_len: int = 16, frame_interval: int = 4
) -> np.ndarray:
    """``(K, clip_len)`` frames of the clip starting at each of ``starts``, every
    ``frame_interval``-th frame, clamped to the video (a short video repeats its ends)."""
    offsets = np.arange(clip_len, dtype=np.int64) * frame_interval
    return np.clip(np.asarray(starts, dtype=np.int64)[:, None] + offsets, 0, num_frames - 1)


def keyframe_indices(
    centres: np.ndarray, num_frames: int, clip_len: int = 16, frame_interval: int = 4
) -> np.ndarray:
    """``(K, clip_len)`` frames of the clip around each keyframe, clamped to the video.

    The official AVA test clips: ``c - 31, c - 27, ..., c + 29`` for a keyframe at frame
    ``c`` (16 frames at interval 4). mmaction2's ``SampleAVAFrames`` (test mode, rawframes
    with ``start_index=1``) adds ``start_index`` twice (mmaction2 issue #726), so its clip
    sits one frame after a clip centred on ``c``; the checkpoints were trained and tested
    with that clip, so stcli takes it too (``pipeline.md``, AVA section).
    """
    first = np.asarray(centres, dtype=np.int64) - (clip_len // 2) * frame_interval + 1
    return clips_from(first, num_frames, clip_len, frame_interval)


def snippet_starts(num_frames: int, span: int, stride: int) -> np.ndarray:
    """First frame of every feature snippet: every ``stride`` frames while a whole ``span``
    fits; a video shorter than one span gets one snippet, from frame 0."""
    return np.arange(0, max(num_frames - span, 0) + 1, stride, dtype=np.int64)


def release_points(clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For streaming ``clips`` ``(K, T)`` in frame order: the order in which clips become
    complete (by last frame) and, at each step of that order, the first frame any clip
    still waiting needs (frames before it can be dropped)."""
    order = np.argsort(clips.max(axis=1), kind="stable")
    firsts = clips[order].min(axis=1)
    return order, np.minimum.accumulate(firsts[::-1])[::-1]
