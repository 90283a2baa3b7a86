"""``stcli export``: a preset's model as an ONNX file (fp32, or int8 calibrated on videos).

The export itself and its metadata are ``onnx_export``'s (the onnxruntime engine uses the
same code for its cache); int8 quantization is ``deploy.quantize``'s, handed a clip
source that samples and preprocesses videos exactly as ``classify`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..choices import Quantization
from ..engines.backends import OnnxEngine
from ..engines.onnx_export import ensure_exported, export_onnx, input_shape
from ..engines.onnx_meta import is_onnx
from ..errors import UsageError, extra_missing
from ..network.build import load_network
from ..pipeline import prepare_views
from ..presets import Preset, Protocol, load_preset
from ..weights import checkpoint_sha256, resolve_weights
from .quantize import QuantReport, quantize_int8


@dataclass(frozen=True)
class ExportResult:
    """What ``export_model`` wrote."""

    path: str
    preset: str
    format: str
    precision: str
    input_shape: tuple[int, int, int]
    size_bytes: int
    seconds: float
    weights_sha256: str
    int8: QuantReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        out = {k: getattr(self, k) for k in (
            "path", "preset", "format", "precision", "size_bytes", "seconds", "weights_sha256")}
        out["input_shape"] = list(self.input_shape)
        out["int8"] = self.int8.to_dict() if self.int8 else None
        return out


def export_model(
    preset: str, out: str | Path, checkpoint: str | Path | None = None,
    quantize: str | Quantization | None = None, calibrate: Sequence[str] = (),
    max_clips: int = 64, download: bool = True, progress: bool = True,
    on_skip: Callable[[str, str], None] | None = None,
) -> ExportResult:
    """Export a preset's model (its weights, or ``checkpoint``) to ``out`` (``NAME.onnx``).

    With ``quantize="int8"``, ``calibrate`` (video files) provide the calibration clips and
    the result carries the int8 model's agreement with fp32 and its speed-up.
    """
    quantize = Quantization.parse(quantize) if quantize is not None else None
    spec = load_preset(preset)
    if quantize and spec.task != "recognition":
        raise UsageError(f"--quantize is for recognition presets; '{preset}' ({spec.task}) is "
                         "exported in fp32 only")
    if quantize and not calibrate:
        raise UsageError("--quantize int8 needs calibration videos: --calibrate DIR_OR_FILES")
    out = Path(out)
    if not is_onnx(out):
        raise UsageError(f"--out {out}: name the file NAME.onnx")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise extra_missing("stcli export") from exc
    started = time.perf_counter()
    weights = resolve_weights(spec, checkpoint, download=download, progress=progress)
    sha = checkpoint_sha256(weights)
    report = None
    if quantize:
        # One fp32 session: it both stands in for the network while clips are prepared
        # (decoding needs no model) and is the reference the int8 model is measured against.
        reference = OnnxEngine(ensure_exported(spec, weights, sha))
        report = quantize_int8(reference, out, list(calibrate), centre_clips(spec),
                               max_clips=max_clips, on_skip=on_skip)
    else:
        export_onnx(load_network(spec, weights, torch.device("cpu")), spec, out,
                    weights_sha256=sha)
    return ExportResult(
        path=str(out), preset=spec.name, format="onnx", precision=quantize or "fp32",
        input_shape=input_shape(spec), size_bytes=out.stat().st_size,
        seconds=round(time.perf_counter() - started, 2), weights_sha256=sha, int8=report,
    )


def centre_clips(preset: Preset) -> Callable[[str], Iterator[np.ndarray]]:
    """``clips_of(video)``: the centre crop of each of the test protocol's clips, sampled
    and preprocessed exactly as ``classify`` does, as ``(1, 3, T, H, W)`` arrays."""
    test = preset.test
    protocol = Protocol(test.num_clips, 1, test.short_side, test.crop_size, test.keep_ratio)

    def clips_of(video: str) -> Iterator[np.ndarray]:
        for clip in prepare_views(video, preset, protocol).clips:
            yield clip[None]

    return clips_of
