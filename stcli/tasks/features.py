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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..loader import LoadedModel
from ..pipeline import (
    Paths,
    Progress,
    StreamPlan,
    Tick,
    VideoJob,
    scan_windows,
    stream_frames,
    video_progress,
)
from ..presets import FEATURE_DIM
from ..results import Features, Result
from ..settings import FeatureSettings, ModelSpec
from ..video.frames import VideoInfo
from ..video.sampling import clip_span, clips_from, snippet_starts


class FeatureExtractor(LoadedModel):
    """A loaded recognition backbone that turns videos into snippet features."""

    def plan(self, info: VideoInfo, settings: FeatureSettings) -> np.ndarray:
        """The snippets' frame indices ``(T, 16)`` for a video: every ``stride`` frames,
        or at the frames shown every ``1 / fps`` seconds (presentation times)."""
        span = clip_span(self.preset.clip_len, self.preset.frame_interval)
        if settings.fps is None:
            starts = snippet_starts(info.num_frames, span, settings.stride)
        else:
            last = max(info.num_frames - span, 0)
            times = np.arange(0.0, info.time_of(last)[()] + 1e-9, 1.0 / settings.fps)
            starts = np.unique(np.minimum(info.frame_at(times), last))
        return clips_from(starts, info.num_frames, self.preset.clip_len,
                          self.preset.frame_interval)

    def _extract(self, path: str, decoded: Iterator[Any], settings: FeatureSettings,
                 started: float, tick: Tick | None = None) -> Features:
        plan: StreamPlan = next(decoded)
        feats = scan_windows(path, decoded, plan, self.preset, self.batch_size, self.features,
                             FEATURE_DIM, tick)
        info, indices = plan.info, plan.clips
        span = clip_span(self.preset.clip_len, self.preset.frame_interval)
        starts = indices[:, 0]
        return Features(
            video=path, video_id=Path(path).stem, frames=info.num_frames,
            fps=round(info.fps, 6), duration_s=round(info.duration_s, 6),
            snippets=len(indices), preset=self.preset.name,
            seconds=round(time.perf_counter() - started, 4), decoder=info.backend,
            features=feats.astype(settings.dtype.value),
            # In the file's timeline when a --start/--end range was analysed.
            starts_s=info.start_s + info.time_of(starts),
            ends_s=info.start_s + info.time_of(np.minimum(starts + span, info.num_frames)),
        )

    def video_job(self, settings: FeatureSettings | None = None, *,
                  on_progress: Progress | None = None) -> VideoJob:
        """The per-video function of ``features`` (``pipeline.VideoJob``), as every
        executor runs it; ``on_progress(video, done, total)`` follows each video's
        snippets."""
        settings = settings or FeatureSettings()
        return VideoJob(
            lambda p: stream_frames(p, "snippets",
                                    lambda info: (self.plan(info, settings), None),
                                    self.decode_threads, settings.time_range()),
            lambda p, decoded, started: self._extract(p, decoded, settings, started,
                                                      video_progress(on_progress, p)),
            self.preset.name,
        )

    def iter_features(
        self, paths: Paths, settings: FeatureSettings | None = None, *,
        on_progress: Progress | None = None,
    ) -> Iterator[Result]:
        """One :class:`Features` (or ``VideoFailure``) per path, in order;
        ``on_progress(video, done, total)`` follows each video's snippets."""
        return self.video_job(settings, on_progress=on_progress).run(paths)

    def extract(self, paths: Paths, settings: FeatureSettings | None = None, *,
                on_progress: Progress | None = None) -> list[Result]:
        """Features of one path or many; one record per path, in order."""
        return list(self.iter_features(paths, settings, on_progress=on_progress))


def load_extractor(preset: str | None = None, checkpoint: str | Path | None = None, *,
                   download: bool = True, progress: bool = True,
                   **spec: Any) -> FeatureExtractor:
    """Load a recognition preset's backbone ready to ``extract`` features (weights fetched
    on first use); ``spec`` holds the other :class:`~stcli.settings.ModelSpec` fields."""
    return FeatureExtractor.load(ModelSpec(preset, checkpoint, **spec), download=download,
                                 progress=progress)
