"""Deterministic reference weights, written from the recipe in shared/reference/README.md.

The official checkpoints cannot be downloaded here, so the suite (and the benchmarks)
fill every tensor of a checkpoint manifest with values drawn from a NumPy generator
seeded by the CRC32 of the key, and check the model against the official
implementation's outputs for those weights (``fixtures/golden_*.json``).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def manifest(variant: str) -> dict:
    """The manifest of an official checkpoint: key/shape/dtype rows plus model settings."""
    return json.loads((FIXTURES / f"manifest_{variant}.json").read_text())


def reference_tensor(key: str, shape: list[int]) -> np.ndarray:
    """Values for one state-dict entry, exactly as the recipe prescribes."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    shape = tuple(shape)
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    if key.endswith("running_var"):
        values = rng.uniform(0.5, 1.5, shape)
    elif key.endswith("running_mean"):
        values = 0.1 * rng.standard_normal(shape)
    elif key.endswith("pos_embed"):
        values = rng.standard_normal(shape) * np.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
    elif len(shape) == 4:  # conv kernels: kaiming normal, fan_out
        values = rng.standard_normal(shape) * np.sqrt(2.0 / (shape[0] * shape[2] * shape[3]))
    elif len(shape) == 2:  # linear layers
        values = 0.05 * rng.standard_normal(shape)
    elif key.endswith("weight"):  # batch-norm scale
        values = 1.0 + 0.1 * rng.standard_normal(shape)
    else:  # biases, batch-norm shift
        values = 0.1 * rng.standard_normal(shape)
    return values.astype(np.float32)


def reference_state_dict(variant: str) -> dict:
    """``{key: torch.Tensor}`` in the official key layout and order."""
    import torch

    rows = manifest(variant)["tensors"]
    return {k: torch.from_numpy(reference_tensor(k, shape)) for k, shape, _ in rows}


def write_reference_checkpoint(variant: str, path: Path) -> Path:
    """Write an mmengine-style checkpoint (``{"meta", "state_dict"}``) to ``path``."""
    import torch

    state = reference_state_dict(variant)
    torch.save({"meta": {"reference_variant": variant}, "state_dict": state}, path)
    return path


def reference_input(seed: int, shape: list[int]) -> np.ndarray:
    """A normalized clip batch ``(N, 3, T, H, W)``, float32, as the golden files used."""
    return np.random.default_rng(seed).standard_normal(tuple(shape)).astype(np.float32)
