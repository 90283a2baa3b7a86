"""Video -> window scores -> segments: THUMOS14-style sliding-window localization.

One sequential decoding pass per video (on a background thread) feeds only the frames
that windows need; each frame is resized and centre-cropped once and kept only while a
pending window still needs it, so memory is bounded by the longest window, not by the
video. Ready windows go through the network in batches; the softmax scores per window
then become ``(label, start, end, score)`` segments (``segments.windows_to_segments``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError, VideoError
from ..results import Localization, Result
from ..runtime import ModelRunner
from ..sampling import WindowPlan, sliding_windows
from ..video import VideoInfo, open_video

NMS_MODES = ("soft", "hard", "none")


@dataclass(frozen=True)
class LocalizeSettings:
    """Every knob of ``stcli localize``; recorded in the JSON output."""

    windows: tuple[int, ...] = (64,)
    overlap: float = 0.75
    stride_s: float | None = None
    classes: str | None = None
    label_map: str | None = None
    min_score: float = 0.001
    smooth: int = 1
    nms: str = "soft"
    nms_iou: float = 0.4
    sigma: float = 0.5
    max_segments: int = 200

    def __post_init__(self) -> None:
        if not self.windows or any(w < 1 for w in self.windows):
            raise UsageError(f"--windows {self.windows}: window lengths are positive frames")
        if not 0 <= self.overlap < 1:
            raise UsageError(f"--overlap {self.overlap}: must be in [0, 1)")
        if self.stride_s is not None and self.stride_s <= 0:
            raise UsageError(f"--stride-s {self.stride_s}: must be positive")
        if self.nms not in NMS_MODES:
            raise UsageError(f"--nms {self.nms}: choose one of {', '.join(NMS_MODES)}")
        if self.max_segments < 1 or self.smooth < 1:
            raise UsageError("--max-segments and --smooth must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def parse_windows(text: str) -> tuple[int, ...]:
    """``"64,128"`` -> ``(64, 128)``."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--windows '{text}': give window lengths in frames, e.g. 64 or 64,128")
    return values


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
            from ..segments import fold_scores

            probs = fold_scores(probs, self.fold)
        return probs[:, self.keep]


class Localizer(ModelRunner):
    """A loaded recognition model used as a sliding-window scorer."""

    def _columns(self, settings: LocalizeSettings) -> _Columns:
        from ..segments import read_label_map, select_classes

        labels, ids, fold = list(self.labels), list(range(len(self.labels))), None
        if settings.label_map:
            labels, fold = read_label_map(settings.label_map, list(self.labels))
            ids = list(range(len(labels)))
        background = self.head.background if self.head is not None else None
        # A head's background class only takes probability away from the actions: windows
        # where it wins score low everywhere else and make no segments.
        default = [i for i in ids if labels[i] != background]
        keep = select_classes(settings.classes, labels) if settings.classes else default
        return _Columns([labels[k] for k in keep], [ids[k] for k in keep], fold, list(keep))

    # -- decoding (background thread, no torch) ----------------------------------------
    def _decode(self, path: str | Path, settings: LocalizeSettings) -> Iterator[Any]:
        with open_video(path, sequential=True) as video:
            info = video.info
            if info.fps <= 0:
                raise VideoError(path, "has no frame rate; cannot place windows in time")
            stride = None
            if settings.stride_s is not None:
                stride = max(1, round(settings.stride_s * info.fps))
            plan = sliding_windows(
                info.num_frames, settings.windows, settings.overlap, stride, self.preset.clip_len
            )
            needed = np.unique(plan.indices)
            yield info, plan, needed
            yield from video.read_chunks(needed, info.frames_per_chunk())

    # -- windows through the network (this thread) -------------------------------------
    def _window_probabilities(
        self, path: str | Path, decoded: Iterator[Any]
    ) -> tuple[VideoInfo, WindowPlan, np.ndarray]:
        info, plan, needed = next(decoded)
        probs = self.scan_windows(path, decoded, info, plan.indices, needed,
                                  lambda batch: self.probabilities([batch]), len(self.labels))
        return info, plan, probs

    def window_scores(
        self, path: str | Path, settings: LocalizeSettings | None = None
    ) -> tuple[VideoInfo, WindowScores]:
        """Every window's scores for one video (decoding on this thread)."""
        settings = settings or LocalizeSettings()
        columns = self._columns(settings)
        info, plan, probs = self._window_probabilities(path, self._decode(path, settings))
        return info, self._scores(info, plan, probs, columns)

    def _scores(self, info: VideoInfo, plan: WindowPlan, probs: np.ndarray,
                columns: _Columns) -> WindowScores:
        starts = plan.starts / info.fps
        ends = (plan.starts + plan.lengths) / info.fps
        return WindowScores(starts, ends, plan.scale_ids, columns.apply(probs),
                            columns.labels, columns.class_ids)

    # -- batches -------------------------------------------------------------------------
    def iter_localize(
        self, paths: str | Path | Iterable[str | Path], settings: LocalizeSettings | None = None
    ) -> Iterator[Result]:
        """One :class:`Localization` (or ``VideoFailure``) per path, in order."""
        from ..segments import windows_to_segments

        settings = settings or LocalizeSettings()
        columns = self._columns(settings)  # bad --classes / --label-map fail before any work

        def process(path: str, decoded: Iterator[Any], started: float) -> Localization:
            info, plan, probs = self._window_probabilities(path, decoded)
            ws = self._scores(info, plan, probs, columns)
            segments = windows_to_segments(
                ws.starts_s, ws.ends_s, ws.scores, ws.labels, ws.class_ids,
                min_score=settings.min_score, smooth=settings.smooth, nms=settings.nms,
                nms_iou=settings.nms_iou, sigma=settings.sigma,
                max_segments=settings.max_segments, scale_ids=ws.scale_ids,
            )
            return Localization(
                video=path, video_id=Path(path).stem, frames=info.num_frames,
                fps=round(info.fps, 6), duration_s=round(info.duration_s, 6), windows=len(plan),
                preset=self.preset.name, seconds=round(time.perf_counter() - started, 4),
                segments=segments, window_scores=ws,
            )

        return self.run_videos(paths, lambda p: self._decode(p, settings), process)

    def localize(
        self, paths: str | Path | Sequence[str | Path], settings: LocalizeSettings | None = None
    ) -> list[Result]:
        """Localize one path or many; one record per path, in order."""
        return list(self.iter_localize(paths, settings))


def load_localizer(
    preset: str = "k400", checkpoint: str | Path | None = None, device: str = "cpu",
    download: bool = True, progress: bool = True, batch_size: int = 8,
    head: str | Path | None = None, backend: str = "torch", precision: str = "fp32",
) -> Localizer:
    """Load a preset's model (fetching its weights on first use) ready to ``localize``."""
    return Localizer.load(preset, checkpoint, device, download, progress, batch_size, head,
                          backend, precision)
