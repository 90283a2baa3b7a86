"""Frame-index plans: which frames of a video each clip uses. Pure NumPy arithmetic.

Recognition follows mmaction2's ``SampleFrames`` in test mode, the sampler the official
SqueezeTime results were produced with, including its floating-point order of operations
(``arange(N) * (max_offset / (N - 1))``, then NumPy's round-half-to-even).
"""

from __future__ import annotations

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
