"""Building a preset's network and loading a checkpoint into it (no device choice here:
the caller says where the network goes)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError
from ..presets import Preset
from .checkpoints import load_into, read_checkpoint
from .model import AVAModel, RecognitionModel

_HEADS = {"recognition": RecognitionModel, "ava": AVAModel}


def build_network(preset: Preset, device: str | torch.device = "meta") -> nn.Module:
    """The architecture ``preset`` describes; on the meta device by default, where nothing
    is allocated or initialized (weights come from a checkpoint anyway)."""
    cfg = preset.model
    if cfg.head not in _HEADS:
        raise UsageError(f"preset '{preset.name}' needs the '{cfg.head}' head, not supported here")
    with torch.device(device):
        return _HEADS[cfg.head](
            num_classes=cfg.num_classes,
            depth=cfg.depth,
            spatial_stride=cfg.spatial_stride,
            pos_dim=cfg.pos_dim,
            clip_len=preset.clip_len,
        )


def load_network(preset: Preset, weights: Path, device: str | torch.device) -> nn.Module:
    """Build the preset's network, load ``weights`` strictly, move it to ``device``, eval
    mode."""
    network = build_network(preset)
    load_into(network, read_checkpoint(weights), preset.name, weights)
    return network.to(device).eval()
