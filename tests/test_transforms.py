"""Resize geometry, crops, bilinear resizing, normalization and view ordering."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from stcli.video.transforms import (
    crop_boxes,
    normalize,
    resize_frames,
    resized_size,
    stack_views,
    view_plan,
)
from tests.reference import FIXTURES

PIPELINE_CASES = json.loads((FIXTURES / "golden_pipeline.json").read_text())["cases"]
# Both videos in golden_pipeline.json are 340x256 (shared/reference/README.md).
VIDEO_WH = (340, 256)


# --- resized_size -------------------------------------------------------------------------


def test_resized_size_landscape() -> None:
    # 224 / 256 = 0.875; 340 * 0.875 = 297.5 -> int(298.0) = 298.
    assert resized_size(340, 256, 224) == (298, 224)
    assert resized_size(340, 256, 256) == (340, 256)
    # 1920x1080 -> 256 / 1080 * 1920 = 455.11 -> 455.
    assert resized_size(1920, 1080, 256) == (455, 256)
    # 320x240 -> 286: 320 * 286 / 240 = 381.33 -> 381.
    assert resized_size(320, 240, 286) == (381, 286)


def test_resized_size_portrait() -> None:
    assert resized_size(256, 340, 224) == (224, 298)
    assert resized_size(1080, 1920, 256) == (256, 455)
    assert resized_size(180, 320, 224) == (224, 398)  # 320 * 224 / 180 = 398.2


def test_resized_size_square() -> None:
    assert resized_size(100, 100, 224) == (224, 224)
    assert resized_size(256, 256, 224) == (224, 224)


def test_resized_size_rounds_half_up_not_to_even() -> None:
    # factor 0.5: 597 * 0.5 = 298.5 -> int(299.0) = 299 (round() would give 298).
    assert resized_size(597, 448, 224) == (299, 224)
    assert resized_size(448, 597, 224) == (224, 299)
    # 341 * 0.5 = 170.5 -> 171.
    assert resized_size(341, 200, 100) == (171, 100)


# --- crop_boxes ---------------------------------------------------------------------------


def test_center_crop_landscape_and_portrait() -> None:
    # (298 - 224) // 2 = 37; (340 - 224) // 2 = 58, (256 - 224) // 2 = 16.
    assert crop_boxes(298, 224, 224, 1) == [(37, 0, 224, 224)]
    assert crop_boxes(340, 256, 224, 1) == [(58, 16, 224, 224)]
    assert crop_boxes(256, 340, 224, 1) == [(16, 58, 224, 224)]
    # Odd leftovers floor: (225 - 224) // 2 = 0, (301 - 224) // 2 = 38.
    assert crop_boxes(301, 225, 224, 1) == [(38, 0, 224, 224)]
    assert crop_boxes(224, 224, 224, 1) == [(0, 0, 224, 224)]


def test_three_crop_landscape_start_end_middle() -> None:
    # step = (298 - 224) // 2 = 37: left 0, right 74, middle 37.
    assert crop_boxes(298, 224, 224, 3) == [(0, 0, 224, 224), (74, 0, 224, 224), (37, 0, 224, 224)]
    # odd leftover: step = (299 - 224) // 2 = 37 -> the "end" crop is at 74, not flush at 75.
    assert crop_boxes(299, 224, 224, 3) == [(0, 0, 224, 224), (74, 0, 224, 224), (37, 0, 224, 224)]
    # HMDB51 protocol: 381x286, crop 286, step 47.
    assert crop_boxes(381, 286, 286, 3) == [(0, 0, 286, 286), (94, 0, 286, 286), (47, 0, 286, 286)]


def test_three_crop_portrait_top_bottom_middle() -> None:
    assert crop_boxes(224, 298, 224, 3) == [(0, 0, 224, 224), (0, 74, 224, 224), (0, 37, 224, 224)]
    # 180x320 portrait video at short side 224 -> 224x398; step (398 - 224) // 2 = 87.
    assert crop_boxes(224, 398, 224, 3) == [
        (0, 0, 224, 224), (0, 174, 224, 224), (0, 87, 224, 224),
    ]


def test_three_crop_square_frame() -> None:
    assert crop_boxes(224, 224, 224, 3) == [(0, 0, 224, 224)] * 3


@pytest.mark.parametrize(("w", "h", "k"), [(298, 224, 200), (340, 256, 224), (256, 340, 224)])
def test_three_crop_needs_short_side_equal_to_crop(w: int, h: int, k: int) -> None:
    with pytest.raises(ValueError, match="short side"):
        crop_boxes(w, h, k, 3)


@pytest.mark.parametrize("crops", [0, 2, 5, 10])
def test_crop_count_must_be_one_or_three(crops: int) -> None:
    with pytest.raises(ValueError, match="crops must be 1 or 3"):
        crop_boxes(298, 224, 224, crops)


def _protocol_sizes(protocol: str) -> tuple[int, int]:
    short = int(re.search(r"Resize\(-1,\s*(\d+)\)", protocol).group(1))
    crop = int(re.search(r"Crop(\d+)", protocol).group(1))
    return short, crop


@pytest.mark.parametrize(
    "case", PIPELINE_CASES, ids=lambda c: f"{c['video']}-{c['clips']}x{c['crops']}"
)
def test_golden_pipeline_geometry(case: dict) -> None:
    short, crop = _protocol_sizes(case["protocol"])
    wh = resized_size(*VIDEO_WH, short)
    assert list(wh) == case["resized_wh"]
    boxes = crop_boxes(*wh, crop, case["crops"])
    assert len(boxes) == case["crops"]
    assert len(case["views"]) == case["clips"] * case["crops"]
    for v, view in enumerate(case["views"]):
        # crop-major order: view v = crop v // clips, clip v % clips
        assert (view["crop"], view["clip"]) == (v // case["clips"], v % case["clips"])
        assert list(boxes[view["crop"]]) == view["box"]
        assert view["box"][2:] == case["input_hw"]


# --- resize_frames ------------------------------------------------------------------------


def test_resize_frames_no_resize_is_a_layout_change() -> None:
    frames = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)  # (F, H, W, C)
    out = resize_frames(frames, (4, 3))
    assert out.shape == (2, 3, 3, 4)
    assert out.dtype == np.float32
    assert np.array_equal(out, frames.transpose(0, 3, 1, 2).astype(np.float32))
    assert out[1, 2, 0, 3].item() == frames[1, 0, 3, 2]


def test_resize_frames_downscale_by_two_averages_blocks_and_rounds() -> None:
    # 4x4 -> 2x2 with half-pixel centres: source x = (d + 0.5) * 2 - 0.5 = 0.5, 2.5, so each
    # output pixel is the mean of one 2x2 block, rounded to an integer.
    c0 = np.array(
        [[1, 2, 0, 0],
         [3, 5, 0, 1],
         [255, 254, 100, 101],
         [255, 255, 102, 102]], dtype=np.uint8,
    )
    frame = np.stack([c0, 255 - c0, np.full_like(c0, 9)], axis=-1)[None]
    out = resize_frames(frame, (2, 2))
    assert out.shape == (1, 3, 2, 2)
    # block means 11/4 = 2.75, 1/4 = 0.25, 1019/4 = 254.75, 405/4 = 101.25
    assert out[0, 0].tolist() == [[3.0, 0.0], [255.0, 101.0]]
    # 255 - x: 252.25, 254.75, 0.25, 153.75
    assert out[0, 1].tolist() == [[252.0, 255.0], [0.0, 154.0]]
    assert out[0, 2].tolist() == [[9.0, 9.0], [9.0, 9.0]]


def test_resize_frames_upscale_half_pixel_centres() -> None:
    # 2x2 -> 3x3: source x = (d + 0.5) * 2/3 - 0.5 = -1/6 (clamped to 0), 0.5, 7/6 (past the
    # last pixel, so the last pixel): 1-D result [p0, (p0 + p1) / 2, p1].
    c0 = np.array([[0, 100], [50, 250]], dtype=np.uint8)
    c2 = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    frame = np.stack([c0, np.full_like(c0, 7), c2], axis=-1)[None]
    out = resize_frames(frame, (3, 3))
    assert out.shape == (1, 3, 3, 3)
    assert out[0, 0].tolist() == [[0, 50, 100], [25, 100, 175], [50, 150, 250]]
    assert out[0, 1].tolist() == [[7] * 3] * 3
    assert out[0, 2].tolist() == [[10, 15, 20], [20, 25, 30], [30, 35, 40]]


def test_resize_frames_fractional_weights_width_only() -> None:
    # 1x3 -> 1x2: scale 1.5, source x = (d + 0.5) * 1.5 - 0.5 = 0.25, 1.75, so the outputs are
    # 0.75 * p0 + 0.25 * p1 and 0.25 * p1 + 0.75 * p2; the height (1) is unchanged.
    row = np.array([[10, 13, 200]], dtype=np.uint8)  # 10.75 -> 11, 153.25 -> 153
    frame = np.stack([row, 255 - row, np.array([[4, 8, 100]], np.uint8)], axis=-1)[None]
    out = resize_frames(frame, (2, 1))
    assert out.shape == (1, 3, 1, 2)
    assert out[0, :, 0].tolist() == [[11.0, 153.0], [244.0, 102.0], [5.0, 77.0]]


def test_resize_frames_rounds_like_opencv_on_uint8() -> None:
    # 1x4 -> 1x3: scale 4/3, source x = (d + 0.5) * 4/3 - 0.5 = 1/6, 1.5, 17/6. OpenCV's
    # uint8 INTER_LINEAR (mmcv's, the reference's) weighs with 11-bit fixed point (1/6 ->
    # 341/2048, 5/6 -> 1707/2048) and rounds halves up; the official input holds its values.
    c0 = np.array([[49, 65, 137, 26]], dtype=np.uint8)
    c1 = np.array([[0, 96, 1, 0]], dtype=np.uint8)
    frame = np.stack([c0, c1, 255 - c0], axis=-1)[None]
    out = resize_frames(frame, (3, 1))
    # d = 2: 137/6 + 26 * 5/6 = 44.5 exactly, but (137 * 341 + 26 * 1707) / 2048 = 44.48 -> 44
    # (a float resize gives 44.50001 -> 45); and 255 - that: 210.52 -> 211 (float: 210).
    assert out[0, 0, 0].tolist() == [52.0, 101.0, 44.0]
    # d = 1: (96 + 1) / 2 = 48.5 -> 49, half up (rounding half to even would give 48).
    assert out[0, 1, 0].tolist() == [16.0, 49.0, 0.0]
    assert out[0, 2, 0].tolist() == [203.0, 154.0, 211.0]


def test_resize_frames_has_no_antialiasing() -> None:
    # 1x8 -> 1x2: source x = (d + 0.5) * 4 - 0.5 = 1.5, 5.5; pixels 0, 3, 4 and 7 are ignored
    # (an antialiased resize would average all eight).
    row = np.array([[255, 10, 20, 255, 255, 30, 42, 255]], dtype=np.uint8)
    frame = np.stack([row, row, row], axis=-1)[None]
    out = resize_frames(frame, (2, 1))
    assert out[0, 0, 0].tolist() == [15.0, 36.0]


# --- normalize ----------------------------------------------------------------------------


def test_normalize_per_channel_on_axis_one() -> None:
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1) * np.ones((2, 3, 4, 5),
                                                                           np.float32)
    out = normalize(x, mean=(1.0, 0.0, 7.0), std=(2.0, 4.0, 0.5))
    assert out.shape == (2, 3, 4, 5) and out.dtype == np.float32
    assert np.array_equal(out[:, 0], np.zeros((2, 4, 5)))
    assert np.array_equal(out[:, 1], np.full((2, 4, 5), 0.5))
    assert np.array_equal(out[:, 2], np.full((2, 4, 5), -8.0))
    same = normalize(x, mean=(1.0, 0.0, 7.0), std=(2.0, 4.0, 0.5), inplace=True)
    assert same is x and np.array_equal(same, out)


def test_normalize_clip_layout_and_official_constants() -> None:
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    x = np.zeros((1, 3, 16, 2, 2), np.float32)
    x[:, 0] = 123.675 + 58.395
    x[:, 1] = 116.28
    x[:, 2] = 103.53 - 2 * 57.375
    out = normalize(x, mean, std)
    assert out.shape == (1, 3, 16, 2, 2)
    np.testing.assert_allclose(out[:, 0], np.ones((1, 16, 2, 2)), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], np.zeros((1, 16, 2, 2)), atol=1e-6)
    np.testing.assert_allclose(out[:, 2], np.full((1, 16, 2, 2), -2.0), rtol=1e-6)


# --- view_plan / stack_views --------------------------------------------------------------


def test_view_plan_is_crop_major() -> None:
    rows = np.array([[0, 1], [2, 3], [4, 5]])  # 3 clips
    boxes = [(0, 0, 2, 2), (5, 0, 2, 2)]  # 2 crops
    plan = view_plan(rows, boxes)
    assert len(plan) == 6
    for v, (box, clip_rows) in enumerate(plan):
        assert box == boxes[v // 3]
        assert clip_rows.tolist() == rows[v % 3].tolist()


def test_stack_views_cuts_each_view() -> None:
    # value = frame * 1000 + channel * 100 + y * 10 + x identifies every element.
    f, c, h, w = np.meshgrid(np.arange(6), np.arange(3), np.arange(4), np.arange(5),
                             indexing="ij")
    frames = (f * 1000 + c * 100 + h * 10 + w).astype(np.float32)  # (6, 3, 4, 5)
    rows = np.array([[0, 2], [5, 3]])  # 2 clips of T = 2 (any row order)
    boxes = [(0, 0, 3, 3), (2, 1, 3, 3)]
    out = stack_views(frames, view_plan(rows, boxes))
    assert out.shape == (4, 3, 2, 3, 3)  # (V, C, T, K, K)
    # view 0 = crop 0 of clip 0, view 1 = crop 0 of clip 1, view 2 = crop 1 of clip 0, ...
    assert out[0, 0, 0].tolist() == [[0, 1, 2], [10, 11, 12], [20, 21, 22]]
    assert out[1, 2, 0, 0].tolist() == [5200, 5201, 5202]
    assert out[1, 1, 1, 2, 2].item() == 3122
    assert out[2, 0, 1].tolist() == [[2012, 2013, 2014], [2022, 2023, 2024], [2032, 2033, 2034]]
    assert out[3, 2, 0, 0, 0].item() == 5212
    for v in range(4):
        x, y, _, _ = boxes[v // 2]
        for t, frame in enumerate(rows[v % 2]):
            assert np.array_equal(out[v, :, t], frames[frame, :, y : y + 3, x : x + 3])
