"""RoIAlign against a direct loop over ``pipeline.md``'s definition, hand cases, and the AVA
model against ``fixtures/golden_ava.json``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from stcli.network.build import build_network as build_model
from stcli.network.checkpoints import load_into
from stcli.network.roi import roi_align
from stcli.presets import load_preset
from tests.reference import FIXTURES, reference_input, reference_state_dict

ATOL = 5e-5


def _loop_roi_align(fmap: np.ndarray, rois: np.ndarray, out: int, scale: float) -> np.ndarray:
    """The definition, point by point, in float64 (deliberately naive)."""
    _, channels, height, width = fmap.shape
    result = np.zeros((len(rois), channels, out, out))

    def read(c_map: np.ndarray, y: float, x: float) -> np.ndarray:
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return np.zeros(c_map.shape[0])
        y, x = max(y, 0.0), max(x, 0.0)
        y_low, x_low = int(y), int(x)
        if y_low >= height - 1:
            y_low = y_high = height - 1
            y = float(y_low)
        else:
            y_high = y_low + 1
        if x_low >= width - 1:
            x_low = x_high = width - 1
            x = float(x_low)
        else:
            x_high = x_low + 1
        ly, lx = y - y_low, x - x_low
        return ((1 - ly) * (1 - lx) * c_map[:, y_low, x_low]
                + (1 - ly) * lx * c_map[:, y_low, x_high]
                + ly * (1 - lx) * c_map[:, y_high, x_low]
                + ly * lx * c_map[:, y_high, x_high])

    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        c_map = fmap[int(b)]
        x1, y1, x2, y2 = (v * scale - 0.5 for v in (x1, y1, x2, y2))
        bin_h, bin_w = (y2 - y1) / out, (x2 - x1) / out
        grid_h, grid_w = max(math.ceil(bin_h), 0), max(math.ceil(bin_w), 0)
        count = max(grid_h * grid_w, 1)
        for ph in range(out):
            for pw in range(out):
                total = np.zeros(channels)
                for iy in range(grid_h):
                    y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        total += read(c_map, y, x)
                result[k, :, ph, pw] = total / count
    return result


def _align(fmap: np.ndarray, boxes: list[list[float]], out: int = 8,
           scale: float = 1 / 16) -> np.ndarray:
    rois = torch.tensor([[0.0, *b] for b in boxes], dtype=torch.float64)
    return roi_align(torch.from_numpy(fmap), rois, out, scale).numpy()


def test_matches_the_loop_definition_on_random_maps_and_awkward_boxes() -> None:
    rng = np.random.default_rng(0)
    fmap = rng.standard_normal((2, 5, 16, 16))
    boxes = [
        [0, 10.3, 20.7, 120.2, 240.9], [1, 100.0, 50.0, 250.0, 200.0], [0, 0.0, 0.0, 256.0, 256.0],
        [1, 200.5, 10.25, 255.9, 90.1], [0, 30.0, 30.0, 41.0, 47.0],  # smaller than one bin
        [1, -60.0, -30.0, 50.0, 70.0], [0, 180.0, 190.0, 320.0, 300.0],  # across the borders
        [0, 50.0, 50.0, 50.0, 90.0],  # zero width: every bin is empty
        [1, -200.0, -200.0, -100.0, -100.0],  # entirely outside: zeros
        [0, 3.0, 7.0, 900.0, 400.0],  # far larger than the map: a 5x3 sampling grid
    ]
    rois = np.array(boxes, dtype=np.float64)
    expected = _loop_roi_align(fmap, rois, 8, 1 / 16)
    got = roi_align(torch.from_numpy(fmap), torch.from_numpy(rois), 8, 1 / 16).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # Vectorized over boxes: each box alone gives the same as in the batch.
    single = roi_align(torch.from_numpy(fmap), torch.from_numpy(rois[6:7]), 8, 1 / 16).numpy()
    np.testing.assert_allclose(single[0], got[6], atol=1e-12)
    assert np.all(got[8] == 0) and np.all(got[7] == 0)


def test_other_output_sizes_and_scales_follow_the_definition() -> None:
    fmap = np.random.default_rng(1).standard_normal((1, 3, 9, 13))
    rois = np.array([[0, 2.0, 1.5, 40.0, 30.0], [0, -5.0, 3.0, 60.0, 70.0]])
    for out, scale in ((7, 1 / 4), (3, 1 / 8), (1, 1 / 2)):
        expected = _loop_roi_align(fmap, rois, out, scale)
        got = roi_align(torch.from_numpy(fmap), torch.from_numpy(rois), out, scale).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_a_constant_map_gives_the_constant_inside_the_map() -> None:
    fmap = np.full((1, 2, 16, 16), 3.0)
    got = _align(fmap, [[32.0, 48.0, 160.0, 200.0], [0.0, 0.0, 256.0, 256.0]])
    np.testing.assert_allclose(got, 3.0, atol=1e-12)


def test_a_linear_ramp_gives_the_sample_positions() -> None:
    # F[h, w] = w: bilinear reads of a ramp are exact, so each bin is its sample's x.
    fmap = np.broadcast_to(np.arange(16.0), (1, 1, 16, 16)).copy()
    # x 40..168 px -> 2.0..10.0 on the map (scale 1/16, minus 0.5): one sample per bin,
    # at 2.5, 3.5, ..., 9.5.
    got = _align(fmap, [[40.0, 40.0, 168.0, 168.0]])
    np.testing.assert_allclose(got[0, 0], np.tile(np.arange(2.5, 10.5, 1.0), (8, 1)), atol=1e-12)
    # x 24..280 px -> 1..17: bins of 2 with two samples each, at 1.5 + 2k and 2.5 + 2k
    # (means 2, 4, ..., 14); the last bin's 15.5 is clamped to column 15 and its 16.5 lies
    # outside the map, so it averages 15 and 0.
    got = _align(fmap, [[24.0, 24.0, 280.0, 88.0]])
    np.testing.assert_allclose(got[0, 0, 0], [2, 4, 6, 8, 10, 12, 14, 7.5], atol=1e-12)


def test_boxes_crossing_the_border_clamp_then_read_zero() -> None:
    # F[h, w] = w + 1 so that a clamped read at x = 0 (value 1) differs from "outside" (0).
    fmap = np.broadcast_to(np.arange(16.0) + 1, (1, 1, 16, 16)).copy()
    # Left: x -48..80 px -> -3.5..4.5, samples -3, -2, -1, 0, 1, 2, 3, 4: the first two are
    # more than one pixel outside (0), -1 is clamped to column 0.
    left = _align(fmap, [[-48.0, 40.0, 80.0, 168.0]])[0, 0, 0]
    np.testing.assert_allclose(left, [0, 0, 1, 1, 2, 3, 4, 5], atol=1e-12)
    # Right: x 200..328 px -> 12..20, samples 12.5 .. 19.5: 12.5 and 13.5, 14.5 interpolate,
    # 15.5 is clamped to the last column (16), 16.5 and beyond are outside.
    right = _align(fmap, [[200.0, 40.0, 328.0, 168.0]])[0, 0, 0]
    np.testing.assert_allclose(right, [13.5, 14.5, 15.5, 16, 0, 0, 0, 0], atol=1e-12)


def test_ava21_reproduces_the_golden_scores_with_reference_weights() -> None:
    golden = json.loads((FIXTURES / "golden_ava.json").read_text())
    scores, pooled8 = (np.array(json.loads(golden[k]) if isinstance(golden[k], str) else golden[k])
                       for k in ("scores", "pooled_first8"))
    preset = load_preset("ava21")
    model = build_model(preset)
    load_into(model, reference_state_dict("ava"), "ava21", "reference:ava")
    model.eval()
    x = torch.from_numpy(reference_input(3, [1, 3, 16, 256, 256]))
    boxes = torch.tensor(golden["boxes"], dtype=torch.float32)
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
    with torch.inference_mode():
        fmap = model.backbone(x)
        assert tuple(fmap.shape) == tuple(golden["feature_shape"])
        pooled = model.roi_head.pool(fmap, rois).amax(dim=(2, 3))
        got = torch.sigmoid(model(x, rois)).numpy()
    assert got.shape == scores.shape == (5, 81)
    np.testing.assert_allclose(got, scores, atol=ATOL, rtol=0)
    np.testing.assert_allclose(pooled[:, :8].numpy(), pooled8, atol=ATOL, rtol=0)


def test_ava21_preset_labels_are_indexed_by_action_id() -> None:
    labels = load_preset("ava21").labels
    assert len(labels) == 81 and labels[0] == ""
    assert labels[1] == "bend/bow (at the waist)" and labels[80] == "watch (a person)"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_roi_align_keeps_the_feature_dtype(dtype: torch.dtype) -> None:
    fmap = torch.ones(1, 1, 4, 4, dtype=dtype)
    out = roi_align(fmap, torch.tensor([[0.0, 0.0, 0.0, 64.0, 64.0]]), 2, 1 / 16)
    assert out.dtype == dtype and torch.allclose(out, torch.ones_like(out))
