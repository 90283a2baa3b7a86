"""Reading checkpoints in every accepted form, strict validation, and never executing them."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from stcli.errors import CheckpointError
from stcli.network.checkpoints import (
    check_state_dict,
    load_into,
    normalize_state_dict,
    read_checkpoint,
)
from stcli.network.model import RecognitionModel
from tests.reference import reference_state_dict


class CustomMeta:
    """A class no safe loader knows: ``torch.load(weights_only=True)`` refuses it."""

    def __init__(self, note: str) -> None:
        self.note = note


class RunsShell:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return reference_state_dict("k400")


@pytest.fixture(scope="module")
def k400_model() -> RecognitionModel:
    return RecognitionModel(num_classes=400).eval()


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equal values, dtype and shape (NumPy: much faster than torch.equal here)."""
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.numpy(), b.numpy())


def assert_same_tensors(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)  # same keys, same (official) order
    for key, tensor in want.items():
        assert same(got[key], tensor), key


# --- accepted forms -----------------------------------------------------------------------


def test_mmengine_checkpoint(tmp_path: Path, state) -> None:
    path = tmp_path / "mm.pth"
    torch.save({"meta": {"epoch": 100, "mmengine_version": "0.10.4"}, "state_dict": state}, path)
    assert_same_tensors(read_checkpoint(path), state)


def test_conftest_reference_checkpoint(reference_checkpoint, state) -> None:
    assert_same_tensors(read_checkpoint(reference_checkpoint("k400")), state)


def test_bare_state_dict(tmp_path: Path, state) -> None:
    path = tmp_path / "bare.pth"
    torch.save(state, path)
    assert_same_tensors(read_checkpoint(path), state)


def test_model_wrapper(tmp_path: Path, state) -> None:
    path = tmp_path / "wrapped.pt"
    torch.save({"model": state, "epoch": 3, "optimizer": {"lr": 0.1}}, path)
    assert_same_tensors(read_checkpoint(path), state)


def test_module_prefixed_keys(tmp_path: Path, state) -> None:
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    assert_same_tensors(read_checkpoint(path), state)
    bare = tmp_path / "ddp_bare.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, bare)
    assert_same_tensors(read_checkpoint(bare), state)


def test_safetensors(tmp_path: Path, state) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file(state, str(path))
    got = read_checkpoint(path)
    # safetensors stores keys sorted; compare as a mapping
    assert sorted(got) == sorted(state)
    for key, tensor in state.items():
        assert same(got[key], tensor), key


def test_meta_with_numpy_and_custom_objects(tmp_path: Path, state) -> None:
    path = tmp_path / "mm_numpy.pth"
    meta = {
        "best_score": np.float64(0.7164),
        "seed": np.int64(42),
        "hist": np.arange(5, dtype=np.float32),
        "buffer": CustomMeta("like mmengine's HistoryBuffer"),
    }
    torch.save({"meta": meta, "state_dict": state, "message_hub": CustomMeta("hub")}, path)
    with pytest.raises(pickle.UnpicklingError):  # the safe path alone cannot read it
        torch.load(path, map_location="cpu", weights_only=True)
    assert_same_tensors(read_checkpoint(path), state)


def test_normalize_keeps_tensors_only() -> None:
    t = torch.ones(2)
    got = normalize_state_dict({"state_dict": {"module.a": t, "b": t, "note": "x", "n": 3}})
    assert list(got) == ["a", "b"]
    with pytest.raises(CheckpointError, match="holds no tensors"):
        normalize_state_dict({"state_dict": {"a": 1}}, source="x.pth")
    with pytest.raises(CheckpointError, match="x.pth: holds no state dict"):
        normalize_state_dict([t], source="x.pth")


# --- strict validation --------------------------------------------------------------------


def test_reference_state_passes_and_loads(state, k400_model) -> None:
    check_state_dict(state, k400_model, "k400", "ref.pth")
    model = RecognitionModel(num_classes=400)
    load_into(model, state, "k400", "ref.pth")
    for key, tensor in model.state_dict().items():
        assert same(tensor, state[key]), key


def test_num_batches_tracked_may_be_absent(state) -> None:
    trimmed = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(trimmed) < len(state)
    model = RecognitionModel(num_classes=400)
    load_into(model, trimmed, "k400", "exported.pth")
    key = "backbone.net.layer4.2.bn3.running_var"
    assert same(model.state_dict()[key], state[key])


def _error(state, model, preset: str = "k400", source: str = "bad.pth") -> str:
    with pytest.raises(CheckpointError) as info:
        check_state_dict(state, model, preset, source)
    return str(info.value)


def test_missing_key(state, k400_model) -> None:
    key = "backbone.net.layer3.2.conv2.spatial_conv.pos_embed"
    broken = {k: v for k, v in state.items() if k != key}
    msg = _error(broken, k400_model)
    assert msg.startswith("bad.pth: ")
    assert "'k400'" in msg
    assert f"1 missing: {key}" in msg
    assert "unexpected" not in msg and "mis-shaped" not in msg


def test_unexpected_key(state, k400_model) -> None:
    broken = {**state, "backbone.net.layer5.0.conv1.weight": torch.zeros(1)}
    msg = _error(broken, k400_model)
    assert "'k400'" in msg
    assert "1 unexpected: backbone.net.layer5.0.conv1.weight" in msg
    assert "missing" not in msg


def test_misshaped_tensor(state, k400_model) -> None:
    broken = {**state, "backbone.net.conv1.weight": torch.zeros(64, 24, 5, 5)}
    msg = _error(broken, k400_model)
    assert "'k400'" in msg
    assert "1 mis-shaped: backbone.net.conv1.weight (64, 24, 5, 5) != (64, 48, 5, 5)" in msg


def test_many_offenders_are_summarized(state, k400_model) -> None:
    broken = {k: v for k, v in state.items() if not k.startswith("backbone.net.layer4.")}
    msg = _error(broken, k400_model)
    missing = [k for k in k400_model.state_dict() if k.startswith("backbone.net.layer4.")
               and not k.endswith("num_batches_tracked")]
    assert len(missing) == 125
    assert f"{len(missing)} missing: {missing[0]}" in msg
    assert f"(+{len(missing) - 5} more)" in msg


def test_failed_load_leaves_model_untouched(state) -> None:
    model = RecognitionModel(num_classes=400)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    broken = {**state, "cls_head.fc_cls.bias": torch.zeros(401)}
    with pytest.raises(CheckpointError, match="cls_head.fc_cls.bias"):
        load_into(model, broken, "k400", "bad.pth")
    for key, tensor in model.state_dict().items():
        assert same(tensor, before[key]), key


def test_k600_checkpoint_against_k400_model(reference_checkpoint, k400_model) -> None:
    path = reference_checkpoint("k600")
    state = read_checkpoint(path)
    with pytest.raises(CheckpointError) as info:
        load_into(RecognitionModel(num_classes=400), state, "k400", path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: does not match preset 'k400'")
    assert "cls_head.fc_cls.weight (600, 2048) != (400, 2048)" in msg
    assert "cls_head.fc_cls.bias (600,) != (400,)" in msg
    assert "2 mis-shaped" in msg


# --- never execute a checkpoint -----------------------------------------------------------


def test_malicious_pickle_is_not_executed(tmp_path: Path, state) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    weights = {k: state[k] for k in list(state)[:12]}
    torch.save({"meta": {"hook": RunsShell(f"touch {marker}")}, "state_dict": weights}, path)

    try:
        got = read_checkpoint(path)
    except CheckpointError as exc:  # refusing is fine too, as long as nothing ran
        assert str(path) in str(exc)
    else:
        assert_same_tensors(got, weights)
    assert not marker.exists()

    # The file really is malicious: a plain torch.load runs the command.
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.exists()
    marker.unlink()


def test_malicious_pickle_without_weights_is_harmless(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED2"
    path = tmp_path / "only_evil.pth"
    torch.save({"state_dict": {"x": RunsShell(f"touch {marker}")}}, path)
    with pytest.raises(CheckpointError, match="holds no tensors"):
        read_checkpoint(path)
    assert not marker.exists()


# --- unreadable files ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match="not found") as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_directory_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty \(0 bytes\)") as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["notes.pth", "notes.pt", "weights.bin"])
def test_text_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value).startswith(f"{path}: not a")


def test_html_error_page_saved_as_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "SqueezeTime_K400_71.64.pth"
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_corrupt_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_text("this is not a safetensors file\n")
    with pytest.raises(CheckpointError, match="not a readable .safetensors file") as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint(tmp_path: Path, state) -> None:
    full = tmp_path / "full.pth"
    torch.save({"state_dict": {k: state[k] for k in list(state)[:20]}}, full)
    path = tmp_path / "truncated.pth"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)
