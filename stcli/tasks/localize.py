"""Video -> window scores -> segments: THUMOS14-style sliding-window localization.

One sequential decoding pass per video (on a background thread) feeds only the frames
that windows need; each frame is resized and centre-cropped once and kept only while a
pending window still needs it, so memory is bounded by the longest window, not by the
video (``pipeline.scan_windows``). Ready windows go through the network in batches; the
softmax scores per window then become ``(label, start, end, score)`` segments
(``segments.windows_to_segments``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..heads import load_head
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
from ..presets import DEFAULT_PRESETS, load_preset
from ..results import Localization, Result
from ..segments import fold_scores, read_label_map, select_classes, windows_to_segments
from ..settings import LocalizeSettings, ModelSpec
from ..video.frames import VideoInfo
from ..video.sampling import WindowPlan, sliding_windows


@dataclass
class WindowScores:
    """Scores of every window of one video: ``scores[w, k]`` is column ``k``'s
    probability (``labels[k]``, checkpoint class ``class_ids[k]``, or a folded label)."""

    starts_s: np.ndarray
    ends_s: np.ndarray
    scale_ids: np.ndarray
    scores: np.ndarray
    labels: list[str]
    class_ids: list[int]


@dataclass
class _Columns:
    """Which score columns a run reports: selection and folding of checkpoint classes."""

    labels: list[str]
    class_ids: list[int]
    fold: np.ndarray | None = None  # (C_checkpoint, C_target) for --label-map
    keep: list[int] = field(default_factory=list)  # column subset for --classes

    def apply(self, probs: np.ndarray) -> np.ndarray:
        if self.fold is not None:
            probs = fold_scores(probs, self.fold)
        return probs[:, self.keep]


def score_columns(settings: LocalizeSettings, labels: list[str],
                  background: str | None = None) -> _Columns:
    """The columns ``settings`` report of a model with these class ``labels`` (and a
    head's ``background`` label); a bad ``--classes`` or ``--label-map`` raises here."""
    ids, fold = list(range(len(labels))), None
    if settings.label_map:
        labels, fold = read_label_map(settings.label_map, list(labels))
        ids = list(range(len(labels)))
    # A head's background class only takes probability away from the actions: windows
    # where it wins score low everywhere else and make no segments.
    default = [i for i in ids if labels[i] != background]
    keep = select_classes(settings.classes, labels) if settings.classes else default
    return _Columns([labels[k] for k in keep], [ids[k] for k in keep], fold, list(keep))


def check_columns(spec: ModelSpec, settings: LocalizeSettings) -> None:
    """Check ``--classes`` and ``--label-map`` against the labels ``spec`` will have
    (its head's, else its preset's label file) without loading any weights, so that a
    typo fails in a second rather than after the model has loaded."""
    if spec.head is not None:
        head = load_head(spec.head)
        labels, background = list(head.labels), head.background
    else:
        labels = load_preset(spec.preset or DEFAULT_PRESETS["recognition"]).labels
        background = None
    score_columns(settings, labels, background)


class Localizer(LoadedModel):
    """A loaded recognition model used as a sliding-window scorer."""

    def _columns(self, settings: LocalizeSettings) -> _Columns:
        background = self.head.background if self.head is not None else None
        return score_columns(settings, list(self.labels), background)

    def _decode(self, path: str | Path, settings: LocalizeSettings) -> Iterator[Any]:
        def plan(info: VideoInfo) -> tuple[np.ndarray, WindowPlan]:
            stride = None
            if settings.stride_s is not None:
                stride = max(1, round(settings.stride_s * info.fps))
            # overlap is None only when stride_s is given, and then it is not used.
            windows = sliding_windows(info.num_frames, settings.windows,
                                      settings.overlap or 0.0, stride, self.preset.clip_len)
            return windows.indices, windows

        return stream_frames(path, "windows", plan, self.decode_threads, settings.time_range())

    def _scores(self, path: str | Path, decoded: Iterator[Any], columns: _Columns,
                tick: Tick | None = None) -> tuple[StreamPlan, WindowScores]:
        """Every window's scores, from a ``_decode`` stream (on this thread)."""
        plan: StreamPlan = next(decoded)
        probs = scan_windows(path, decoded, plan, self.preset, self.batch_size,
                             lambda batch: self.probabilities([batch]), len(self.labels),
                             tick)
        windows: WindowPlan = plan.context
        info = plan.info
        # Presentation times: a window runs from its first frame to the end of its last;
        # in the file's timeline when a --start/--end range was analysed.
        return plan, WindowScores(
            info.start_s + info.time_of(windows.starts),
            info.start_s + info.time_of(windows.starts + windows.lengths),
            windows.scale_ids, columns.apply(probs), columns.labels, columns.class_ids)

    def window_scores(
        self, path: str | Path, settings: LocalizeSettings | None = None
    ) -> tuple[VideoInfo, WindowScores]:
        """Every window's scores for one video (decoding on this thread)."""
        settings = settings or LocalizeSettings()
        plan, scores = self._scores(path, self._decode(path, settings), self._columns(settings))
        return plan.info, scores

    def video_job(self, settings: LocalizeSettings | None = None, *,
                  on_progress: Progress | None = None) -> VideoJob:
        """The per-video function of ``localize`` (``pipeline.VideoJob``), as every
        executor runs it; ``on_progress(video, done, total)`` follows each video's
        windows. A bad ``--classes`` or ``--label-map`` fails here, before any work."""
        settings = settings or LocalizeSettings()
        columns = self._columns(settings)

        def process(path: str, decoded: Iterator[Any], started: float) -> Localization:
            plan, ws = self._scores(path, decoded, columns, video_progress(on_progress, path))
            segments = windows_to_segments(
                ws.starts_s, ws.ends_s, ws.scores, ws.labels, ws.class_ids,
                scale_ids=ws.scale_ids, **settings.segment_options())
            info = plan.info
            return Localization(
                video=path, video_id=Path(path).stem, frames=info.num_frames,
                fps=round(info.fps, 6), duration_s=round(info.duration_s, 6),
                windows=len(plan.clips), preset=self.preset.name,
                seconds=round(time.perf_counter() - started, 4), decoder=info.backend,
                segments=segments,
                window_scores=ws,
            )

        return VideoJob(lambda p: self._decode(p, settings), process, self.preset.name)

    def iter_localize(
        self, paths: Paths, settings: LocalizeSettings | None = None, *,
        on_progress: Progress | None = None,
    ) -> Iterator[Result]:
        """One :class:`Localization` (or ``VideoFailure``) per path, in order;
        ``on_progress(video, done, total)`` follows each video's windows."""
        return self.video_job(settings, on_progress=on_progress).run(paths)

    def localize(self, paths: Paths, settings: LocalizeSettings | None = None, *,
                 on_progress: Progress | None = None) -> list[Result]:
        """Localize one path or many; one record per path, in order."""
        return list(self.iter_localize(paths, settings, on_progress=on_progress))


def load_localizer(preset: str | None = None, checkpoint: str | Path | None = None, *,
                   download: bool = True, progress: bool = True, **spec: Any) -> Localizer:
    """Load a recognition preset's model ready to ``localize`` (weights fetched on first
    use); ``spec`` holds the other :class:`~stcli.settings.ModelSpec` fields."""
    return Localizer.load(ModelSpec(preset, checkpoint, **spec), download=download,
                          progress=progress)
