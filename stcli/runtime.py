"""Where and how models run: device choice, model construction and loading."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from .checkpoints import load_into, read_checkpoint
from .errors import UsageError
from .model import RecognitionModel
from .presets import Preset

DEVICES = ("auto", "cpu", "cuda")
T = TypeVar("T")


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
    if cfg.head != "recognition":
        raise UsageError(f"preset '{preset.name}' needs the '{cfg.head}' head, not supported here")
    with torch.device(device):
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


class Background(Iterator[T]):
    """Iterate ``iterable`` on a daemon thread, staying at most ``ahead`` items in front.

    An exception raised by the producer is raised again by ``next`` in the consumer.
    Meant for decoding, which runs in native code without the GIL. Keep torch work off
    this thread: a second thread running torch ops gets its own OpenMP team, and on a
    2-core machine the two teams slowed the network by ~15% (benchmarks/classify.py).
    """

    _END = object()

    def __init__(self, iterable: Iterable[T], ahead: int = 4, name: str = "stcli-decode") -> None:
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
