"""SqueezeTime: the network exactly as the released checkpoints need it.

Pure modules: no I/O, no paths, no prints, no device placement. Module and parameter
names follow the official mmaction2 checkpoints (``backbone.net.*``, ``cls_head.fc_cls.*``)
so that a state dict loads with ``strict=True`` after prefix normalization alone.

The network squeezes time into channels: a clip ``(N, 3, T, H, W)`` is reshaped to
``(N, 3*T, H, W)`` (channel index ``c * T + t``) and processed by a 2D ResNet-style
backbone whose blocks use the Channel-Time Learning (CTL) module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..presets import FEATURE_DIM
from .roi import AVARoIHead

# Bottleneck blocks per stage for each supported depth (ResNet conventions).
STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}
STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = 4  # STAGE_PLANES[-1] * EXPANSION = FEATURE_DIM, the pooled width


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


class InterTemporalInteraction(nn.Module):
    """The IOI branch (``spatial_conv``): local conv gated by a global, position-aware map."""

    def __init__(self, c_in: int, c_out: int, pos_dim: int) -> None:
        super().__init__()
        self.short_conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.glo_conv = nn.Sequential(
            nn.Conv2d(c_in, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 7, padding=3),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, c_out, 3, padding=1),
            nn.Sigmoid(),
        )
        self.pos_embed = nn.Parameter(torch.zeros(1, 16, pos_dim, pos_dim))

    def _pos_embed(self, height: int, width: int) -> Tensor:
        if self.pos_embed.shape[-2:] == (height, width):
            return self.pos_embed
        # The official model resizes the embedding with align_corners=True; any other
        # mode moves the logits by ~1e-4 (see tests/test_model.py).
        return F.interpolate(
            self.pos_embed, size=(height, width), mode="bilinear", align_corners=True
        )

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        local = self.short_conv(x)
        g = self.glo_conv[:3](x * weights)
        g = g + self._pos_embed(g.shape[-2], g.shape[-1])
        return local * self.glo_conv[3:](g)


class ChannelTimeLearning(nn.Module):
    """The CTL module (``conv2`` of every block): temporal focus + object interaction."""

    def __init__(self, c_in: int, c_out: int, pos_dim: int) -> None:
        super().__init__()
        self.param_conv = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.Sigmoid(),
        )
        self.temporal_conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.spatial_conv = InterTemporalInteraction(c_in, c_out, pos_dim)

    def forward(self, x: Tensor) -> Tensor:
        w = self.param_conv(x)  # (N, C, 1, 1) temporal-importance weights
        return self.temporal_conv(w * x) + self.spatial_conv(x, w)


class Bottleneck(nn.Module):
    """1x1 -> CTL -> 1x1 residual block; strided blocks downsample depthwise first."""

    def __init__(self, in_planes: int, planes: int, stride: int, pos_dim: int) -> None:
        super().__init__()
        out_planes = planes * EXPANSION
        self.stride = stride
        if stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, in_planes, 2, stride=2, groups=in_planes),
                nn.BatchNorm2d(in_planes),
            )
        self.shortcut_conv = _conv_bn(in_planes, out_planes) if in_planes != out_planes else None
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = ChannelTimeLearning(planes, planes, pos_dim)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = self.downsample(x)
        shortcut = x if self.shortcut_conv is None else self.shortcut_conv(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class SqueezeTimeNet(nn.Module):
    """The backbone proper (``backbone.net``): stem + four stages of bottlenecks.

    ``spatial_stride`` is ``(1, 2, 2, 2)`` for recognition and ``(1, 2, 2, 1)`` for AVA;
    nothing else differs between the two uses.
    """

    def __init__(
        self,
        depth: int = 50,
        in_channels: int = 48,
        spatial_stride: Sequence[int] = (1, 2, 2, 2),
        pos_dim: Sequence[int] = (56, 28, 14, 7),
    ) -> None:
        super().__init__()
        if depth not in STAGE_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(STAGE_BLOCKS)}, got {depth}")
        self.conv1 = nn.Conv2d(in_channels, STAGE_PLANES[0], 5, stride=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_PLANES[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_planes = STAGE_PLANES[0]
        for index, (blocks, planes, stride, pdim) in enumerate(
            zip(STAGE_BLOCKS[depth], STAGE_PLANES, spatial_stride, pos_dim, strict=True),
            start=1,
        ):
            layers = [Bottleneck(in_planes, planes, stride, pdim)]
            in_planes = planes * EXPANSION
            layers += [Bottleneck(in_planes, planes, 1, pdim) for _ in range(blocks - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class SqueezeTimeBackbone(nn.Module):
    """Clip batch ``(N, 3, T, H, W)`` -> feature map ``(N, 2048, h, w)``."""

    def __init__(self, clip_len: int = 16, **net_kwargs: object) -> None:
        super().__init__()
        self.clip_len = clip_len
        self.net = SqueezeTimeNet(in_channels=3 * clip_len, **net_kwargs)

    def forward(self, clips: Tensor) -> Tensor:
        n, c, t, h, w = clips.shape
        if t != self.clip_len:
            raise ValueError(f"expected clips of {self.clip_len} frames, got {t}")
        # Colour-major squeeze: channel index c * T + t, a plain reshape (not a permute).
        return self.net(clips.reshape(n, c * t, h, w))


class RecognitionHead(nn.Module):
    """Global average pool -> linear classifier (``cls_head.fc_cls``)."""

    def __init__(self, num_classes: int, in_features: int = FEATURE_DIM) -> None:
        super().__init__()
        self.fc_cls = nn.Linear(in_features, num_classes)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.fc_cls(pooled)


class RecognitionModel(nn.Module):
    """Backbone + recognition head; ``forward`` returns logits, ``features`` pooled 2048-d."""

    def __init__(
        self,
        num_classes: int,
        depth: int = 50,
        spatial_stride: Sequence[int] = (1, 2, 2, 2),
        pos_dim: Sequence[int] = (56, 28, 14, 7),
        clip_len: int = 16,
    ) -> None:
        super().__init__()
        self.backbone = SqueezeTimeBackbone(
            clip_len=clip_len, depth=depth, spatial_stride=spatial_stride, pos_dim=pos_dim
        )
        self.cls_head = RecognitionHead(num_classes)

    def features(self, clips: Tensor) -> Tensor:
        """Globally pooled backbone output, ``(N, 2048)``."""
        return self.backbone(clips).mean(dim=(2, 3))

    def forward(self, clips: Tensor) -> Tensor:
        return self.cls_head(self.features(clips))


class AVAModel(nn.Module):
    """Backbone (last stage stride 1) + AVA RoI head; ``forward(clips, rois)`` -> logits.

    ``rois`` rows are ``(clip_index, x1, y1, x2, y2)`` in pixels of the network input; the
    result is ``(K, 81)`` logits (sigmoid per action: AVA is multi-label).
    """

    def __init__(
        self,
        num_classes: int = 81,
        depth: int = 50,
        spatial_stride: Sequence[int] = (1, 2, 2, 1),
        pos_dim: Sequence[int] = (56, 28, 14, 7),
        clip_len: int = 16,
    ) -> None:
        super().__init__()
        self.backbone = SqueezeTimeBackbone(
            clip_len=clip_len, depth=depth, spatial_stride=spatial_stride, pos_dim=pos_dim
        )
        self.roi_head = AVARoIHead(num_classes, clip_len=clip_len)

    def forward(self, clips: Tensor, rois: Tensor) -> Tensor:
        return self.roi_head(self.backbone(clips), rois)
