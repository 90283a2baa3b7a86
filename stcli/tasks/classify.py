"""Video -> Prediction: the official multi-view test protocol, end to end.

Per video: sample clip indices (``sampling``), decode each distinct frame once
(``video``), resize and normalize it once (``transforms``), cut the views, run them
through the network in batches and average the per-view softmax (mmaction2's
``average_clips='prob'``). While the network works on one video, the next one is decoded
on a background thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError, VideoError
from ..presets import Preset, Protocol
from ..results import ClassScore, Prediction, Result
from ..runtime import ModelRunner
from ..sampling import test_clip_indices
from ..transforms import (
    Box,
    crop_boxes,
    normalize,
    resize_frames,
    resized_size,
    stack_views,
    view_plan,
)
from ..video import VideoInfo, open_video

_VIEWS = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


def parse_views(text: str) -> tuple[int, int]:
    """``"10x3"`` -> ``(10, 3)``: clips x crops, crops in {1, 3}."""
    match = _VIEWS.match(text or "")
    if not match:
        raise UsageError(f"--views '{text}' is not of the form NxC (for example 10x3 or 1x1)")
    clips, crops = int(match.group(1)), int(match.group(2))
    if clips < 1 or crops not in (1, 3):
        raise UsageError(f"--views '{text}': need at least 1 clip and 1 or 3 crops")
    return clips, crops


def choose_protocol(preset: Preset, views: str | None = None, fast: bool = False) -> Protocol:
    """The preset's official protocol, its fast setting, or either with ``NxC`` views."""
    base = preset.fast if fast else preset.test
    if views is None:
        return base
    clips, crops = parse_views(views)
    if crops == 3 and base.short_side != base.crop_size:
        raise UsageError(
            f"three crops need the short side ({base.short_side}) to equal the crop size "
            f"({base.crop_size}); use --views {clips}x1 with --fast"
        )
    return Protocol(clips, crops, base.short_side, base.crop_size)


def segment_frames(path: str | Path, info: VideoInfo,
                   segment: tuple[float | None, float | None]) -> tuple[int, int]:
    """The frames ``[first, stop)`` of a ``(start_s, end_s)`` segment of a video."""
    start_s, end_s = segment
    if start_s is None and end_s is None:
        return 0, info.num_frames
    if info.fps <= 0:
        raise VideoError(path, "has no frame rate; cannot cut a segment by time")
    first = 0 if start_s is None else round(start_s * info.fps)
    stop = info.num_frames if end_s is None else min(round(end_s * info.fps), info.num_frames)
    if not 0 <= first < stop:
        raise VideoError(path, f"segment {start_s}..{end_s} s holds no frame of the video "
                         f"({info.duration_s:.3f} s)")
    return first, stop


@dataclass
class PreparedVideo:
    """A decoded video ready for the network: each distinct frame once, resized and
    normalized, plus the plan that cuts the protocol's views out of those frames."""

    info: VideoInfo
    frames: torch.Tensor  # (distinct frames, 3, h, w), normalized
    plan: list[tuple[Box, np.ndarray]]
    started: float

    @property
    def clips(self) -> torch.Tensor:
        """All views at once, ``(views, 3, T, K, K)``."""
        return stack_views(self.frames, self.plan)

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        """The views in batches of ``size``, cut only when needed (bounded memory)."""
        for start in range(0, len(self.plan), size):
            yield stack_views(self.frames, self.plan[start : start + size])


class Recognizer(ModelRunner):
    """A loaded recognition model plus its preset; ``classify`` runs the whole protocol."""

    # -- one video -------------------------------------------------------------------
    def _decode(self, path: str | Path, protocol: Protocol,
                segment: tuple[float | None, float | None] = (None, None)) -> Iterator[object]:
        """Yield the video's info and clip rows, then its distinct frames in chunks.

        ``segment`` (start, end seconds; None = the video's own) restricts the clips to
        part of the video, as if it had been cut there. Pure decoding (no torch), so it can
        run on a background thread.
        """
        with open_video(path) as video:
            info = video.info
            first, stop = segment_frames(path, info, segment)
            indices = first + test_clip_indices(
                stop - first, self.preset.clip_len, self.preset.frame_interval,
                protocol.num_clips,
            )
            # Each distinct frame is decoded, resized and normalized once, however many
            # clips and crops share it.
            distinct, rows = np.unique(indices, return_inverse=True)
            yield info, rows.reshape(indices.shape)
            yield from video.read_chunks(distinct, info.frames_per_chunk())

    def _assemble(self, path: str | Path, decoded: Iterator[object], protocol: Protocol,
                  started: float) -> PreparedVideo:
        info, rows = next(decoded)
        size = resized_size(info.width, info.height, protocol.short_side)
        frames = torch.cat([resize_frames(chunk, size) for chunk in decoded])
        frames = normalize(frames, self.preset.mean, self.preset.std, inplace=True)
        try:
            boxes = crop_boxes(*size, protocol.crop_size, protocol.crops)
        except ValueError as exc:
            raise VideoError(path, f"cannot take the crops of this protocol: {exc}") from exc
        return PreparedVideo(info, frames, view_plan(rows, boxes), started)

    def prepare(self, path: str | Path, protocol: Protocol) -> PreparedVideo:
        """Decode and preprocess every view of one video (no network work)."""
        return self._assemble(path, self._decode(path, protocol), protocol, time.perf_counter())

    def view_probabilities(self, clips: torch.Tensor) -> torch.Tensor:
        """Softmax over classes for each view of ``(views, 3, T, K, K)``, ``(views, classes)``."""
        return self.probabilities(clips.split(self.batch_size))

    def _finish(
        self, path: str, prepared: PreparedVideo, protocol: Protocol, top_k: int
    ) -> Prediction:
        probs = self.probabilities(prepared.batches(self.batch_size)).mean(dim=0)
        k = min(top_k, len(probs))
        scores, ids = probs.topk(k)
        info = prepared.info
        return Prediction(
            video=path, frames=info.num_frames, fps=round(info.fps, 6),
            duration_s=round(info.duration_s, 6), views=protocol.views, preset=self.preset.name,
            seconds=round(time.perf_counter() - prepared.started, 4),
            topk=[
                ClassScore(rank, int(i), self.labels[int(i)], float(s))
                for rank, (s, i) in enumerate(zip(scores.tolist(), ids.tolist(), strict=True), 1)
            ],
        )

    # -- batches ---------------------------------------------------------------------
    def iter_classify(
        self, paths: str | Path | Iterable[str | Path], views: str | None = None,
        fast: bool = False, top_k: int = 5,
    ) -> Iterator[Result]:
        """Yield one result per path, in order; a bad video yields a :class:`VideoFailure`.

        Decoding runs on a background thread: the next video is decoded while the network
        works on the current one (resizing stays on this thread, see ``runtime.Background``).
        """
        protocol = choose_protocol(self.preset, views, fast)
        if top_k < 1:
            raise UsageError("--top-k must be at least 1")

        def process(path: str, decoded: Iterator[object], started: float) -> Prediction:
            prepared = self._assemble(path, decoded, protocol, started)
            return self._finish(path, prepared, protocol, top_k)

        return self.run_videos(paths, lambda p: self._decode(p, protocol), process)

    def classify(
        self, paths: str | Path | Iterable[str | Path], views: str | None = None,
        fast: bool = False, top_k: int = 5,
    ) -> list[Result]:
        """Classify one path or many; returns one record per path, in order."""
        return list(self.iter_classify(paths, views=views, fast=fast, top_k=top_k))


def load_recognizer(
    preset: str = "k400", checkpoint: str | Path | None = None, device: str = "cpu",
    download: bool = True, progress: bool = True, batch_size: int = 8,
    head: str | Path | None = None, backend: str = "torch", precision: str = "fp32",
) -> Recognizer:
    """Load a preset's model (fetching its weights on first use) ready to ``classify``."""
    return Recognizer.load(preset, checkpoint, device, download, progress, batch_size, head,
                           backend, precision)
