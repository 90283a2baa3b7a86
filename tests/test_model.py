"""The network against the official implementation's outputs (``fixtures/golden_*.json``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stcli.network.checkpoints import load_into
from stcli.network.model import InterTemporalInteraction, RecognitionModel, SqueezeTimeNet
from stcli.presets import load_preset
from tests.reference import FIXTURES, manifest, reference_input, reference_state_dict

ATOL = 5e-5
VARIANTS = ("k400", "k600", "hmdb51")
CLASSES = {"k400": 400, "k600": 600, "hmdb51": 51}


def _golden(variant: str) -> dict:
    return json.loads((FIXTURES / f"golden_{variant}.json").read_text())


def _build(variant: str) -> RecognitionModel:
    cfg = load_preset(variant).model
    model = RecognitionModel(
        num_classes=cfg.num_classes, depth=cfg.depth,
        spatial_stride=cfg.spatial_stride, pos_dim=cfg.pos_dim,
    ).eval()
    load_into(model, reference_state_dict(variant), variant, f"reference:{variant}")
    return model


def _run(model: RecognitionModel, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """One forward pass of ``model(x)``; the feature map and pooled features come from hooks."""
    seen: dict[str, torch.Tensor] = {}
    h1 = model.backbone.register_forward_hook(lambda m, i, o: seen.__setitem__("fmap", o))
    h2 = model.cls_head.fc_cls.register_forward_pre_hook(
        lambda m, i: seen.__setitem__("pooled", i[0])
    )
    try:
        with torch.inference_mode():
            seen["logits"] = model(x)
    finally:
        h1.remove()
        h2.remove()
    return seen


@pytest.fixture(scope="module")
def outputs():
    """``outputs(variant)`` -> ``{seed: (golden case, run outputs)}``; one model per variant."""
    cache: dict[str, dict] = {}

    def get(variant: str) -> dict:
        if variant not in cache:
            model = _build(variant)
            cache[variant] = {}
            for case in _golden(variant)["cases"]:
                x = torch.from_numpy(reference_input(case["seed"], case["shape"]))
                cache[variant][case["seed"]] = (case, _run(model, x))
            cache[variant]["model"] = model
        return cache[variant]

    return get


def test_golden_files_have_both_cases() -> None:
    for variant in VARIANTS:
        cases = _golden(variant)["cases"]
        assert [(c["seed"], c["shape"]) for c in cases] == [
            (1, [1, 3, 16, 224, 224]), (2, [2, 3, 16, 256, 320]),
        ]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_golden_logits(outputs, variant: str, seed: int) -> None:
    case, out = outputs(variant)[seed]
    expected = torch.tensor(case["logits"])
    assert expected.shape == (case["shape"][0], CLASSES[variant])
    assert out["logits"].shape == expected.shape
    torch.testing.assert_close(out["logits"], expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_golden_pooled_features(outputs, variant: str, seed: int) -> None:
    case, out = outputs(variant)[seed]
    pooled = out["pooled"]
    assert pooled.shape == (case["shape"][0], 2048)
    expected = torch.tensor(case["pooled_first8"])
    torch.testing.assert_close(pooled[:, :8], expected, atol=ATOL, rtol=0)
    # the head's input is the global average of the backbone map
    torch.testing.assert_close(pooled, out["fmap"].mean(dim=(2, 3)), atol=0, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_golden_feature_map_shape(outputs, variant: str, seed: int) -> None:
    case, out = outputs(variant)[seed]
    assert list(out["fmap"].shape) == case["feature_shape"]
    assert case["feature_shape"] == ([1, 2048, 7, 7] if seed == 1 else [2, 2048, 8, 10])


def test_features_method_matches_forward(outputs) -> None:
    cache = outputs("hmdb51")
    case, out = cache[1]
    x = torch.from_numpy(reference_input(case["seed"], case["shape"]))
    with torch.inference_mode():
        pooled = cache["model"].features(x)
    torch.testing.assert_close(pooled, out["pooled"], atol=1e-6, rtol=0)


def test_time_major_squeeze_breaks_the_tolerance(outputs) -> None:
    """The 5e-5 tolerance is meaningful: a permute instead of a reshape is caught."""
    cache = outputs("k400")
    case, out = cache[1]
    model = cache["model"]
    x = torch.from_numpy(reference_input(case["seed"], case["shape"]))
    n, c, t, h, w = x.shape
    with torch.inference_mode():
        wrong = model.cls_head(model.backbone.net(x.permute(0, 2, 1, 3, 4).reshape(n, c * t, h, w))
                               .mean(dim=(2, 3)))
    golden = torch.tensor(case["logits"])
    assert (wrong - golden).abs().max().item() > 10 * ATOL
    assert (out["logits"] - golden).abs().max().item() <= ATOL


def test_align_corners_false_breaks_the_tolerance(outputs, monkeypatch) -> None:
    """Resizing pos_embed with align_corners=False (only seed 2 needs resizing) is caught."""
    cache = outputs("k400")
    case, _ = cache[2]
    model = cache["model"]

    def wrong_pos_embed(self, height: int, width: int) -> torch.Tensor:
        if self.pos_embed.shape[-2:] == (height, width):
            return self.pos_embed
        return F.interpolate(self.pos_embed, size=(height, width), mode="bilinear",
                             align_corners=False)

    monkeypatch.setattr(InterTemporalInteraction, "_pos_embed", wrong_pos_embed)
    x = torch.from_numpy(reference_input(case["seed"], case["shape"]))
    with torch.inference_mode():
        wrong = model(x)
    moved = (wrong - torch.tensor(case["logits"])).abs().max().item()
    assert moved > ATOL  # about 1.9e-4 with the reference weights


def test_wrong_clip_length_is_rejected(outputs) -> None:
    model = outputs("hmdb51")["model"]
    with pytest.raises(ValueError, match="expected clips of 16 frames, got 8"):
        model(torch.zeros(1, 3, 8, 32, 32))


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_matches_manifest(variant: str) -> None:
    cfg = load_preset(variant).model
    model = RecognitionModel(
        num_classes=cfg.num_classes, depth=cfg.depth,
        spatial_stride=cfg.spatial_stride, pos_dim=cfg.pos_dim,
    )
    info = manifest(variant)
    assert (info["depth"], info["num_classes"]) == (cfg.depth, cfg.num_classes)
    assert tuple(info["spatial_stride"]) == cfg.spatial_stride == (1, 2, 2, 2)
    assert tuple(info["pos_dim"]) == cfg.pos_dim == (56, 28, 14, 7)
    rows = info["tensors"]
    expected = {key: (tuple(shape), dtype) for key, shape, dtype in rows}
    assert len(expected) == len(rows)  # no duplicate keys in the manifest
    got = {
        key: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        for key, t in model.state_dict().items()
    }
    assert sorted(got) == sorted(expected)
    assert got == expected
    assert got["cls_head.fc_cls.weight"] == ((CLASSES[variant], 2048), "float32")


def test_ava_stride_gives_a_16x16_map() -> None:
    torch.manual_seed(0)
    net = SqueezeTimeNet(in_channels=48, spatial_stride=(1, 2, 2, 1)).eval()
    clip = torch.from_numpy(reference_input(3, [1, 3, 16, 256, 256]))
    with torch.inference_mode():
        fmap = net(clip.reshape(1, 48, 256, 256))
    assert fmap.shape == (1, 2048, 16, 16)
    assert torch.isfinite(fmap).all()


def test_recognition_stride_gives_an_8x8_map_at_256() -> None:
    net = SqueezeTimeNet(in_channels=48).eval()
    with torch.inference_mode():
        assert net(torch.zeros(1, 48, 256, 256)).shape == (1, 2048, 8, 8)


def test_unknown_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="depth must be one of"):
        SqueezeTimeNet(depth=34)


def test_reference_input_is_deterministic() -> None:
    a = reference_input(1, [1, 3, 16, 4, 4])
    assert a.dtype == np.float32
    assert np.array_equal(a, reference_input(1, [1, 3, 16, 4, 4]))
