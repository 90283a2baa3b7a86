"""Video -> ``(T, 2048)`` snippet features: SqueezeTime as a backbone for other models.

A snippet is one 16-frame clip at the preset's frame interval (every 4th frame: 61 frames
covered); snippets start every ``stride`` frames (or ``fps`` times a second). Its feature
is the backbone's globally pooled output for the centre crop of the preset's test protocol,
exactly what the classifier sees. Decoding streams through the video once, as localize
does, so memory does not grow with the video's length. Temporal-localization frameworks
(ActionFormer, OpenTAD) read one such array per video.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError, VideoError
from ..model import FEATURE_DIM
from ..results import Features, Result
from ..runtime import ModelRunner
from ..sampling import clip_span, clips_from, snippet_starts
from ..video import VideoInfo, open_video

DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class FeatureSettings:
    """Every knob of ``stcli features``; recorded in each video's JSON sidecar."""

    stride: int = 4  # frames between snippet starts
    fps: float | None = None  # snippets per second instead of ``stride``
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise UsageError(f"--stride {self.stride}: must be at least one frame")
        if self.fps is not None and not self.fps > 0:
            raise UsageError(f"--fps {self.fps}: must be positive")
        if self.dtype not in DTYPES:
            raise UsageError(f"--dtype {self.dtype}: choose one of {', '.join(DTYPES)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings."""
        return asdict(self)


class FeatureExtractor(ModelRunner):
    """A loaded recognition backbone that turns videos into snippet features."""

    def plan(self, info: VideoInfo, settings: FeatureSettings) -> np.ndarray:
        """The snippets' frame indices ``(T, 16)`` for a video."""
        span = clip_span(self.preset.clip_len, self.preset.frame_interval)
        starts = snippet_starts(info.num_frames, info.fps, span, settings.stride, settings.fps)
        return clips_from(starts, info.num_frames, self.preset.clip_len,
                          self.preset.frame_interval)

    def _decode(self, path: str, settings: FeatureSettings) -> Iterator[Any]:
        with open_video(path, sequential=True) as video:
            info = video.info
            if info.fps <= 0:
                raise VideoError(path, "has no frame rate; cannot place snippets in time")
            indices = self.plan(info, settings)
            needed = np.unique(indices)
            yield info, indices, needed
            yield from video.read_chunks(needed, info.frames_per_chunk())

    def _extract(self, path: str, decoded: Iterator[Any], settings: FeatureSettings,
                 started: float) -> Features:
        info, indices, needed = next(decoded)
        feats = self.scan_windows(path, decoded, info, indices, needed, self.features,
                                  FEATURE_DIM)
        span = clip_span(self.preset.clip_len, self.preset.frame_interval)
        starts = indices[:, 0].astype(np.float64)
        return Features(
            video=path, video_id=Path(path).stem, frames=info.num_frames,
            fps=round(info.fps, 6), duration_s=round(info.duration_s, 6),
            snippets=len(indices), preset=self.preset.name,
            seconds=round(time.perf_counter() - started, 4),
            features=feats.astype(settings.dtype),
            starts_s=starts / info.fps,
            ends_s=np.minimum(starts + span, info.num_frames) / info.fps,
        )

    def iter_features(
        self, paths: str | Path | Iterable[str | Path], settings: FeatureSettings | None = None
    ) -> Iterator[Result]:
        """One :class:`Features` (or ``VideoFailure``) per path, in order."""
        settings = settings or FeatureSettings()
        return self.run_videos(
            paths, lambda p: self._decode(p, settings),
            lambda p, decoded, started: self._extract(p, decoded, settings, started),
        )

    def extract(
        self, paths: str | Path | Sequence[str | Path], settings: FeatureSettings | None = None
    ) -> list[Result]:
        """Features of one path or many; one record per path, in order."""
        return list(self.iter_features(paths, settings))


def load_extractor(
    preset: str = "k400", checkpoint: str | Path | None = None, device: str = "cpu",
    download: bool = True, progress: bool = True, batch_size: int = 8,
    backend: str = "torch", precision: str = "fp32",
) -> FeatureExtractor:
    """Load a preset's backbone (fetching its weights on first use) ready to ``extract``."""
    return FeatureExtractor.load(preset, checkpoint, device, download, progress, batch_size,
                                 backend=backend, precision=precision)
