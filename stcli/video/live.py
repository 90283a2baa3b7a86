"""Live sources: a camera, a network stream or a file read as a stream, one ffmpeg process
at a time, and the newest clip of it for a scorer that may be slower than the stream.

- ``LiveSource`` runs ``ffmpeg`` emitting rawvideo RGB at the stream's own size and yields
  :class:`Frame` s with their stream time. The size and rate come from ffmpeg's own
  description of the stream it writes (its stderr), not from a separate ffprobe: a probe
  would be a second connection, which single-client servers (``tcp://...?listen``, many
  cameras) refuse or end the stream for, and it doubles the connect time of RTSP. A lost
  or refused connection is retried ``reconnect`` times with exponential backoff (1, 2,
  4 s, capped); a pipe silent for ``timeout`` seconds counts as lost (the watchdog),
  besides ffmpeg's own network timeouts.
- ``ClipFeed`` reads the frames on a background thread, preprocesses each one once and
  keeps only the last clip span of them (a ring buffer): memory stays flat however long
  the stream. At every step of stream time it offers the newest clip; a step the scorer
  did not take in time is replaced by the next (counted), never queued. A file read as
  fast as possible waits for the scorer instead, so that its events are deterministic.

No network here: the scorer (``tasks.watch``) takes the clips.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StreamError
from .decoding import network_options, passthrough, read_exact, widen_pipe

log = logging.getLogger(__name__)
# URL schemes read as network streams (HLS is an http(s) URL of a .m3u8 playlist).
NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp",
                             "tcp", "srt", "rtp"})
BACKOFF_CAP_S = 4.0
_EPS = 1e-6  # stream times are sums of 1/fps: compare with a little slack
_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: ")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})[ ,]")
_RATE = re.compile(r"(\d+(?:\.\d+)?)(k?) (fps|tbr)")


def source_kind(source: str) -> str:
    """``device`` (a V4L2 camera, ``/dev/video*``), ``network`` (a URL of a streaming
    scheme) or ``file``."""
    if source.startswith("/dev/video"):
        return "device"
    scheme, sep, _ = source.partition("://")
    if sep and scheme.lower() in NETWORK_SCHEMES:
        return "network"
    if sep and len(scheme) > 1:
        raise StreamError(source, f"unknown stream scheme '{scheme}://'; give a file, a "
                          f"camera (/dev/video0) or one of {', '.join(sorted(NETWORK_SCHEMES))}")
    return "file"


def check_source(source: str) -> str:
    """``source_kind``, after refusing a file that is not there (before a model loads)."""
    kind = source_kind(source)
    if kind == "file" and not Path(source).is_file():
        raise StreamError(source, "no such file; give a video file, a camera (/dev/video0) "
                          "or a stream URL (rtsp://, http://, tcp://, ...)")
    return kind


def ffmpeg_input(source: str, kind: str, timeout_s: float, realtime: bool) -> list[str]:
    """ffmpeg's input options and ``-i source`` for a source of ``kind``."""
    if kind == "device":
        return ["-f", "v4l2", "-i", source]
    if kind == "file":
        return [*(["-re"] if realtime else []), "-i", source]
    # Not -fflags nobuffer: with it ffmpeg 5.1 decoded no frame of an MPEG-TS over TCP.
    # A silent pipe is also caught by the watchdog (``_Connection.frames``).
    return [*network_options(source, timeout_s), "-i", source]


@dataclass(frozen=True)
class StreamInfo:
    """What ffmpeg writes: frames of ``width`` x ``height`` RGB at ``fps``."""

    width: int
    height: int
    fps: float


def parse_stream_info(lines: list[str]) -> StreamInfo | None:
    """The output video stream ffmpeg describes on stderr (``-v info``), the rate taken
    from the input stream's when the output line has none; None until it has said it."""
    output = [i for i, line in enumerate(lines) if line.startswith("Output #0")]
    if not output:
        return None
    described = [line for line in lines[output[0]:] if _STREAM.search(line)]
    size = _SIZE.search(described[0]) if described else None
    if size is None:
        return None
    rates = [_RATE.search(line) for line in (described[0], *(
        line for line in lines[: output[0]] if _STREAM.search(line)))]
    fps = next((float(m.group(1)) * (1000 if m.group(2) else 1) for m in rates if m), 0.0)
    return StreamInfo(int(size.group(1)), int(size.group(2)), fps)


@dataclass(frozen=True)
class Frame:
    """One frame read: its number since the start (across reconnects), its time in the
    stream, when it came off the pipe (``time.monotonic``), and its pixels (RGB uint8 or,
    once a ``ClipFeed`` prepared it, the network's input)."""

    index: int
    time: float
    captured: float
    pixels: Any
    connection: int = 0  # which connection read it: a clip never spans a reconnect


class _Lost(Exception):
    """One connection failed or went silent (retried when reconnects are left)."""


class _Connection:
    """One ffmpeg process reading the source; its stderr kept (the last lines) on a
    thread, to learn the stream's size and to name a failure."""

    def __init__(self, source: str, kind: str, timeout_s: float, realtime: bool,
                 threads: int) -> None:
        self.source, self.timeout_s = source, timeout_s
        self.lines: deque[str] = deque(maxlen=200)
        self.described = threading.Event()
        self.info: StreamInfo | None = None
        thread_opts = ["-threads", str(threads)] if threads else []
        cmd = ["ffmpeg", "-hide_banner", "-nostats", "-nostdin", "-v", "info", *thread_opts,
               *ffmpeg_input(source, kind, timeout_s, realtime), "-map", "0:v:0", "-an",
               "-f", "rawvideo", "-pix_fmt", "rgb24", *passthrough(), "pipe:"]
        try:
            # Unbuffered: select() must see every byte ffmpeg has written. Its own session:
            # Ctrl-C at the terminal reaches stcli only, which ends the watch (closing
            # segments, the summary) and then ffmpeg, rather than ffmpeg ending the stream
            # under it first.
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         stdin=subprocess.DEVNULL, bufsize=0,
                                         start_new_session=True)
        except FileNotFoundError as exc:
            raise StreamError(source, "cannot be read: ffmpeg is not installed") from exc
        widen_pipe(self.proc.stdout)
        self._stderr = threading.Thread(target=self._read_stderr, name="stcli-ffmpeg-log",
                                        daemon=True)
        self._stderr.start()

    def _read_stderr(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):  # type: ignore[union-attr]
            self.lines.append(raw.decode(errors="replace").rstrip())
            if self.info is None:
                self.info = parse_stream_info(list(self.lines))
                if self.info is not None:
                    self.described.set()
        self.described.set()  # ffmpeg ended: whoever waits learns it now

    def open(self) -> StreamInfo:
        """Wait for ffmpeg to describe the stream (connected, probed)."""
        # Connecting and probing may take ffmpeg's own timeout plus its analysis (~5 s).
        if not self.described.wait(self.timeout_s + 10) or self.info is None:
            raise _Lost(self.failure("no video stream came"))
        return self.info

    def frames(self) -> Iterator[np.ndarray]:
        """Frames until the end of the stream; ``_Lost`` when the pipe is silent for the
        timeout (the watchdog) or ffmpeg fails."""
        assert self.info is not None
        w, h = self.info.width, self.info.height
        while True:
            raw = read_exact(self.proc.stdout, w * h * 3, self.timeout_s)
            if raw is None:
                raise _Lost(f"no frame for {self.timeout_s:g} s")
            if len(raw) < w * h * 3:
                if self.proc.wait() != 0:
                    raise _Lost(self.failure("the stream broke off"))
                return
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)

    def failure(self, default: str) -> str:
        """ffmpeg's last word on what went wrong, else ``default``."""
        if self.proc.poll() is not None:
            self._stderr.join(5.0)  # its last lines may still be on the way
        noise = ("frame=", "video:", "Conversion failed", "Exiting normally", "  ")
        said = [line for line in list(self.lines) if line and not line.startswith(noise)]
        if not said:
            return default
        return said[-1].replace(f"{self.source}: ", "").strip()

    def close(self) -> None:
        """Stop ffmpeg (safe from another thread, and more than once)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class LiveSource:
    """The frames of ``source`` through ffmpeg, reconnecting when a connection is lost.

    The end of a file, or of a network stream when no reconnects are asked for, is the
    normal end. A source that cannot be opened, or keeps failing once the reconnects
    are used up, raises :class:`~stcli.errors.StreamError` (one line, naming it)."""

    def __init__(self, source: str, *, timeout_s: float = 10.0, reconnect: int = 0,
                 realtime: bool = False, threads: int = 0) -> None:
        self.source, self.kind = str(source), check_source(str(source))
        self.timeout_s, self.reconnect = timeout_s, reconnect
        self.realtime, self.threads = realtime, threads
        self.reconnects = 0  # successful or not, attempts made
        self.fps = 0.0
        self._stop = threading.Event()
        self._current: _Connection | None = None

    @property
    def paced(self) -> bool:
        """Frames come at the stream's own rate (live, or ``realtime``): a slow scorer
        must skip steps. A file read as fast as possible waits for the scorer instead."""
        return self.kind != "file" or self.realtime

    def frames(self) -> Iterator[Frame]:
        """Every frame, with stream times that go on across reconnects (a gap as long as
        the outage)."""
        index, connection, attempt = 0, 0, 0
        last: Frame | None = None
        while not self._stop.is_set():
            reason = None
            conn = self._current = _Connection(self.source, self.kind, self.timeout_s,
                                               self.realtime, self.threads)
            try:
                info = conn.open()
                fps = info.fps or self.fps or 25.0
                if not info.fps:
                    log.warning("%s: the stream does not say its frame rate; assuming %g",
                                self.source, fps)
                self.fps, base, got = fps, 0.0, 0
                for pixels in conn.frames():
                    now = time.monotonic()
                    if got == 0:
                        attempt = 0  # connected and reading: the next loss starts afresh
                        if last is not None:  # stream time also passes during an outage
                            base = last.time + max(1.0 / fps, now - last.captured)
                    last = Frame(index, base + got / fps, now, pixels, connection)
                    yield last
                    index, got = index + 1, got + 1
                if not got:
                    raise _Lost("the stream ended before its first frame")
            except _Lost as exc:
                reason = str(exc)
            finally:
                conn.close()
            if self._stop.is_set():
                return
            if reason is None and (self.kind == "file" or not self.reconnect):
                return  # the end of the stream
            reason = reason or "the stream ended"
            if self.kind == "file" or attempt >= self.reconnect:
                gave_up = (f" (gave up after {self.reconnect} reconnects)"
                           if self.reconnect and self.kind != "file" else "")
                raise StreamError(self.source, f"{reason}{gave_up}")
            attempt += 1
            self.reconnects += 1
            connection += 1
            delay = min(2.0 ** (attempt - 1), BACKOFF_CAP_S)
            log.warning("%s: %s; reconnecting in %g s (attempt %d of %d)", self.source,
                        reason, delay, attempt, self.reconnect)
            self._stop.wait(delay)

    def close(self) -> None:
        """Stop reading (from any thread): ffmpeg is ended, the frames stop."""
        self._stop.set()
        if self._current is not None:
            self._current.close()


@dataclass(frozen=True)
class Clip:
    """The newest clip at a step of stream time: ``frames`` oldest first (prepared)."""

    time: float
    frames: list[Frame]


class ClipFeed:
    """The newest clip of a :class:`LiveSource` at every ``every`` seconds of stream time.

    A reader thread takes each frame off the pipe, ``prepare`` s its pixels once (resize,
    crop, normalize) and keeps the last ``clip_span(clip_len, interval)`` frames. A step is
    due when the first frame at or after its time arrives; its clip is the ``clip_len``
    frames ``interval`` apart ending there. Iterating yields the due clips; when paced
    (live) a clip not taken before the next is due is replaced (``skipped``), else the
    reader waits for it. ``until`` ends the stream after that stream time; ``on_frame``
    sees every frame as read, on the reader thread (``--render``); setting ``stop`` ends
    the iteration at the next clip."""

    def __init__(self, source: LiveSource, clip_len: int, interval: int, every: float,
                 prepare: Callable[[np.ndarray], Any], until: float | None = None,
                 on_frame: Callable[[np.ndarray, float, float], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.source, self.clip_len, self.interval = source, clip_len, interval
        self.every, self.prepare, self.until = every, prepare, until
        self.on_frame = on_frame  # (pixels, stream time, fps) of each frame as read
        self.stop = stop or threading.Event()  # set: no more clips (a clean stop)
        self.span = (clip_len - 1) * interval + 1
        self.frames_read = self.skipped = 0
        self.last_time = 0.0
        self.reached_until = False  # ended by ``until``, not by the source
        self._ring: deque[Frame] = deque(maxlen=self.span)
        self._due: Clip | None = None
        self._next_step = every
        self._ended = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="stcli-live-read", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                if self.until is not None and frame.time > self.until + _EPS:
                    self.reached_until = True
                    break
                if self.on_frame is not None:
                    self.on_frame(frame.pixels, frame.time, self.source.fps)
                self._push(Frame(frame.index, frame.time, frame.captured,
                                 self.prepare(frame.pixels), frame.connection))
        except BaseException as exc:  # noqa: BLE001 - handed to the scorer
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _push(self, frame: Frame) -> None:
        with self._cond:
            while not self.source.paced and self._due is not None and not self._ended:
                self._cond.wait(0.2)  # a file: the scorer sets the pace
            if self._ring and self._ring[-1].connection != frame.connection:
                self._ring.clear()  # a clip never spans a reconnect
            self._ring.append(frame)
            self.frames_read += 1
            self.last_time = frame.time
            if frame.time + _EPS < self._next_step:
                return
            step = math.floor((frame.time + _EPS) / self.every)
            self._next_step = (step + 1) * self.every
            if len(self._ring) < self.span:
                return  # not a whole clip yet (the start, or just after a reconnect)
            if self._due is not None:
                self.skipped += 1
            picked = list(self._ring)[:: -self.interval][: self.clip_len][::-1]
            self._due = Clip(round(step * self.every, 6), picked)
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Clip]:
        return self

    def __next__(self) -> Clip:
        with self._cond:
            while self._due is None and not self._ended and not self.stop.is_set():
                self._cond.wait(0.2)  # short waits: Ctrl-C and stop are seen between them
            if self._due is None or self.stop.is_set():
                if self._error is not None:
                    raise self._error
                raise StopIteration
            clip, self._due = self._due, None
            self._cond.notify_all()
            return clip

    def close(self) -> None:
        """Stop the source and the reader thread."""
        self.source.close()
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        self._thread.join(5)

