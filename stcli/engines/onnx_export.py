"""A preset's network as an ONNX model with its metadata, and the cache of exports that
the onnxruntime engine runs.

An exported recognition model takes the normalized clip batch ``clips (N, 3, T, H, W)``
and returns ``logits (N, classes)`` and the pooled ``features (N, 2048)``; an AVA model
takes ``clips`` and ``rois (K, 5)`` rows ``(clip_index, x1, y1, x2, y2)`` in input pixels
and returns ``logits (K, 81)``. ``N`` and ``K`` are dynamic; ``T, H, W`` are fixed at
export time (the positional embeddings are resized for one input size), which is why the
cache is keyed by checkpoint hash *and* input shape. Everything a runtime outside Python
needs to feed the model (preset, labels, normalization, sampling protocol) travels in the
model's metadata under ``stcli.*`` keys.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import extra_missing, unwritable_cache
from ..fileio import atomic_path, file_lock
from ..presets import Preset
from ..version import __version__
from ..weights import export_path
from .onnx_meta import set_metadata

if TYPE_CHECKING:
    from torch import nn

OPSET = 17  # RoiAlign's half_pixel mode needs 16; 17 is what onnxruntime >= 1.14 runs
log = logging.getLogger(__name__)


def input_shape(preset: Preset) -> tuple[int, int, int]:
    """``(T, H, W)`` of the clips the preset's evaluation protocol feeds the network."""
    return preset.clip_len, preset.test.crop_size, preset.test.crop_size


def cache_path(preset: Preset, weights_sha256: str, shape: tuple[int, ...]) -> Path:
    """Where the exported fp32 model of these weights at this input shape is cached."""
    return export_path(preset.name, weights_sha256, shape)


def metadata(preset: Preset, shape: tuple[int, ...], labels: list[str],
             weights_sha256: str | None, precision: str = "fp32") -> dict[str, Any]:
    """The ``stcli.*`` metadata fields of an exported model (``set_metadata`` writes them)."""
    t, h, w = shape
    protocol = {
        name: {"num_clips": p.num_clips, "crops": p.crops, "short_side": p.short_side,
               "crop_size": p.crop_size, "keep_ratio": p.keep_ratio}
        for name, p in (("test", preset.test), ("fast", preset.fast))
    }
    inputs = {"clips": ["N", 3, t, h, w]}
    if preset.task == "detection":
        inputs["rois"] = ["K", 5]
    return {
        "preset": preset.name,
        "task": preset.task,
        "labels": labels,
        "mean": list(preset.mean),
        "std": list(preset.std),
        "input_layout": "clips: RGB, (x - mean) / std, channel-first (N, 3, T, H, W); rois: "
                        "(clip_index, x1, y1, x2, y2) in input pixels",
        "inputs": inputs,
        "clip_len": preset.clip_len,
        "frame_interval": preset.frame_interval,
        "protocol": protocol,
        "precision": precision,
        "weights_sha256": weights_sha256 or "",
        "stcli_version": __version__,
    }


def _recognition_graph(network: nn.Module) -> nn.Module:
    """What gets exported for recognition: logits and the pooled features, one pass."""
    from torch import Tensor, nn  # exporting needs torch; finding a cached export does not

    class RecognitionGraph(nn.Module):
        def __init__(self, network: nn.Module) -> None:
            super().__init__()
            self.model = network

        def forward(self, clips: Tensor) -> tuple[Tensor, Tensor]:
            features = self.model.features(clips)
            return self.model.cls_head(features), features

    return RecognitionGraph(network)


def export_onnx(
    network: nn.Module, preset: Preset, out: Path, *, labels: list[str] | None = None,
    weights_sha256: str | None = None, shape: tuple[int, ...] | None = None,
) -> Path:
    """Export ``network`` (the preset's architecture, loaded) to ``out`` with metadata.

    The file appears complete or not at all (``fileio.atomic_path``).
    """
    try:
        import onnx  # noqa: F401 - set_metadata needs it: fail before the export's work
    except ImportError as exc:
        raise extra_missing("ONNX export") from exc
    import torch  # exporting needs torch; finding a cached export does not

    shape = shape or input_shape(preset)
    network = network.float().cpu().eval()
    clips = torch.zeros((1, 3, *shape))
    if preset.task == "detection":
        _, h, w = shape
        graph: nn.Module = network
        box = torch.tensor([[0.0, 0.1 * w, 0.1 * h, 0.6 * w, 0.9 * h]])  # any box will do
        args: tuple[torch.Tensor, ...] = (clips, box)
        names = {"input_names": ["clips", "rois"], "output_names": ["logits"],
                 "dynamic_axes": {"clips": {0: "N"}, "rois": {0: "K"}, "logits": {0: "K"}}}
    else:
        # eval() on the wrapper too: the exporter restores the wrapper's own mode on the
        # way out, recursively, which would leave the caller's network in training mode.
        graph, args = _recognition_graph(network).eval(), (clips,)
        names = {"input_names": ["clips"], "output_names": ["logits", "features"],
                 "dynamic_axes": {"clips": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}}}
    out = Path(out)
    with atomic_path(out) as partial:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of the torch.export one,
            # which needs onnxscript; this one needs nothing more and handles the model.
            # Its tracer warnings are about the fixed T/H/W, which is intended.
            warnings.simplefilter("ignore")
            with torch.no_grad():
                torch.onnx.export(graph, args, str(partial), dynamo=False, opset_version=OPSET,
                                  do_constant_folding=True, **names)
        set_metadata(partial, metadata(preset, shape, labels or preset.labels, weights_sha256),
                     producer=("stcli", __version__))
    return out


def ensure_exported(preset: Preset, weights: Path, sha256: str,
                    shape: tuple[int, ...] | None = None) -> Path:
    """The cached fp32 export of ``weights`` for clips of ``shape`` (T, H, W; default: the
    preset's test protocol), made if missing.

    Processes that need the same export at once make it once: the others wait for the
    lock and find it made. :class:`~stcli.errors.CacheError` when the cache folder cannot
    be written.
    """
    shape = tuple(shape or input_shape(preset))
    path = cache_path(preset, sha256, shape)
    if path.is_file():
        return path
    try:
        with file_lock(path):
            if not path.is_file():  # another process may have made it while this one waited
                from ..network.build import (
                    load_network,  # torch: only when there is an export to make
                )

                # A bad checkpoint fails here, before any export work.
                network = load_network(preset, weights, "cpu")
                log.info("exporting %s to ONNX for onnxruntime (once; cached as %s)",
                         preset.name, path)
                export_onnx(network, preset, path, weights_sha256=sha256, shape=shape)
    except OSError as exc:
        raise unwritable_cache("ONNX export", path.parent, exc) from exc
    return path
