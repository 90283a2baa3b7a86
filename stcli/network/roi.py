"""RoIAlign in plain torch and the AVA box head (``roi_head.bbox_head``).

No I/O here. ``roi_align`` is the operator of ``pipeline.md`` (torchvision's
``roi_align(..., aligned=True)``, mmcv's ``RoIAlign(aligned=True, pool_mode='avg')`` with
adaptive sampling), written with dense tensor algebra so that it runs vectorized over boxes
on any device and exports to ONNX as ordinary ops.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

AVA_CHANNELS = 128  # 2048 backbone channels = 128 colours-of-features x 16 time steps


def _axis_weights(start: Tensor, length: Tensor, out: int, size: int) -> tuple[Tensor, Tensor]:
    """Bilinear weights of every bin's samples along one axis, summed per bin.

    ``start`` and ``length`` are ``(K,)`` box extents in feature-map pixels (already shifted
    by -0.5). Returns ``(K, out, size)`` weights and the ``(K,)`` number of samples per bin
    along this axis. A 2-D bilinear read is the product of one weight per axis, and the
    validity rule (zero more than one pixel outside) is a product of one test per axis, so
    a bin's mean is ``Wy @ F @ Wx^T / (gy * gx)``: no per-point gather is needed.
    """
    grid = torch.ceil(length / out).clamp(min=0)  # adaptive sampling ratio
    g_max = max(int(grid.max().item()) if grid.numel() else 0, 1)
    k = start.shape[0]
    bins = torch.arange(out, dtype=start.dtype, device=start.device).view(1, out, 1)
    samples = torch.arange(g_max, dtype=start.dtype, device=start.device).view(1, 1, g_max)
    step = (length / out).view(k, 1, 1)
    g = grid.view(k, 1, 1)
    # Sample centres: start + bin * step + (i + 0.5) * step / grid, for i < grid.
    pos = start.view(k, 1, 1) + bins * step + (samples + 0.5) * step / g.clamp(min=1)
    valid = (samples < g) & (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0.0)
    low = pos.floor().clamp(max=size - 1)
    at_edge = low >= size - 1
    pos = torch.where(at_edge, low, pos)
    high = torch.where(at_edge, low, low + 1)
    frac = pos - low
    weight_low = (1.0 - frac) * valid
    weight_high = frac * valid
    weights = torch.zeros(k, out, size, dtype=start.dtype, device=start.device)
    weights.scatter_add_(2, low.long(), weight_low)
    weights.scatter_add_(2, high.long(), weight_high)
    return weights, grid


def roi_align(
    features: Tensor, rois: Tensor, output_size: int, spatial_scale: float
) -> Tensor:
    """Average RoIAlign (``aligned=True``, adaptive sampling) of ``rois`` on ``features``.

    ``features`` is ``(B, C, H, W)``; ``rois`` is ``(K, 5)`` rows ``(batch_index, x1, y1,
    x2, y2)`` in input-image pixels. Returns ``(K, C, output_size, output_size)``.
    """
    if torch.onnx.is_in_onnx_export():
        # Exported as the standard ONNX RoiAlign (opset 16+): same definition, and its
        # sampling grid stays data-dependent, which a traced copy of this code cannot be.
        return _OnnxRoiAlign.apply(features, rois[:, 1:5], rois[:, 0].long(), output_size,
                                   spatial_scale)
    return _roi_align_dense(features, rois, output_size, spatial_scale)


def _roi_align_dense(
    features: Tensor, rois: Tensor, output_size: int, spatial_scale: float
) -> Tensor:
    _, _, height, width = features.shape
    rois = rois.to(features.dtype)
    # aligned=True: pixel centres sit at half-integers, hence the -0.5 shift.
    x1, y1, x2, y2 = (rois[:, i] * spatial_scale - 0.5 for i in range(1, 5))
    wy, gy = _axis_weights(y1, y2 - y1, output_size, height)
    wx, gx = _axis_weights(x1, x2 - x1, output_size, width)
    count = (gy * gx).clamp(min=1).view(-1, 1, 1, 1)
    maps = features[rois[:, 0].long()]  # (K, C, H, W)
    pooled = torch.einsum("kph,kchw,kqw->kcpq", wy, maps, wx)
    return pooled / count


class _OnnxRoiAlign(torch.autograd.Function):
    """``roi_align`` as one ONNX ``RoiAlign`` node when a model is exported."""

    @staticmethod
    def forward(ctx, features: Tensor, boxes: Tensor, batch_index: Tensor,
                output_size: int, spatial_scale: float) -> Tensor:
        rois = torch.cat([batch_index.to(boxes.dtype).unsqueeze(1), boxes], dim=1)
        return _roi_align_dense(features, rois, output_size, spatial_scale)

    @staticmethod
    def symbolic(g, features, boxes, batch_index, output_size: int,
                 spatial_scale: float):
        # half_pixel is torchvision's aligned=True; sampling_ratio 0 is the adaptive grid.
        return g.op("RoiAlign", features, boxes, batch_index, mode_s="avg",
                    output_height_i=output_size, output_width_i=output_size,
                    sampling_ratio_i=0, spatial_scale_f=spatial_scale,
                    coordinate_transformation_mode_s="half_pixel")


class AVABoxHead(nn.Module):
    """Max over the RoI bins -> ``fc_cls`` (128 -> 81); logits, index k = action id k."""

    def __init__(self, num_classes: int = 81, in_channels: int = AVA_CHANNELS) -> None:
        super().__init__()
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.fc_cls(pooled.amax(dim=(2, 3)))


class AVARoIHead(nn.Module):
    """Backbone map ``(N, 2048, h, w)`` + person boxes -> per-box action logits.

    The map is unfolded to ``(N, 128, T, h, w)`` by the same contiguous reshape that folded
    time into channels (channel index ``c * T + t``), averaged over ``T``, RoI-aligned
    (8x8, scale 1/16) and max-pooled.
    """

    def __init__(
        self, num_classes: int = 81, clip_len: int = 16, output_size: int = 8,
        spatial_scale: float = 1.0 / 16,
    ) -> None:
        super().__init__()
        self.clip_len = clip_len
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.bbox_head = AVABoxHead(num_classes)

    def pool(self, fmap: Tensor, rois: Tensor) -> Tensor:
        """RoI features ``(K, 128, out, out)`` before the max."""
        n, c, h, w = fmap.shape
        fmap = fmap.reshape(n, c // self.clip_len, self.clip_len, h, w).mean(dim=2)
        return roi_align(fmap, rois, self.output_size, self.spatial_scale)

    def forward(self, fmap: Tensor, rois: Tensor) -> Tensor:
        return self.bbox_head(self.pool(fmap, rois))
