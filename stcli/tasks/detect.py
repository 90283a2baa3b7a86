"""Video -> keyframes -> persons -> AVA actions: spatio-temporal action detection.

Per video: choose keyframe times (every ``keyframe_interval`` seconds, the given
``timestamps``, or the proposal file's timestamps), plan each keyframe's 16-frame clip
(``sampling.keyframe_indices``), stream the frames once through an ffmpeg pipe on a
background thread, resize each frame once to 256x256 (no aspect ratio, as the AVA config
does), find the persons on the keyframe image (``persons``), and run clips with their
boxes through the network in batches. A keyframe without persons costs no network work
and is reported as such.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VideoError
from ..loader import LoadedModel, sigmoid
from ..persons import PersonBoxes, PersonSource, person_source
from ..pipeline import (
    Paths,
    Progress,
    StreamPlan,
    Tick,
    VideoJob,
    complete_clips,
    stream_frames,
    video_progress,
)
from ..results import ActionScore, Detection, Keyframe, PersonActions, Result
from ..settings import DetectSettings, ModelSpec
from ..video.frames import VideoInfo
from ..video.sampling import keyframe_indices, keyframe_times
from ..video.transforms import normalize, resize_frames

DEFAULT_INTERVAL_S = 1.0
class Detector(LoadedModel):
    """A loaded AVA model: person boxes at keyframes -> 80 action scores per person."""

    task = "detection"

    # -- keyframe times ------------------------------------------------------------------
    def _times(self, path: str, info: VideoInfo, settings: DetectSettings,
               source: PersonSource) -> np.ndarray:
        """Keyframe times in seconds of ``info``'s video (without ``time_offset``; from the
        start of the analysed range, ``info.start_s`` into the file)."""
        offset = settings.time_offset + info.start_s
        if settings.timestamps is not None:
            times, origin = np.array(settings.timestamps) - offset, "--timestamps"
        elif settings.keyframe_interval is None and (listed := source.timestamps(
                Path(path).stem)) is not None:
            if not listed:
                raise VideoError(path, f"{source.name} names no box for video id "
                                 f"'{Path(path).stem}' (the file name without extension); "
                                 "check the first column of the proposals file")
            times, origin = np.array(listed) - offset, f"the times in {source.name}"
        else:
            interval = settings.keyframe_interval or DEFAULT_INTERVAL_S
            return keyframe_times(info.duration_s, interval)
        inside = times[(times >= -1e-6) & (times < info.duration_s)]
        if not len(inside):
            raise VideoError(path, f"none of {origin} ({times.min() + offset:g}.."
                             f"{times.max() + offset:g} s) lies inside the video "
                             f"({info.start_s:g}..{info.start_s + info.duration_s:.3f} s, "
                             f"--time-offset {settings.time_offset:g})")
        return np.maximum(inside, 0.0)

    # -- decoding (background thread, no torch) ------------------------------------------
    def _decode(self, path: str, settings: DetectSettings,
                source: PersonSource) -> Iterator[Any]:
        def plan(info: VideoInfo) -> tuple[np.ndarray, Any, np.ndarray]:
            times = self._times(path, info, settings, source)
            centres = info.frame_at(times)
            clips = keyframe_indices(centres, info.num_frames, self.preset.clip_len,
                                     self.preset.frame_interval)
            # The keyframe image (for the person detector) is not one of its clip's frames.
            return clips, (times, centres), centres

        return stream_frames(path, "keyframes", plan, self.decode_threads,
                             settings.time_range())

    # -- network (this thread) -----------------------------------------------------------
    def action_scores(self, clips: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """Sigmoid scores ``(K, 81)`` for ``rois`` rows ``(clip, x1, y1, x2, y2)`` given in
        pixels of the ``(N, 3, 16, 256, 256)`` normalized ``clips``."""
        return sigmoid(self.engine.logits(clips, rois))

    def _person(self, box: np.ndarray, score: float, row: np.ndarray) -> PersonActions:
        order = np.argsort(-row[1:], kind="stable") + 1  # index 0 is not an action
        return PersonActions(
            box=tuple(round(float(v), 6) for v in box),
            person_score=None if np.isnan(score) else round(float(score), 6),
            actions=tuple(ActionScore(int(i), self.labels[i], float(row[i])) for i in order),
        )

    def _detect(self, path: str, decoded: Iterator[Any], settings: DetectSettings,
                source: PersonSource, started: float, tick: Tick) -> Detection:
        plan: StreamPlan = next(decoded)
        info, clips, (times, centres) = plan.info, plan.clips, plan.context
        size = self.preset.test.crop_size
        wanted = set(centres.tolist())
        video_id = Path(path).stem

        def prepare(rows: np.ndarray, chunk: np.ndarray) -> list[tuple[np.ndarray, Any]]:
            # Each frame resized once to size x size; keyframe images kept at full size
            # for the person detector.
            x = normalize(resize_frames(chunk, (size, size)), self.preset.mean,
                          self.preset.std, inplace=True)
            return [(x[j], chunk[j].copy() if r in wanted else None)
                    for j, r in enumerate(rows.tolist())]

        found: dict[int, Keyframe] = {}
        tick(0, len(times))
        pending: list[tuple[int, PersonBoxes]] = []
        batch = np.empty((self.batch_size, 3, self.preset.clip_len, size, size), np.float32)

        def stamp(k: int) -> float:  # in the file's timeline, plus --time-offset
            return round(float(times[k]) + info.start_s + settings.time_offset, 6)

        def frame(k: int) -> int:  # in the file's numbering
            return int(centres[k]) + info.first_frame

        def flush() -> None:
            if not pending:
                return
            rois = np.concatenate([
                np.concatenate([np.full((len(p.boxes), 1), float(slot), np.float32),
                                p.boxes.astype(np.float32) * size], axis=1)
                for slot, (_, p) in enumerate(pending)
            ])
            scores = self.action_scores(batch[: len(pending)], rois)
            first = 0
            for k, people in pending:
                rows = scores[first : first + len(people.boxes)]
                first += len(people.boxes)
                found[k] = Keyframe(stamp(k), frame(k), tuple(
                    self._person(b, s, r) for b, s, r in zip(people.boxes, people.scores, rows,
                                                             strict=True)))
            pending.clear()
            tick(len(found), len(times))

        for k, frames in complete_clips(path, decoded, plan.needed, clips, prepare):
            people = source.find(video_id, stamp(k), frames[int(centres[k])][1])
            if not len(people.boxes):
                found[k] = Keyframe(stamp(k), frame(k), ())
                tick(len(found), len(times))
                continue
            slot = batch[len(pending)]
            for t, i in enumerate(clips[k].tolist()):
                slot[:, t] = frames[i][0]
            pending.append((k, people))
            if len(pending) == self.batch_size:
                flush()
        flush()
        return Detection(
            video=path, video_id=video_id, frames=info.num_frames, fps=round(info.fps, 6),
            duration_s=round(info.duration_s, 6), width=info.width, height=info.height,
            preset=self.preset.name, persons_from=source.name,
            seconds=round(time.perf_counter() - started, 4), decoder=info.backend,
            keyframes=[found[k] for k in range(len(times))],
        )

    # -- batches -------------------------------------------------------------------------
    def video_job(self, settings: DetectSettings | None = None,
                  source: PersonSource | None = None, *,
                  on_progress: Progress | None = None) -> VideoJob:
        """The per-video function of ``detect`` (``pipeline.VideoJob``), as every
        executor runs it. ``source`` (default: ``persons.person_source(settings)``) finds
        the persons; ``on_progress(video, done, total)`` follows each video's keyframes."""
        settings = settings or DetectSettings()
        # A bad proposals file or detector stops the run before any video is touched.
        source = source or person_source(settings)
        return VideoJob(
            lambda p: self._decode(p, settings, source),
            lambda p, decoded, started: self._detect(p, decoded, settings, source, started,
                                                     video_progress(on_progress, p)),
            self.preset.name,
        )

    def iter_detect(
        self, paths: Paths, settings: DetectSettings | None = None,
        source: PersonSource | None = None, *, on_progress: Progress | None = None,
    ) -> Iterator[Result]:
        """One :class:`Detection` (or ``VideoFailure``) per path, in order.

        ``source`` (default: ``persons.person_source(settings)``) finds the persons;
        ``on_progress(video, done, total)`` follows each video's keyframes.
        """
        return self.video_job(settings, source, on_progress=on_progress).run(paths)

    def detect(self, paths: Paths, settings: DetectSettings | None = None, *,
               on_progress: Progress | None = None) -> list[Result]:
        """Detect in one path or many; one record per path, in order."""
        return list(self.iter_detect(paths, settings, on_progress=on_progress))


def load_detector(preset: str | None = None, checkpoint: str | Path | None = None, *,
                  download: bool = True, progress: bool = True, **spec: Any) -> Detector:
    """Load an AVA preset's model ready to ``detect`` (weights fetched on first use);
    ``spec`` holds the other :class:`~stcli.settings.ModelSpec` fields."""
    return Detector.load(ModelSpec(preset, checkpoint, **spec), download=download,
                         progress=progress)
