"""Labelled clips -> pooled features (cached) -> a trained linear head (``heads.py``).

Each clip (a trimmed video, or a ``start_s..end_s`` segment of a longer one) is sampled
with the recognizer's own protocol (``--views``, default 3 clips x 1 centre crop), and
every view's pooled 2048-d feature is one training row; rows of one clip stay together
in the train/validation split. Features are cached on disk under a key made of the
video's content hash and every setting that changes them, so adding one clip to a CSV
computes only that clip's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StcliError, UsageError, VideoError, reading
from ..fileio import write_atomic_bytes
from ..heads import Head, TrainingReport, fit_head

# Re-exported: the CLI's train-head command checks and saves heads through its task.
from ..heads import check_head_target as check_head_target
from ..heads import save_head as save_head
from ..loader import LoadedModel
from ..pipeline import prepare_views
from ..presets import Views
from ..settings import ModelSpec, TrainHeadSettings
from ..weights import cache_dir, sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainClip:
    """One row of the clips CSV (``line`` for messages)."""

    path: str
    label: str
    start_s: float | None = None
    end_s: float | None = None
    line: int = 0


def read_clips(csv_path: str | Path) -> list[TrainClip]:
    """``path,label[,start_s,end_s]`` rows (optional header; paths relative to the CSV)."""
    csv_path = Path(csv_path)
    clips = []
    with reading(csv_path):
        text = csv_path.read_text(encoding="utf-8-sig")
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if line == 1 and row[0].strip().lower() in ("path", "video"):
            continue
        where = f"{csv_path}:{line}"
        if len(row) not in (2, 4) or not row[0].strip() or not row[1].strip():
            raise UsageError(f"{where}: expected path,label[,start_s,end_s], got {len(row)} "
                             "field(s)")
        times: list[float | None] = [None, None]
        for k, value in enumerate(row[2:4]):
            if value.strip():
                try:
                    times[k] = float(value)
                except ValueError:
                    raise UsageError(f"{where}: '{value}' is not a number of seconds") from None
        if times[0] is not None and times[1] is not None and times[1] <= times[0]:
            raise UsageError(f"{where}: end_s {times[1]:g} is not after start_s {times[0]:g}")
        path = Path(row[0].strip())
        path = path if path.is_absolute() else csv_path.parent / path
        clips.append(TrainClip(str(path), row[1].strip(), times[0], times[1], line))
    if not clips:
        raise UsageError(f"{csv_path}: no clips; expected rows path,label[,start_s,end_s]")
    return clips


@dataclass
class ClipFeatures:
    """What ``HeadTrainer.features_of`` gathered: rows, labels, groups, and what failed."""

    features: np.ndarray
    labels: list[str]
    groups: list[int]
    failed: list[tuple[TrainClip, str]] = field(default_factory=list)
    computed: int = 0
    cached: int = 0


class HeadTrainer(LoadedModel):
    """A recognition backbone that turns labelled clips into training features, and
    those into a head."""

    def cache_key(self, clip: TrainClip, views: str) -> str:
        """Content hash of the video plus every setting that changes its features."""
        try:
            video = sha256_of(Path(clip.path))
        except OSError as exc:
            raise VideoError(clip.path, f"cannot be read ({exc.strerror or exc})") from exc
        setting = json.dumps({
            "video": video, "start": clip.start_s, "end": clip.end_s,
            "backbone": self.weights_sha256, "preset": self.preset.name, "views": views,
            "clip_len": self.preset.clip_len, "interval": self.preset.frame_interval,
            # 2: segments hold the frames shown from start to end (pipeline.segment_frames)
            "version": 2,
        }, sort_keys=True)
        return hashlib.sha256(setting.encode()).hexdigest()[:32]

    def clip_features(self, clip: TrainClip, views: Views) -> np.ndarray:
        """Pooled features ``(views, 2048)`` of one clip, computed now."""
        prepared = prepare_views(clip.path, self.preset, self.preset.protocol(views),
                                 (clip.start_s, clip.end_s))
        rows = [self.features(batch) for batch in prepared.batches(self.batch_size)]
        return np.concatenate(rows)

    def features_of(
        self, clips: list[TrainClip], views: str = TrainHeadSettings.views,
        cache: Path | None = None,
        on_clip: Callable[[TrainClip, str | None], None] | None = None,
    ) -> ClipFeatures:
        """Features of every readable clip (from ``cache`` when there); unreadable clips
        are listed in ``failed`` and skipped. ``on_clip(clip, error)`` after each."""
        views = Views(views)  # parsed here, at the library's door: a bad one fails now
        self.preset.protocol(views)
        rows, labels, groups = [], [], []
        out = ClipFeatures(np.empty((0, 0)), labels, groups)
        for index, clip in enumerate(clips):
            error = None
            try:
                feats, cached = self._features(clip, views, cache)
            except StcliError as exc:
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                out.failed.append((clip, error))
            else:
                out.cached += cached
                out.computed += not cached
                rows.append(feats)
                labels += [clip.label] * len(feats)
                groups += [index] * len(feats)
            if on_clip is not None:
                on_clip(clip, error)
        out.features = np.concatenate(rows) if rows else np.empty((0, 2048), np.float32)
        return out

    def _features(self, clip: TrainClip, views: str,
                  cache: Path | None) -> tuple[np.ndarray, bool]:
        """One clip's features and whether they came from ``cache``."""
        if not Path(clip.path).is_file():
            raise UsageError(f"{clip.path}: no such file (line {clip.line})")
        stored = cache / f"{self.cache_key(clip, views)}.npy" if cache is not None else None
        if stored is not None and stored.is_file():
            try:
                return np.load(stored), True
            except (OSError, ValueError):
                pass  # a damaged cache entry (the disk filled, an edit): compute it again
        feats = self.clip_features(clip, views)
        if stored is not None:
            buffer = io.BytesIO()
            np.save(buffer, feats.astype(np.float32))
            try:
                write_atomic_bytes(stored, buffer.getvalue())
            except OSError as exc:  # a cache is a saving, not a result: go on without it
                log.warning("cannot cache features in %s (%s)", cache, exc.strerror or exc)
        return feats, False

    def train(
        self, clips: list[TrainClip], settings: TrainHeadSettings | None = None,
        source: str = "", on_clip: Callable[[TrainClip, str | None], None] | None = None,
    ) -> tuple[Head, TrainingReport, ClipFeatures]:
        """Gather the features of ``clips`` (from ``read_clips``, ``source`` naming where
        they came from) and fit a head; returns ``(head, report, data)``.

        The head's metadata records the preset, the backbone checkpoint's sha256
        (``--head`` refuses other checkpoints), the sampling protocol and the training
        report.
        """
        settings = settings or TrainHeadSettings()
        data = self.features_of(clips, settings.views,
                                settings.cache_folder(cache_dir() / "features"), on_clip)
        meta = {
            "preset": self.preset.name, "backbone_sha256": self.weights_sha256,
            "checkpoint": str(self.weights), "views": settings.views, "clips_csv": source,
            "clips": len(clips), "failed_clips": [[c.path, e] for c, e in data.failed],
        }
        head, report = fit_head(
            data.features, data.labels, data.groups, val_fraction=settings.val_fraction,
            seed=settings.seed, weight_decay=settings.weight_decay,
            background=settings.background, meta=meta,
        )
        return head, report, data


def load_head_trainer(preset: str | None = None, checkpoint: str | Path | None = None, *,
                      download: bool = True, progress: bool = True,
                      **spec: Any) -> HeadTrainer:
    """Load a recognition preset's backbone ready to ``train`` a head (weights fetched on
    first use); ``spec`` holds the other :class:`~stcli.settings.ModelSpec` fields."""
    return HeadTrainer.load(ModelSpec(preset, checkpoint, **spec), download=download,
                            progress=progress)
