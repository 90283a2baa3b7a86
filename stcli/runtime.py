"""Where and how models run: device choice, model construction and loading."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoints import load_into, read_checkpoint
from .errors import UsageError
from .model import RecognitionModel
from .presets import Preset

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when torch sees a GPU, else the CPU."""
    if device not in DEVICES:
        raise UsageError(f"unknown device '{device}': choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but torch sees no CUDA GPU; use --device cpu")
    return torch.device(device)


def build_model(preset: Preset) -> nn.Module:
    """An uninitialized model with the architecture ``preset`` describes."""
    cfg = preset.model
    if cfg.head != "recognition":
        raise UsageError(f"preset '{preset.name}' needs the '{cfg.head}' head, not supported here")
    return RecognitionModel(
        num_classes=cfg.num_classes,
        depth=cfg.depth,
        spatial_stride=cfg.spatial_stride,
        pos_dim=cfg.pos_dim,
        clip_len=preset.clip_len,
    )


def load_model(preset: Preset, weights: Path, device: torch.device) -> nn.Module:
    """Build the preset's model, load ``weights`` strictly, move it to ``device``, eval mode."""
    model = build_model(preset)
    load_into(model, read_checkpoint(weights), preset.name, weights)
    return model.to(device).eval()
