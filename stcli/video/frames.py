"""Opening, probing and reading videos: one frame model for decord and for ffmpeg.

Whichever decoder reads a file, stcli sees the same frames: RGB uint8 in display
orientation (the MP4/MOV display matrix applied, rotations and flips, see
``containers``), in storage pixels (the sample aspect ratio is ignored, as the official
pipeline's decord + OpenCV ignore it), each with its presentation time taken from the
file's timestamps (``VideoInfo.timestamps``, seconds from the first frame), so a
variable-rate video maps time to frames correctly. Random access (decord) and sequential
reads (an ffmpeg pipe) return identical frames for the same indices. A URL goes to ffprobe
and the ffmpeg pipe only, with network timeouts (``urls``).

Every failure surfaces as :class:`~stcli.errors.VideoError` with a one-line reason that a
user can act on; raw decoder exceptions and decoder log spam never reach the terminal.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VideoError
from ..urls import is_url
from .containers import (
    IDENTITY,
    Matrix,
    compose,
    display_matrix,
    frame_times,
    head_of,
    inverse,
    looks_intact,
    mp4_video_codec,
    orient,
    reduce_matrix,
    rotation_part,
    still_image,
    swaps_axes,
)
from .decoding import (
    decord_log_held,
    network_options,
    passthrough,
    read_exact,
    stall_seconds,
    stalled,
    widen_pipe,
    within,
)

_IMAGE_CODECS = frozenset({"mjpeg", "png", "bmp", "tiff", "webp", "jpeg2000", "gif"})
# What decord (FFmpeg 4.1 inside) turns into the same RGB as ffmpeg, checked frame for
# frame in tests/test_frames.py; anything else (10-bit and up) is read by ffmpeg.
_DECORD_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p",
                                   "yuvj444p", "nv12", "gray"})
_DECORD_CODECS = frozenset({"avc1", "avc3", "hvc1", "hev1"})
# Containers whose index makes ffmpeg's input ``-ss`` land exactly (checked frame for
# frame in tests/test_ranges.py); MPEG-TS seeks by bytes and can overshoot by a GOP.
_SEEK_FORMATS = ("mov,mp4", "matroska")


@dataclass(frozen=True)
class VideoInfo:
    """What stcli knows about a video: frame count, display size, times, decoder.

    ``width`` and ``height`` are those of the frames as displayed (a 90-degree rotation
    swaps them); ``timestamps[i]`` is frame ``i``'s presentation time in seconds from the
    first frame; ``duration_s`` runs to the end of the last frame; ``fps`` is the
    container's average rate; ``variable_rate`` says that frame intervals differ. A part
    cut out of a video (``cut``) is described as a video of its own, whose frame 0 is
    frame ``first_frame`` of the file, shown at ``start_s`` in the file's timeline.
    """

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    backend: str
    timestamps: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    duration_s: float = 0.0
    variable_rate: bool = False
    orientation: Matrix = IDENTITY
    first_frame: int = 0
    start_s: float = 0.0

    def __post_init__(self) -> None:
        if self.timestamps is None:  # a constant rate: frame i at i / fps
            rate = self.fps if self.fps > 0 else 1.0
            object.__setattr__(self, "timestamps", np.arange(self.num_frames) / rate)
            object.__setattr__(self, "duration_s", self.num_frames / self.fps
                               if self.fps > 0 else 0.0)

    def frame_at(self, seconds: np.ndarray | float) -> np.ndarray:
        """The frame shown nearest each time (presentation times; ties go to the earlier
        frame): ``round(t * fps)`` for a constant rate, as the AVA pipeline places
        keyframes."""
        t = np.atleast_1d(np.asarray(seconds, dtype=np.float64))
        after = np.clip(np.searchsorted(self.timestamps, t, side="left"), 0,
                        self.num_frames - 1)
        before = np.clip(after - 1, 0, self.num_frames - 1)
        nearer_before = np.abs(t - self.timestamps[before]) <= np.abs(
            self.timestamps[after] - t) + 1e-9
        return np.where(nearer_before, before, after).astype(np.int64)

    def time_of(self, frames: np.ndarray | int) -> np.ndarray:
        """Presentation time of each frame index; ``num_frames`` (one past the last) is
        the end of the video."""
        ends = np.append(self.timestamps, self.duration_s)
        return ends[np.clip(np.asarray(frames, dtype=np.int64), 0, self.num_frames)]

    def cut(self, first: int, stop: int) -> VideoInfo:
        """The frames ``[first, stop)`` as a video of their own: frame ``first`` becomes
        frame 0 at time 0; its ``first_frame`` and ``start_s`` lead back to this video's
        numbering and timeline."""
        begin = float(self.timestamps[first])
        times = self.timestamps[first:stop] - begin
        end = float(self.time_of(stop)[()]) - begin
        return VideoInfo(self.path, stop - first, self.fps, self.width, self.height,
                         self.backend, times, end, self.variable_rate, self.orientation,
                         self.first_frame + first, self.start_s + begin)

    def frames_per_chunk(self, budget_bytes: int = 8 << 20) -> int:
        """How many decoded frames fit in ``budget_bytes``: ~32 frames of 340x256, one of
        1080p. Small chunks bound memory and let resizing overlap decoding."""
        return max(1, budget_bytes // (self.width * self.height * 3))


class Video:
    """An open video. ``read(indices)`` returns uint8 RGB frames ``(n, H, W, 3)`` in
    display orientation."""

    info: VideoInfo

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices``, in the order given (repeats allowed), ``(n, H, W, 3)``."""
        indices = self._checked(indices)
        if not indices:
            return np.empty((0, self.info.height, self.info.width, 3), np.uint8)
        return self._read(indices)

    def _read(self, indices: list[int]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def _checked(self, indices: Sequence[int]) -> list[int]:
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.info.num_frames]
        if bad:
            # A caller's mistake, not a broken file: do not report it as a VideoError.
            raise IndexError(f"frame {bad[0]} is outside 0..{self.info.num_frames - 1}")
        return indices

    def read_chunks(self, indices: Sequence[int], chunk: int = 32) -> Iterator[np.ndarray]:
        """Frames for ``indices`` (sorted, distinct) in chunks, bounding peak memory."""
        for start in range(0, len(indices), chunk):
            yield self.read(indices[start : start + chunk])

    def close(self) -> None:
        """Release decoder resources."""

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DecordVideo(Video):
    """Reads with decord's ``VideoReader`` (the reference decoder, accurate seeking).

    decord applies only the rotation part of a display matrix; ``_fix`` turns its frames
    the rest of the way (a mirror), so they equal ffmpeg's."""

    def __init__(self, path: str, matrix: Matrix = IDENTITY) -> None:
        import decord  # loads its FFmpeg libraries: only when a video is opened

        decord.logging.set_level(decord.logging.QUIET)
        with decord_log_held():
            self._reader = decord.VideoReader(path, num_threads=0)
        self.path = path
        num_frames = len(self._reader)
        if num_frames == 0:
            raise VideoError(path, "contains no video frames")
        self._fix = compose(inverse(rotation_part(matrix)), matrix)
        height, width = orient(self._reader[0].asnumpy()[None], self._fix).shape[1:3]
        fps = float(self._reader.get_avg_fps())
        spans = self._reader.get_frame_timestamp(range(num_frames))
        times, duration, variable = frame_times(spans[:, 0], float(spans[-1, 1]), fps, path)
        self.info = VideoInfo(path, num_frames, fps, width, height, "decord", times, duration,
                              variable, matrix)

    def _read(self, indices: list[int]) -> np.ndarray:
        try:
            frames = within(stall_seconds(), self.path,
                             lambda: self._reader.get_batch(indices).asnumpy())
        except VideoError:
            raise
        except Exception as exc:  # noqa: BLE001 - decord raises bare RuntimeErrors
            raise VideoError(
                self.path,
                f"decoding failed near frame {int(indices[0])} of {self.info.num_frames}: "
                "the file is truncated or corrupt; re-download or re-encode it",
            ) from exc
        return orient(frames, self._fix)

    def close(self) -> None:
        self.__dict__.pop("_reader", None)


class FfmpegVideo(Video):
    """Reads through an ``ffmpeg`` rawvideo pipe; for files decord cannot open and for one
    sequential pass over a long video.

    The frame count and times come from demuxing (packet timestamps), which reads no
    pixels; a file whose readable packets fall short of its own index is reported as
    truncated. ffmpeg decodes the stored frames (``-noautorotate``) and stcli orients them.
    In MP4/MOV and Matroska files decoding starts at the first wanted frame (``-ss``), so
    a late time range costs no decoding of what comes before it.
    """

    def __init__(self, path: str, matrix: Matrix | None = IDENTITY, threads: int = 0) -> None:
        """``matrix`` None: the display matrix ffprobe reports (a URL, which stcli cannot
        read the MP4 boxes of)."""
        self.threads = threads  # ffmpeg's decoding threads; 0: its own choice
        try:
            stream, packets = probe(path, packets=True)
        except FileNotFoundError as exc:
            raise VideoError(path, "cannot be decoded: ffmpeg is not installed") from exc
        declared = int(stream.get("nb_frames") or 0)
        if not packets:
            raise VideoError(path, "contains no video frames")
        if declared and len(packets) < declared:
            raise VideoError(
                path,
                f"truncated: only {len(packets)} of {declared} frames are present; "
                "re-download or re-encode it",
            )
        if stream.get("codec_name") in _IMAGE_CODECS and len(packets) == 1:
            raise VideoError(path, "a still image, not a video: give a video file")
        if matrix is None:
            matrix = _probed_matrix(stream)
        self.path, self.matrix = path, matrix
        self.stream = stream
        self._origin: float | None = None  # where frame 0 is in ffmpeg's -ss time
        fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
        self._size = int(stream["width"]), int(stream["height"])
        width, height = self._size[::-1] if swaps_axes(matrix) else self._size
        starts = [p.get("pts_time") for p in packets]
        if all(s is not None for s in starts):
            last = max(packets, key=lambda p: float(p["pts_time"]))
            end = (float(last["pts_time"]) + float(last["duration_time"])
                   if last.get("duration_time") else None)
            times, duration, variable = frame_times(
                [float(s) for s in starts], end, fps, path)
            fmt = stream.get("format", {})
            origin = min(float(s) for s in starts) - float(fmt.get("start_time") or 0)
            if fmt.get("format_name", "").startswith(_SEEK_FORMATS) and origin >= -1e-6:
                self._origin = max(origin, 0.0)
            info = VideoInfo(path, len(packets), fps, width, height, "ffmpeg", times,
                             duration, variable, matrix)
        else:  # raw streams without timestamps: a constant rate
            info = VideoInfo(path, len(packets), fps, width, height, "ffmpeg",
                             orientation=matrix)
        self.info = info

    @property
    def sample_aspect_ratio(self) -> str:
        """``"N:D"``, the shape of a displayed pixel (``1:1`` square), of the frames as
        stcli returns them (a 90-degree turn inverts it)."""
        sar = self.stream.get("sample_aspect_ratio") or "1:1"
        num, _, den = sar.partition(":")
        if not (num.isdigit() and den.isdigit() and int(num) and int(den)):
            return "1:1"
        return f"{den}:{num}" if swaps_axes(self.matrix) else f"{num}:{den}"

    def _read(self, indices: list[int]) -> np.ndarray:
        wanted = sorted(set(indices))
        frames = np.concatenate(list(self.read_chunks(wanted, chunk=len(wanted))))
        row = {index: n for n, index in enumerate(wanted)}
        return frames[[row[i] for i in indices]]

    def read_chunks(self, indices: Sequence[int], chunk: int = 32) -> Iterator[np.ndarray]:
        # One sequential pass through the pipe serves every chunk.
        wanted = sorted(set(self._checked(indices)))
        if not wanted:
            return
        w, h = self._size
        frame_bytes = w * h * 3
        step, first = _pattern(wanted)
        # Decoding starts at the first wanted frame where the container seeks exactly
        # (a time range, a late first clip); ffmpeg then numbers frames from there.
        seek = self._seek_time(first)
        skip = first if seek is not None else 0
        # Frames no clip needs are dropped inside ffmpeg, before the RGB conversion and the
        # pipe: sliding windows and snippets take every 4th frame, and converting and
        # piping the other three cost ~0.3 s of CPU per minute of video beside the network.
        keep = [] if (step, first - skip) == (1, 0) else [
            "-vf", f"select=gte(n\\,{first - skip})*not(mod(n-{first - skip}\\,{step}))"]
        with tempfile.TemporaryFile() as errors:
            threads = ["-threads", str(self.threads)] if self.threads else []
            start = [] if seek is None else ["-ss", f"{seek:.6f}"]
            cmd = ["ffmpeg", "-v", "error", "-nostdin", "-noautorotate", *threads,
                   *network_options(self.path), *start, "-i", self.path,
                   "-map", "0:v:0", *keep, "-f", "rawvideo", "-pix_fmt", "rgb24",
                   *passthrough(), "pipe:"]
            try:
                # Unbuffered: select() below must see every byte ffmpeg has written.
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, bufsize=0)
                widen_pipe(proc.stdout)
            except FileNotFoundError as exc:
                raise VideoError(self.path, "cannot be decoded: ffmpeg is not installed") from exc
            out, position, pending = [], first, iter(wanted)
            target = next(pending, None)
            stall = stall_seconds()
            try:
                while target is not None:
                    raw = read_exact(proc.stdout, frame_bytes, stall)
                    if raw is None:
                        raise VideoError(self.path, stalled(stall, position))
                    if len(raw) < frame_bytes:
                        errors.seek(0)
                        detail = errors.read().decode(errors="replace").strip().splitlines()
                        raise VideoError(
                            self.path,
                            f"decoding stopped at frame {position} of {self.info.num_frames}"
                            f"{': ' + detail[-1] if detail else ''}; the file is corrupt",
                        )
                    if position == target:
                        out.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
                        target = next(pending, None)
                        if len(out) == chunk:
                            yield orient(np.stack(out), self.matrix)
                            out = []
                    position += step
                if out:
                    yield orient(np.stack(out), self.matrix)
            finally:
                proc.kill()
                proc.wait()

    def _seek_time(self, frame: int) -> float | None:
        """The input ``-ss`` that makes ``frame`` the first frame decoded: halfway from
        the previous frame's time, so that rounding neither keeps that one nor drops this
        one (ffmpeg keeps the frames at or after it). None for frame 0 and where seeking
        is not exact."""
        if frame <= 0 or self._origin is None:
            return None
        times = self.info.timestamps
        return self._origin + float(times[frame - 1] + times[frame]) / 2


def _probed_matrix(stream: dict[str, Any]) -> Matrix:
    """The reduced display matrix in ffprobe's side data (printed as three rows of
    ``index: a b u``), the identity when there is none."""
    for side in stream.get("side_data_list", []):
        text = side.get("displaymatrix")
        if text:
            values = [int(v) for line in text.strip().splitlines()
                      for v in line.split(":", 1)[-1].split()]
            if len(values) == 9:
                return reduce_matrix(values)
    return IDENTITY


def _pattern(wanted: Sequence[int]) -> tuple[int, int]:
    """``(step, first)``: every index in ``wanted`` (sorted) is ``first`` plus a multiple of
    ``step``, the largest such step (1 when there is no pattern)."""
    first, step = wanted[0], 0
    for index in wanted[1:]:
        step = math.gcd(step, index - first)
    return max(step, 1), first


def probe(path: str, packets: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """ffprobe's description of the first video stream (with its display matrix in
    ``side_data_list`` and the container's ``format_name`` and ``start_time`` under
    ``"format"``) and, with ``packets``, its packets' times (demuxing the whole file,
    decoding nothing); :class:`VideoError` if there is no video stream. Raises
    ``FileNotFoundError`` when ffprobe is not installed."""
    entries = ("stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,"
               "sample_aspect_ratio,pix_fmt:stream_side_data=displaymatrix"
               ":format=format_name,start_time")
    if packets:
        entries += ":packet=pts_time,duration_time"
    cmd = ["ffprobe", "-v", "error", *network_options(path), "-select_streams", "v:0",
           "-show_entries", entries, "-of", "json", path]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise VideoError(path, _probe_failure(path, proc.stderr))
    try:
        data = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise VideoError(path, "not a readable video (ffprobe gave no description)") from exc
    streams = [s for s in data.get("streams", []) if s.get("width")]
    if not streams:
        raise VideoError(path, "has no video stream (audio-only or not a video file)")
    return {**streams[0], "format": data.get("format", {})}, data.get("packets", [])


def _rate(text: str | None) -> float:
    try:
        num, _, den = (text or "0/1").partition("/")
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


def _probe_failure(path: str, stderr: bytes | None) -> str:
    lines = (stderr or b"").decode(errors="replace").strip().splitlines()
    detail = lines[-1].split(": ", 1)[-1] if lines else "unknown error"
    if is_url(path):  # refused, 404, timed out, not a video: the server's or ffmpeg's words
        return f"cannot be read ({detail})"
    if head_of(path)[4:8] == b"ftyp" and any("moov atom not found" in line for line in lines):
        return "truncated or incomplete MP4 (no 'moov' index): re-download or re-encode it"
    return f"not a readable video ({detail})"


def open_video(path: str | Path, sequential: bool = False, threads: int = 0) -> Video:
    """Open ``path`` with decord, falling back to ffmpeg; raise :class:`VideoError`.

    ``sequential=True`` is for one forward pass over a long video (localization): it
    reads through an ffmpeg pipe, which keeps no decoder state in this process. Decord
    interleaved with the network let the heap grow with the video's length (peak RSS
    1.3 GB for 2 minutes, 3 GB for 10, benchmarks/localize.py). ``threads`` caps that
    pipe's decoding threads (0: ffmpeg's choice). A URL is read by ffmpeg alone (decord
    cannot open one), with network timeouts (``urls.network_options``).
    """
    path = str(path)
    if is_url(path):
        return FfmpegVideo(path, None, threads)
    if not os.path.exists(path):
        raise VideoError(path, "file not found")
    if os.path.isdir(path):
        raise VideoError(path, "is a directory, not a video file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise VideoError(path, f"cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied")
    if kind := still_image(head_of(path)):
        raise VideoError(path, f"a still image ({kind}), not a video: give a video file")
    matrix = display_matrix(path)
    if sequential:
        return FfmpegVideo(path, matrix, threads)
    codec = mp4_video_codec(path)
    if not (looks_intact(path) and codec is not None and codec[0] in _DECORD_CODECS
            and codec[1] == 8):
        try:
            # Anything but a whole 8-bit H.264/HEVC MP4 is probed first: files that are no
            # video or a cut-off MP4 get ffprobe's diagnosis (decord, which logs its own
            # failures straight to stderr, never sees them), and pixel formats decord
            # misreads (10-bit: wrong colours, no error) go to ffmpeg.
            stream, _ = probe(path)
        except FileNotFoundError:
            pass  # no ffprobe on this machine: decord (which bundles FFmpeg) decides alone
        else:
            if stream.get("codec_name") in _IMAGE_CODECS and stream.get("nb_frames") == "1":
                raise VideoError(path, "a still image, not a video: give a video file")
            if stream.get("pix_fmt") not in _DECORD_PIXEL_FORMATS:
                return FfmpegVideo(path, matrix)
    try:
        return DecordVideo(path, matrix)
    except VideoError:
        raise
    except Exception:  # noqa: BLE001 - decord cannot open it; let ffmpeg try and explain
        return FfmpegVideo(path, matrix)
