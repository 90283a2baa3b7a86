"""From a :class:`~stcli.settings.ModelSpec` to a loaded model: the one loader every
command uses.

A :class:`LoadedModel` is what a task needs of a model: the engine that runs the network,
the preset (sampling, normalization), the class labels and, when one is used, the custom
head that replaced the classifier. Tasks subclass it to add their own methods; the
video work itself lives in ``pipeline`` functions they compose.

Nothing here imports torch unless the torch backend runs (or an export must be made):
an onnxruntime run with a cached export starts without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from .choices import Backend, Device, Precision
from .engines.backends import (
    Array,
    Engine,
    ExportedEngine,
    OnnxEngine,
    cpu_has_bf16,
    openvino_installed,
    resolve_backend,
    resolve_device,
)
from .engines.onnx_export import ensure_exported
from .engines.onnx_meta import is_onnx
from .errors import CacheError, UsageError
from .heads import Head, load_head
from .presets import DEFAULT_PRESETS, Preset, load_preset
from .results import ClassScore
from .settings import ModelSpec
from .weights import checkpoint_sha256, resolve_weights

log = logging.getLogger(__name__)
M = TypeVar("M", bound="LoadedModel")
_COMMANDS = {"recognition": "classify", "detection": "detect"}


class LoadedModel:
    """A network ready to run (an :class:`~stcli.engines.backends.Engine`) with its preset, labels
    and optional custom head."""

    task: ClassVar[str] = "recognition"  # the preset task this model serves

    def __init__(
        self, engine: Engine | Any, preset: Preset, device: str = "cpu",
        weights: Path | None = None, batch_size: int = 8,
    ) -> None:
        if not isinstance(engine, Engine):  # a torch module: only then is torch needed
            from .engines.torch_engine import TorchEngine

            engine = TorchEngine(engine, device)
        self.engine = engine
        self.preset = preset
        self.device = str(device)
        self.weights = weights
        self.batch_size = batch_size
        self.labels = preset.labels
        self.head: Head | None = None

    @classmethod
    def load(cls: type[M], spec: ModelSpec | None = None, *, download: bool = True,
             progress: bool = True) -> M:
        """Load the model ``spec`` describes for this task, fetching its weights on first
        use (``download``; ``progress`` shows a download bar).

        The head, when given, is checked against the weights before anything is loaded or
        exported; a checkpoint may also be an ``.onnx`` file made by ``stcli export``.
        """
        spec = spec or ModelSpec()
        preset = load_preset(spec.preset or DEFAULT_PRESETS[cls.task])
        if preset.task != cls.task:
            raise UsageError(f"preset '{preset.name}' is for {preset.task}, not {cls.task}: "
                             f"use 'stcli {_COMMANDS.get(preset.task, preset.task)}' for it, "
                             f"or a {cls.task} preset here")
        checkpoint, onnx_file = spec.checkpoint, is_onnx(spec.checkpoint)
        device = spec.device
        if device == Device.AUTO and (spec.backend in (Backend.ONNXRUNTIME, Backend.OPENVINO)
                                      or onnx_file):
            device = Device.CPU  # these run on the CPU; "auto" must not pick a GPU here
        device_name = resolve_device(device)
        head = None
        if spec.head is not None:
            # A head that does not fit these weights fails before any loading or export.
            head = load_head(spec.head)
            if not onnx_file:
                checkpoint = resolve_weights(preset, checkpoint, download, progress)
                check_head(head, preset, checkpoint, checkpoint_sha256(checkpoint), spec.head)
        engine, weights = load_engine(preset, checkpoint, device_name, spec.backend,
                                      spec.precision, download=download, progress=progress)
        log.debug("%s: %s on %s, weights %s", preset.name, engine.describe(), device_name,
                  weights)
        if engine.precision != Precision.FP32:
            log.info("%s: %s arithmetic gives probabilities close to fp32's, not equal "
                     "('stcli bench' measures how close)", engine.describe(), engine.precision)
        model = cls(engine, preset, device_name, weights=weights, batch_size=spec.batch_size)
        if head is not None:
            model.use_head(head, spec.head)
        return model

    @property
    def model(self) -> Any:
        """The torch module (None when onnxruntime runs an exported model)."""
        return self.engine.model

    @property
    def decode_threads(self) -> int:
        """ffmpeg decoding threads for this model's video streams. Beside a network on the
        CPU, one: the network already keeps every core busy, and ffmpeg's frame threads
        only add work (one thread: 10-25% less decoding CPU at the same pace; end to end
        0.87 -> 0.91 of model-only on one machine, no change on another). On a GPU,
        ffmpeg's own choice: there decoding may be what the network waits for."""
        return 1 if self.device == "cpu" else 0

    @property
    def backend(self) -> str:
        """What runs the network, e.g. ``onnxruntime fp32`` or ``torch cuda fp16``."""
        return self.engine.describe()

    @property
    def weights_sha256(self) -> str | None:
        """sha256 of the checkpoint file (the one recorded beside it when stcli stored it)."""
        # An exported model records the checkpoint it was made from.
        exported = getattr(self.engine, "meta", {}).get("weights_sha256")
        if exported or self.weights is None:
            return exported or None
        return checkpoint_sha256(self.weights)

    def use_head(self, head: Head, source: str | Path = "head") -> None:
        """Replace the classifier by a trained ``head``; refuse one made for other weights
        (its features would not mean what it was trained on)."""
        check_head(head, self.preset, self.weights, self.weights_sha256, source)
        if self.preset.task != "recognition":
            raise UsageError(f"preset '{self.preset.name}' has no classifier to replace")
        self.engine.set_classifier(head.weight, head.bias)
        self.labels = list(head.labels)
        self.head = head

    def features(self, clips: Array) -> np.ndarray:
        """Globally pooled backbone features ``(clips, 2048)`` of a clip batch."""
        return self.engine.features(clips)

    def probabilities(self, batches: Iterable[Array]) -> np.ndarray:
        """Softmax over classes for every clip of every batch, ``(clips, classes)``."""
        out = [softmax(self.engine.logits(b)) for b in batches]
        return np.concatenate(out) if out else np.empty((0, len(self.labels)), np.float32)

    def top_classes(self, probs: np.ndarray, k: int,
                    digits: int | None = None) -> list[ClassScore]:
        """The ``k`` best classes of one probability vector, best first; among equal
        scores the lower class id, as torch.topk gives them. ``digits`` rounds the scores
        (None: as computed)."""
        ids = np.argsort(-probs, kind="stable")[: min(k, len(probs))]
        scores = probs[ids].tolist()  # Python floats: rounding them keeps short decimals
        if digits is not None:
            scores = [round(s, digits) for s in scores]
        return [ClassScore(rank, int(i), self.labels[int(i)], s)
                for rank, (s, i) in enumerate(zip(scores, ids.tolist(), strict=True), 1)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over axis 1, shifted by the row maximum so that nothing overflows."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function; a large negative logit gives 0 without a warning."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def check_head(head: Head, preset: Preset, weights: Path | None, sha256: str | None,
               source: str | Path = "head") -> None:
    """Refuse a head made for other weights (its features would not mean what it was
    trained on) or another preset."""
    made_for = head.meta.get("backbone_sha256")
    if made_for and sha256 and made_for != sha256:
        raise UsageError(
            f"{source} was trained on features of checkpoint sha256 {made_for[:12]}..., but "
            f"{weights} has sha256 {sha256[:12]}...: pass the checkpoint it was trained with "
            "(--checkpoint), or train the head again on this one")
    if head.meta.get("preset", preset.name) != preset.name:
        raise UsageError(f"{source} was made for preset '{head.meta['preset']}', not "
                         f"'{preset.name}': pass --preset {head.meta['preset']}")


def load_engine(
    preset: Preset, checkpoint: str | Path | None, device: str,
    backend: Backend = Backend.AUTO, precision: Precision = Precision.FP32,
    download: bool = True, progress: bool = True,
) -> tuple[Engine, Path]:
    """The engine that will run ``preset``'s network, and the file its weights came from.

    onnxruntime and OpenVINO run the model exported from these weights, cached under
    ``<cache>/onnx/`` by checkpoint hash and input shape (exported on first use, a few
    seconds); ``checkpoint`` may be such an ``.onnx`` file itself (e.g. an int8 one).
    """
    if is_onnx(checkpoint):
        chosen = resolve_backend(backend, device, precision)
        if chosen == Backend.TORCH:
            raise UsageError(f"{checkpoint} is an ONNX model: run it with --backend "
                             "onnxruntime (or auto, or openvino), or pass a .pth checkpoint "
                             "for torch")
        if not Path(checkpoint).is_file():
            raise UsageError(f"{checkpoint}: no such file")
        engine = _exported_engine(chosen, Path(checkpoint), precision)
        made_for = engine.meta.get("preset")
        if made_for != preset.name:
            raise UsageError(f"{checkpoint} was exported for preset '{made_for}', not "
                             f"'{preset.name}': pass --preset {made_for}")
        return engine, Path(checkpoint)
    chosen = resolve_backend(backend, device, precision)
    weights = resolve_weights(preset, checkpoint, download=download, progress=progress)
    if chosen == Backend.TORCH:
        return _torch_engine(preset, weights, device, precision), weights
    sha = checkpoint_sha256(weights)

    def export_for(shape: tuple[int, ...] | None = None) -> Path:
        return ensure_exported(preset, weights, sha, shape)

    try:
        path = export_for()
    except CacheError as exc:
        if backend != Backend.AUTO:
            raise  # the backend was asked for by name: say why it cannot run
        # auto only chose an exported model for speed; torch runs the same network without
        # a cache, so an unwritable one costs a warning, not the run.
        log.warning("%s; running the torch backend instead", exc)
        return _torch_engine(preset, weights, device, precision), weights
    try:
        return _exported_engine(chosen, path, precision, export_for), weights
    except UsageError:
        # Our own cache file is unreadable (writes are atomic, but a disk can fill or a
        # file be edited): make it again rather than send the user to fix our cache.
        path.unlink(missing_ok=True)
        return _exported_engine(chosen, export_for(), precision, export_for), weights


def _exported_engine(backend: Backend, path: Path, precision: Precision,
                     export_for: Callable[..., Path] | None = None) -> ExportedEngine:
    """The engine ``backend`` (onnxruntime or OpenVINO) running the model file ``path``."""
    if backend == Backend.OPENVINO:
        from .engines.openvino_engine import OpenVinoEngine  # the optional extra, only when asked

        return OpenVinoEngine(path, precision, export_for=export_for)
    return OnnxEngine(path, export_for=export_for)


def _torch_engine(preset: Preset, weights: Path, device: str,
                  precision: Precision) -> Engine:
    """The eager torch engine of ``weights`` (what ``--backend torch`` runs)."""
    # torch, only for the backend that runs it
    from .engines.torch_engine import TorchEngine
    from .network.build import load_network

    if precision != Precision.FP32 and device == "cpu":
        if precision == Precision.BF16 and cpu_has_bf16():
            # Native bf16: torch runs it at ~0.46x its fp32 time, OpenVINO at ~0.32x.
            if not openvino_installed():
                log.info("bf16 on this CPU runs ~1.4x faster with OpenVINO: pip install "
                         "'stcli[openvino]'")
        else:
            # Half-precision convolutions on a CPU without native support run ~5x slower
            # than fp32 (measured here): allowed, but the user should know.
            log.warning("--precision %s on this CPU is much slower than fp32; it is meant "
                        "for --device cuda", precision)
    return TorchEngine(load_network(preset, weights, device), device, precision)
