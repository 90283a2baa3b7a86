"""Frame-index plans (mmaction2 ``SampleFrames`` in test mode), with hand-worked arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

# Aliased: names starting with ``test_`` would be collected by pytest as tests.
from stcli.video.sampling import clip_span
from stcli.video.sampling import test_clip_indices as clip_indices
from stcli.video.sampling import test_clip_offsets as clip_offsets
from tests.reference import FIXTURES

# One 16 x 4 clip starting at frame 0: 0, 4, ..., 60.
BASE = [4 * t for t in range(16)]


def _rows(offsets: list[int], num_frames: int) -> list[list[int]]:
    return [[(o + b) % num_frames for b in BASE] for o in offsets]


def test_clip_span() -> None:
    assert clip_span(16, 4) == 61
    assert clip_span(16, 1) == 16
    assert clip_span(1, 4) == 1
    assert clip_span(8, 8) == 57


def test_shape_and_dtype() -> None:
    idx = clip_indices(300, 16, 4, 10)
    assert idx.shape == (10, 16)
    assert idx.dtype == np.int64


def test_shorter_than_one_span_loops_modulo_frames() -> None:
    # F = 20 < 61: max_offset = 0, every clip starts at 0 and wraps around modulo 20.
    row = [0, 4, 8, 12, 16, 0, 4, 8, 12, 16, 0, 4, 8, 12, 16, 0]
    assert clip_indices(20, 16, 4, 10).tolist() == [row] * 10
    # F = 7: 4t mod 7.
    row7 = [0, 4, 1, 5, 2, 6, 3, 0, 4, 1, 5, 2, 6, 3, 0, 4]
    assert clip_indices(7, 16, 4, 3).tolist() == [row7] * 3
    # F = 57 (the AVA demo video): only the last index 60 wraps, to 3.
    assert clip_indices(57, 16, 4, 1).tolist() == [BASE[:-1] + [3]]


def test_exactly_one_span() -> None:
    # F = 61 frames is exactly one 16x4 span: every clip is 0, 4, ..., 60 and nothing wraps.
    assert clip_indices(61, 16, 4, 10).tolist() == [BASE] * 10
    assert clip_indices(61, 16, 4, 1).tolist() == [BASE]


def test_one_frame_more_than_a_span() -> None:
    # F = 62: max_offset = 1; k / 9 for k = 0..9 rounds to 0 for k <= 4, to 1 from k = 5.
    assert clip_offsets(62, 61, 10).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    idx = clip_indices(62, 16, 4, 10)
    assert idx.tolist() == [BASE] * 5 + [[b + 1 for b in BASE]] * 5
    assert idx.max() == 61


def test_single_clip_takes_the_middle() -> None:
    # N = 1: offset = max_offset // 2 (floor division, no rounding).
    assert clip_offsets(100, 61, 1).tolist() == [19]  # max_offset 39
    assert clip_offsets(64, 61, 1).tolist() == [1]  # max_offset 3
    assert clip_offsets(62, 61, 1).tolist() == [0]  # max_offset 1
    assert clip_offsets(20, 61, 1).tolist() == [0]  # shorter than a span
    assert clip_indices(280, 16, 4, 1).tolist() == [[109 + b for b in BASE]]


def test_ten_clips_evenly_spread() -> None:
    # F = 106: max_offset = 45, offset_between = 5 exactly.
    assert clip_offsets(106, 61, 10).tolist() == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    idx = clip_indices(106, 16, 4, 10)
    assert idx.tolist() == _rows([0, 5, 10, 15, 20, 25, 30, 35, 40, 45], 106)
    assert idx[-1, -1] == 105  # the last clip ends on the last frame


def test_rounding_is_half_to_even() -> None:
    # F = 70, N = 3: max_offset 9, offsets 0, 4.5, 9 -> 4.5 rounds to 4 (even), not 5.
    assert clip_offsets(70, 61, 3).tolist() == [0, 4, 9]
    # F = 63, N = 5: 0, 0.5, 1, 1.5, 2 -> 0, 0, 1, 2, 2.
    assert clip_offsets(63, 61, 5).tolist() == [0, 0, 1, 2, 2]
    # F = 66, N = 3: 0, 2.5, 5 -> 0, 2, 5.
    assert clip_offsets(66, 61, 3).tolist() == [0, 2, 5]


def test_two_clips_take_the_first_and_last_span() -> None:
    assert clip_indices(100, 16, 4, 2).tolist() == [BASE, [39 + b for b in BASE]]
    assert clip_indices(61, 16, 4, 2).tolist() == [BASE, BASE]


def test_long_video() -> None:
    # F = 100000: max_offset 99939, offset_between 11104.333...
    # k * 11104.333 = 0, 11104.33, 22208.67, 33313, 44417.33, 55521.67, 66626, 77730.33,
    # 88834.67, 99939.
    offsets = [0, 11104, 22209, 33313, 44417, 55522, 66626, 77730, 88835, 99939]
    assert clip_offsets(100_000, 61, 10).tolist() == offsets
    idx = clip_indices(100_000, 16, 4, 10)
    assert idx.tolist() == _rows(offsets, 100_000)
    assert idx[-1, -1] == 99_999


def test_single_frame_video() -> None:
    assert clip_indices(1, 16, 4, 10).tolist() == [[0] * 16] * 10
    assert clip_indices(1, 16, 4, 1).tolist() == [[0] * 16]


def test_other_clip_geometry() -> None:
    # 8 frames at interval 2 (span 15) over 30 frames, 3 clips: max_offset 15 -> 0, 7.5 -> 8, 15.
    assert clip_indices(30, 8, 2, 3).tolist() == [
        [0, 2, 4, 6, 8, 10, 12, 14],
        [8, 10, 12, 14, 16, 18, 20, 22],
        [15, 17, 19, 21, 23, 25, 27, 29],
    ]


PIPELINE_CASES = json.loads((FIXTURES / "golden_pipeline.json").read_text())["cases"]


@pytest.mark.parametrize("case", PIPELINE_CASES, ids=lambda c: f"{c['video']}-{c['clips']}")
def test_golden_pipeline_frame_indices(case: dict) -> None:
    idx = clip_indices(case["total_frames"], 16, 4, case["clips"])
    assert idx.tolist() == case["frame_inds"]


def test_golden_pipeline_covers_both_protocols_and_videos() -> None:
    seen = {(c["total_frames"], c["clips"]) for c in PIPELINE_CASES}
    assert seen == {(280, 10), (280, 1), (57, 10), (57, 1)}


@pytest.mark.parametrize(
    ("num_frames", "num_clips"), [(0, 10), (-5, 10), (100, 0), (100, -1)]
)
def test_bad_inputs_raise_value_error(num_frames: int, num_clips: int) -> None:
    with pytest.raises(ValueError):
        clip_indices(num_frames, 16, 4, num_clips)
