"""Video -> Prediction: the official multi-view test protocol, end to end.

Per video: sample clip indices (``sampling``), decode each distinct frame once
(``video``), resize and normalize it once (``transforms``), cut the views, run them
through the network in batches and average the per-view softmax (mmaction2's
``average_clips='prob'``). While the network works on one video, the next one is decoded
on a background thread (``pipeline.run_videos``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..loader import LoadedModel
from ..pipeline import (
    Paths,
    PreparedVideo,
    Progress,
    Tick,
    VideoJob,
    assemble_views,
    decode_views,
    prepare_views,
    video_progress,
)
from ..presets import Protocol
from ..results import Prediction, Result
from ..settings import ClassifySettings, ModelSpec


class Recognizer(LoadedModel):
    """A loaded recognition model; ``classify`` runs the whole protocol."""

    def prepare(self, path: str | Path, protocol: Protocol) -> PreparedVideo:
        """Decode and preprocess every view of one video (no network work)."""
        return prepare_views(path, self.preset, protocol)

    def view_probabilities(self, clips: np.ndarray) -> np.ndarray:
        """Softmax over classes for each view of ``(views, 3, T, K, K)``, ``(views, classes)``."""
        size = self.batch_size
        return self.probabilities(clips[i : i + size] for i in range(0, len(clips), size))

    def predict(self, path: str, prepared: PreparedVideo, protocol: Protocol,
                top_k: int, tick: Tick | None = None) -> Prediction:
        """The video's prediction: the views' softmax averaged, its ``top_k`` classes;
        ``tick(done, total)`` follows the views through the network."""
        total = len(prepared.plan)

        def batches() -> Iterator[np.ndarray]:
            done = 0
            for batch in prepared.batches(self.batch_size):
                yield batch
                # Resumed once the network has taken this batch: it is done.
                done += len(batch)
                if tick is not None:
                    tick(done, total)

        if tick is not None:
            tick(0, total)
        probs = self.probabilities(batches()).mean(axis=0)
        info = prepared.info
        return Prediction(
            video=path, frames=info.num_frames, fps=round(info.fps, 6),
            duration_s=round(info.duration_s, 6), views=protocol.views,
            preset=self.preset.name, seconds=round(time.perf_counter() - prepared.started, 4),
            decoder=info.backend,
            topk=self.top_classes(probs, top_k),
        )

    def video_job(self, settings: ClassifySettings | None = None, *,
                  on_progress: Progress | None = None) -> VideoJob:
        """The per-video function of ``classify`` (``pipeline.VideoJob``), as every
        executor runs it; ``on_progress(video, done, total)`` follows each video's views."""
        settings = settings or ClassifySettings()
        protocol = settings.protocol(self.preset)

        def process(path: str, decoded: Iterator[Any], started: float) -> Prediction:
            prepared = assemble_views(path, decoded, self.preset, protocol, started)
            return self.predict(path, prepared, protocol, settings.top_k,
                                video_progress(on_progress, path))

        segment = settings.time_range()
        return VideoJob(lambda p: decode_views(p, self.preset, protocol, segment), process,
                        self.preset.name)

    def iter_classify(self, paths: Paths, settings: ClassifySettings | None = None, *,
                      on_progress: Progress | None = None, **changes: Any) -> Iterator[Result]:
        """Yield one result per path, in order; a bad video yields a ``VideoFailure``.

        ``changes`` override fields of ``settings`` (``views="1x1"``, ``top_k=3``, ...);
        ``on_progress(video, done, total)`` follows each video's views.
        """
        settings = dataclasses.replace(settings or ClassifySettings(), **changes)
        return self.video_job(settings, on_progress=on_progress).run(paths)

    def classify(self, paths: Paths, settings: ClassifySettings | None = None, *,
                 on_progress: Progress | None = None, **changes: Any) -> list[Result]:
        """Classify one path or many; returns one record per path, in order."""
        return list(self.iter_classify(paths, settings, on_progress=on_progress, **changes))


def load_recognizer(preset: str | None = None, checkpoint: str | Path | None = None, *,
                    download: bool = True, progress: bool = True, **spec: Any) -> Recognizer:
    """Load a recognition preset's model ready to ``classify`` (weights fetched on first
    use); ``spec`` holds the other :class:`~stcli.settings.ModelSpec` fields."""
    return Recognizer.load(ModelSpec(preset, checkpoint, **spec), download=download,
                           progress=progress)
