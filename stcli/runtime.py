"""Where and how models run: device choice, model construction and loading."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoints import load_into, read_checkpoint
from .errors import UsageError, VideoError
from .model import AVAModel, RecognitionModel
from .presets import Preset
from .results import Result, VideoFailure
from .sampling import release_points

if TYPE_CHECKING:
    from .backends import Engine
    from .heads import Head
    from .video import VideoInfo

DEVICES = ("auto", "cpu", "cuda")
_COMMANDS = {"recognition": "classify", "detection": "detect"}
T = TypeVar("T")
R = TypeVar("R", bound="ModelRunner")


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when torch sees a GPU, else the CPU."""
    if device not in DEVICES:
        raise UsageError(f"unknown device '{device}': choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but torch sees no CUDA GPU; use --device cpu")
    return torch.device(device)


def build_model(preset: Preset, device: str | torch.device = "meta") -> nn.Module:
    """The architecture ``preset`` describes; on the meta device by default, where nothing
    is allocated or initialized (weights come from a checkpoint anyway)."""
    cfg = preset.model
    heads = {"recognition": RecognitionModel, "ava": AVAModel}
    if cfg.head not in heads:
        raise UsageError(f"preset '{preset.name}' needs the '{cfg.head}' head, not supported here")
    with torch.device(device):
        return heads[cfg.head](
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


class ModelRunner:
    """A loaded model (run by an :class:`~stcli.backends.Engine`) with its preset; tasks
    subclass it."""

    task = "recognition"  # the preset task this runner serves

    def __init__(
        self, engine: Engine | nn.Module, preset: Preset, device: torch.device,
        weights: Path | None = None, batch_size: int = 8,
    ) -> None:
        from .backends import Engine, TorchEngine

        self.engine = engine if isinstance(engine, Engine) else TorchEngine(engine, device)
        self.preset = preset
        self.device = device
        self.weights = weights
        self.batch_size = batch_size
        self.labels = preset.labels
        self.head: Head | None = None

    @property
    def model(self) -> nn.Module | None:
        """The torch module (None when onnxruntime runs an exported model)."""
        return self.engine.model

    @property
    def backend(self) -> str:
        """What runs the network, e.g. ``onnxruntime fp32`` or ``torch cuda fp16``."""
        return self.engine.describe()

    @classmethod
    def load(
        cls: type[R], preset: str = "k400", checkpoint: str | Path | None = None,
        device: str = "cpu", download: bool = True, progress: bool = True, batch_size: int = 8,
        head: str | Path | None = None, backend: str = "torch", precision: str = "fp32",
    ) -> R:
        """Load a preset's model for this task, fetching its weights on first use.

        ``head`` (a folder made by ``stcli train-head``) replaces the preset's classifier.
        ``backend`` is ``auto``, ``torch`` or ``onnxruntime`` (see ``stcli.backends``);
        ``checkpoint`` may also be an ``.onnx`` file made by ``stcli export``.
        """
        from .presets import load_preset

        spec = load_preset(preset)
        if spec.task != cls.task:
            raise UsageError(f"preset '{preset}' is for {spec.task}, not {cls.task}: use "
                             f"'stcli {_COMMANDS.get(spec.task, spec.task)}' for it, or a "
                             f"{cls.task} preset here")
        from .export import is_onnx

        onnx_file = is_onnx(checkpoint)
        if device == "auto" and (backend == "onnxruntime" or onnx_file):
            device = "cpu"  # onnxruntime runs on the CPU; "auto" must not pick a GPU here
        torch_device = resolve_device(device)
        trained = None
        if head is not None:
            from .heads import load_head
            from .weights import checkpoint_sha256, resolve_weights

            # A head that does not fit these weights fails before any loading or export.
            trained = load_head(head)
            if not onnx_file:
                checkpoint = resolve_weights(spec, checkpoint, download, progress)
                check_head(trained, spec, checkpoint, checkpoint_sha256(checkpoint), head)
        engine, weights = load_engine(spec, checkpoint, torch_device, backend, precision,
                                      download=download, progress=progress)
        runner = cls(engine, spec, torch_device, weights=weights, batch_size=batch_size)
        if trained is not None:
            runner.use_head(trained, head)
        return runner

    @property
    def weights_sha256(self) -> str | None:
        """sha256 of the checkpoint file (the one recorded beside it when stcli stored it)."""
        from .weights import checkpoint_sha256

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
        self.engine.set_classifier(head.linear())
        self.labels = list(head.labels)
        self.head = head

    def run_videos(
        self, paths: str | Path | Iterable[str | Path], decode: Callable[[str], Iterator[Any]],
        process: Callable[[str, Iterator[Any], float], Result],
    ) -> Iterator[Result]:
        """One result per path (one path or many), in order; a video that fails becomes a
        ``VideoFailure``.

        ``decode(path)`` is pure decoding and runs on a background thread; the next video's
        decoding starts as soon as the current one's is used up, so it overlaps the
        network's work on the current one. ``process(path, decoded, started)`` does the
        rest on this thread.
        """
        paths = [str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
        jobs: dict[int, Background] = {}

        def start(i: int) -> None:
            if i < len(paths) and i not in jobs:
                jobs[i] = Background(decode(paths[i]), on_end=lambda: start(i + 1))

        start(0)
        try:
            for i, path in enumerate(paths):
                started = time.perf_counter()
                try:
                    yield process(path, jobs[i], started)
                except (VideoError, RuntimeError, ValueError, MemoryError) as exc:
                    # Anything wrong with one video must not end the batch.
                    reason = exc.reason if isinstance(exc, VideoError) else (
                        f"failed: {type(exc).__name__}: {exc}".splitlines()[0])
                    yield VideoFailure(path, reason, self.preset.name,
                                       round(time.perf_counter() - started, 4))
                finally:
                    jobs.pop(i).close()
                    start(i + 1)  # no-op unless this one failed before its decoding ended
        finally:
            for job in jobs.values():
                job.close()

    def features(self, clips: Tensor) -> Tensor:
        """Globally pooled backbone features ``(clips, 2048)`` of a clip batch."""
        return self.engine.features(clips)

    def scan_windows(
        self, path: str | Path, decoded: Iterable[np.ndarray], info: VideoInfo,
        indices: np.ndarray, needed: np.ndarray, compute: Callable[[Tensor], Tensor],
        width: int,
    ) -> np.ndarray:
        """``compute`` over the centre-cropped clip of every row of ``indices`` ``(K, T)``,
        streamed: ``decoded`` yields the frames ``needed`` in chunks; each frame is resized
        (short side of the preset's test protocol) and cropped once and kept only while a
        pending clip needs it. Returns ``(K, width)``."""
        from .transforms import crop_boxes, normalize, resize_frames, resized_size

        protocol = self.preset.test
        size = resized_size(info.width, info.height, protocol.short_side)
        try:
            x0, y0, k, _ = crop_boxes(*size, protocol.crop_size, 1)[0]
        except ValueError as exc:
            raise VideoError(path, f"cannot take a centre crop: {exc}") from exc
        out = np.zeros((len(indices), width), dtype=np.float32)
        pending: list[int] = []
        # Clips are written straight into one reused batch buffer: one copy per frame.
        batch = torch.empty((self.batch_size, 3, indices.shape[1], k, k))

        def flush() -> None:
            if pending:
                out[pending] = compute(batch[: len(pending)]).numpy()
                pending.clear()

        def prepare(rows: np.ndarray, chunk: np.ndarray) -> Tensor:
            crops = resize_frames(chunk, size)[:, :, y0 : y0 + k, x0 : x0 + k].contiguous()
            return normalize(crops, self.preset.mean, self.preset.std, inplace=True)

        for w, frames in complete_clips(path, decoded, needed, indices, prepare):
            slot = batch[len(pending)]
            for t, i in enumerate(indices[w].tolist()):
                slot[:, t].copy_(frames[i])
            pending.append(w)
            if len(pending) == self.batch_size:
                flush()
        flush()
        return out

    def probabilities(self, batches: Iterable[Tensor]) -> Tensor:
        """Softmax over classes for every clip of every batch, ``(clips, classes)``."""
        out = [self.engine.logits(b).softmax(dim=1) for b in batches]
        return torch.cat(out) if out else torch.empty((0, len(self.labels)))


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
    preset: Preset, checkpoint: str | Path | None, device: torch.device, backend: str = "auto",
    precision: str = "fp32", download: bool = True, progress: bool = True,
) -> tuple[Engine, Path]:
    """The engine that will run ``preset``'s network, and the file its weights came from.

    onnxruntime runs the model exported from these weights, cached under
    ``<cache>/onnx/`` by checkpoint hash and input shape (exported on first use, a few
    seconds); ``checkpoint`` may be such an ``.onnx`` file itself (e.g. an int8 one).
    """
    from .backends import OnnxEngine, TorchEngine, log, resolve_backend
    from .export import ensure_exported, is_onnx
    from .weights import resolve_weights

    if is_onnx(checkpoint):
        if backend == "torch":
            raise UsageError(f"{checkpoint} is an ONNX model: run it with --backend "
                             "onnxruntime (or auto), or pass a .pth checkpoint for torch")
        resolve_backend("onnxruntime", device, precision)
        if not Path(checkpoint).is_file():
            raise UsageError(f"{checkpoint}: no such file")
        engine = OnnxEngine(checkpoint)
        made_for = engine.meta.get("preset")
        if made_for != preset.name:
            raise UsageError(f"{checkpoint} was exported for preset '{made_for}', not "
                             f"'{preset.name}': pass --preset {made_for}")
        return engine, Path(checkpoint)
    chosen = resolve_backend(backend, device, precision)
    weights = resolve_weights(preset, checkpoint, download=download, progress=progress)
    if chosen == "torch":
        if precision != "fp32" and device.type == "cpu" and progress:
            # Half-precision convolutions on a CPU without native support run ~5x slower
            # than fp32 (measured here): allowed, but the user should know.
            log(f"warning: --precision {precision} on the CPU is much slower than fp32; it "
                "is meant for --device cuda")
        return TorchEngine(load_model(preset, weights, device), device, precision), weights
    from .weights import checkpoint_sha256

    sha = checkpoint_sha256(weights)

    def export_for(shape: tuple[int, ...] | None = None) -> Path:
        return ensure_exported(preset, weights, sha, progress, shape)

    path = export_for()
    try:
        return OnnxEngine(path, export_for=export_for), weights
    except UsageError:
        # Our own cache file is unreadable (writes are atomic, but a disk can fill or a
        # file be edited): make it again rather than send the user to fix our cache.
        path.unlink(missing_ok=True)
        return OnnxEngine(export_for(), export_for=export_for), weights


class Background(Iterator[T]):
    """Iterate ``iterable`` on a daemon thread, staying at most ``ahead`` items in front.

    An exception raised by the producer is raised again by ``next`` in the consumer.
    Meant for decoding, which runs in native code without the GIL. Keep torch work off
    this thread: a second thread running torch ops gets its own OpenMP team, and on a
    2-core machine the two teams slowed the network by ~15% (benchmarks/classify.py).
    """

    _END = object()

    def __init__(
        self, iterable: Iterable[T], ahead: int = 4, name: str = "stcli-decode",
        on_end: Callable[[], object] | None = None,
    ) -> None:
        self._on_end = on_end  # called once, by the consumer, when the items run out
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, args=(iterable,), name=name,
                                        daemon=True)
        self._thread.start()

    def _produce(self, iterable: Iterable[T]) -> None:
        try:
            for item in iterable:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put((None, exc))
            return
        self._put((self._END, None))

    def _put(self, entry: tuple[object, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item, error = self._queue.get()
        if error is not None:
            self._finished = True
            raise error
        if item is self._END:
            self._finished = True
            if self._on_end is not None:
                self._on_end()
            raise StopIteration
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (it ends at its next item) and drop what it queued."""
        self._stop.set()
        self._finished = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break


def complete_clips(
    path: str | Path, chunks: Iterable[np.ndarray], needed: np.ndarray, clips: np.ndarray,
    prepare: Callable[[np.ndarray, np.ndarray], Iterable[Any]],
) -> Iterator[tuple[int, dict[int, Any]]]:
    """Assemble clips from a frame stream, holding only the frames still needed.

    ``chunks`` delivers the frames ``needed`` (sorted, distinct) in order; ``prepare(rows,
    chunk)`` turns a chunk into one item per frame (resized, normalized, ...). Yields
    ``(clip, frames)`` as soon as every frame of ``clips[clip]`` is in, with ``frames``
    mapping frame index -> item (read it before the next step: frames no pending clip
    needs are then dropped). Memory is bounded by the clips' span, not the video's length.
    """
    order, keep_from = release_points(clips)
    last = clips.max(axis=1)
    frames: dict[int, Any] = {}
    consumed, ready = 0, 0
    for chunk in chunks:
        rows = needed[consumed : consumed + len(chunk)]
        consumed += len(chunk)
        frames.update(zip(rows.tolist(), prepare(rows, chunk), strict=True))
        while ready < len(order) and last[order[ready]] <= rows[-1]:
            yield int(order[ready]), frames
            ready += 1
        if ready < len(order):
            for i in [i for i in frames if i < keep_from[ready]]:
                del frames[i]
    if ready < len(order):
        raise VideoError(path, f"decoding ended early: {len(order) - ready} clips left")
