"""ONNX export of a loaded model, the cache of exported models, and their metadata.

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

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from . import __version__
from .errors import UsageError
from .presets import Preset

if TYPE_CHECKING:
    from .backends import Engine
    from .quantize import QuantReport

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)
OPSET = 17  # RoiAlign's half_pixel mode needs 16; 17 is what onnxruntime >= 1.14 runs
META_PREFIX = "stcli."


def onnx_extra_missing(what: str) -> UsageError:
    """The error for a missing optional extra, with the command that installs it."""
    return UsageError(f"{what} needs onnxruntime and onnx: pip install 'stcli[onnx]'")


def is_onnx(path: str | Path | None) -> bool:
    """Whether ``path`` names an ONNX model (by its suffix, as ``--checkpoint`` tells)."""
    return path is not None and Path(path).suffix.lower() == ".onnx"


def input_shape(preset: Preset) -> tuple[int, int, int]:
    """``(T, H, W)`` of the clips the preset's evaluation protocol feeds the network."""
    return preset.clip_len, preset.test.crop_size, preset.test.crop_size


def cache_path(preset: Preset, weights_sha256: str, shape: tuple[int, ...]) -> Path:
    """Where the exported fp32 model of these weights at this input shape is cached."""
    from .weights import cache_dir

    t, h, w = shape
    return cache_dir() / "onnx" / f"{preset.name}-{weights_sha256[:16]}-{t}x{h}x{w}.onnx"


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


def read_metadata(session: Any) -> dict[str, Any]:
    """The ``stcli.*`` metadata of an onnxruntime session's model, JSON values decoded."""
    raw = session.get_modelmeta().custom_metadata_map
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(META_PREFIX):
            try:
                out[key[len(META_PREFIX):]] = json.loads(value)
            except json.JSONDecodeError:
                out[key[len(META_PREFIX):]] = value
    return out


class _RecognitionGraph(nn.Module):
    """What gets exported for recognition: logits and the pooled features, one pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clips: Tensor) -> tuple[Tensor, Tensor]:
        features = self.model.features(clips)
        return self.model.cls_head(features), features


def export_onnx(
    model: nn.Module, preset: Preset, out: Path, *, labels: list[str] | None = None,
    weights_sha256: str | None = None, shape: tuple[int, ...] | None = None,
) -> Path:
    """Export ``model`` (the preset's architecture, loaded) to ``out`` with metadata.

    The file appears complete or not at all (written beside ``out``, then renamed).
    """
    try:
        import onnx  # noqa: F401 - set_metadata needs it: fail before the export's work
    except ImportError as exc:
        raise onnx_extra_missing("ONNX export") from exc
    shape = shape or input_shape(preset)
    model = model.float().cpu().eval()
    clips = torch.zeros((1, 3, *shape))
    if preset.task == "detection":
        _, h, w = shape
        graph: nn.Module = model
        box = torch.tensor([[0.0, 0.1 * w, 0.1 * h, 0.6 * w, 0.9 * h]])  # any box will do
        args: tuple[Tensor, ...] = (clips, box)
        names = {"input_names": ["clips", "rois"], "output_names": ["logits"],
                 "dynamic_axes": {"clips": {0: "N"}, "rois": {0: "K"}, "logits": {0: "K"}}}
    else:
        # eval() on the wrapper too: the exporter restores the wrapper's own mode on the
        # way out, recursively, which would leave the caller's model in training mode.
        graph, args = _RecognitionGraph(model).eval(), (clips,)
        names = {"input_names": ["clips"], "output_names": ["logits", "features"],
                 "dynamic_axes": {"clips": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of the torch.export one,
            # which needs onnxscript; this one needs nothing more and handles the model.
            # Its tracer warnings are about the fixed T/H/W, which is intended.
            warnings.simplefilter("ignore")
            with torch.no_grad():
                torch.onnx.export(graph, args, str(partial), dynamo=False, opset_version=OPSET,
                                  do_constant_folding=True, **names)
        set_metadata(partial, metadata(preset, shape, labels or preset.labels, weights_sha256),
                     producer=True)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def set_metadata(path: Path, updates: dict[str, Any], producer: bool = False) -> None:
    """Add or replace ``stcli.*`` metadata entries of the model at ``path``, in place
    (strings as they are, anything else as JSON); ``producer`` also names stcli as the
    model's producer."""
    import onnx

    proto = onnx.load(str(path))
    current = {p.key: p.value for p in proto.metadata_props}
    for key, value in updates.items():
        current[META_PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
    del proto.metadata_props[:]
    for key, value in current.items():
        proto.metadata_props.add(key=key, value=value)
    if producer:
        proto.producer_name, proto.producer_version = "stcli", __version__
    onnx.save(proto, str(path))


def ensure_exported(preset: Preset, weights: Path, sha256: str, progress: bool = True,
                    shape: tuple[int, ...] | None = None) -> Path:
    """The cached fp32 export of ``weights`` for clips of ``shape`` (T, H, W; default: the
    preset's test protocol), made if missing."""
    from .runtime import load_model

    shape = tuple(shape or input_shape(preset))
    path = cache_path(preset, sha256, shape)
    if not path.is_file():
        model = load_model(preset, weights, torch.device("cpu"))  # a bad checkpoint fails here
        if progress:
            from .backends import log

            log(f"exporting {preset.name} to ONNX for onnxruntime (once; cached as {path})")
        export_onnx(model, preset, path, weights_sha256=sha256, shape=shape)
    return path


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote."""

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


def export(
    preset: str, out: str | Path, checkpoint: str | Path | None = None, fmt: str = "onnx",
    quantize: str | None = None, calibrate: Sequence[str] = (), max_clips: int = 64,
    download: bool = True, progress: bool = True,
    on_skip: Callable[[str, str], None] | None = None,
) -> ExportResult:
    """Export a preset's model (its weights, or ``checkpoint``) to ``out``.

    With ``quantize="int8"``, ``calibrate`` (video files) provide the calibration clips and
    the result carries the int8 model's agreement with fp32 and its speed-up.
    """
    from .presets import load_preset
    from .weights import checkpoint_sha256, resolve_weights

    if fmt not in FORMATS:
        raise UsageError(f"--format '{fmt}': choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize '{quantize}': choose one of {', '.join(QUANTIZATIONS)}")
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
        raise onnx_extra_missing("stcli export") from exc
    started = time.perf_counter()
    weights = resolve_weights(spec, checkpoint, download=download, progress=progress)
    sha = checkpoint_sha256(weights)
    report = None
    if quantize:
        from .backends import OnnxEngine
        from .quantize import quantize_int8

        # One fp32 session: it both stands in for the network while clips are prepared
        # (decoding needs no model) and is the reference the int8 model is measured against.
        reference = OnnxEngine(ensure_exported(spec, weights, sha, progress))
        report = quantize_int8(reference, out, list(calibrate),
                               _clip_source(spec, reference), max_clips=max_clips,
                               on_skip=on_skip)
    else:
        from .runtime import load_model

        export_onnx(load_model(spec, weights, torch.device("cpu")), spec, out,
                    weights_sha256=sha)
    return ExportResult(
        path=str(out), preset=spec.name, format=fmt, precision=quantize or "fp32",
        input_shape=input_shape(spec), size_bytes=out.stat().st_size,
        seconds=round(time.perf_counter() - started, 2), weights_sha256=sha, int8=report,
    )


def _clip_source(preset: Preset, engine: Engine) -> Callable[[str], Iterator[Any]]:
    """``clips_of(video)``: the centre crop of each of the test protocol's clips, sampled
    and preprocessed exactly as ``classify`` does, as ``(1, 3, T, H, W)`` arrays."""
    from .presets import Protocol
    from .tasks.classify import Recognizer

    recognizer = Recognizer(engine, preset, torch.device("cpu"))
    test = preset.test
    protocol = Protocol(test.num_clips, 1, test.short_side, test.crop_size, test.keep_ratio)

    def clips_of(video: str) -> Iterator[Any]:
        for clip in recognizer.prepare(video, protocol).clips:
            yield clip[None].numpy()

    return clips_of
