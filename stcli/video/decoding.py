"""Guards around decoders: stalls, log noise and reading their pipes.

A decoder that stops delivering frames (a damaged file, a dead stream) is given up after
``stall_seconds``; decord, which decodes in C++ where nothing can interrupt it, reads on a
helper thread (``within``). decord's C++ logger writes a failure to open straight to file
descriptor 2; ``decord_log_held`` keeps those lines off the terminal, where stcli reports
the failure in its own words.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import VideoError
from ..urls import is_url, network_timeout_s

T = TypeVar("T")


def stall_seconds() -> float:
    """How long a decoder may go without delivering a frame before the file is given up as
    damaged: ``$STCLI_DECODE_STALL_S``, default 120 s."""
    try:
        return max(0.0, float(os.environ.get("STCLI_DECODE_STALL_S", "120")))
    except ValueError:
        return 120.0


def stalled(seconds: float, position: int | None = None) -> str:
    """The reason given for a video whose decoder went ``seconds`` without a frame."""
    where = f" at frame {position}" if position is not None else ""
    return (f"decoding stalled{where}: no frame for {seconds:g} s; the file is damaged "
            "(STCLI_DECODE_STALL_S sets the limit)")


def within(seconds: float, path: str, work: Callable[[], T]) -> T:
    """``work()`` on a helper thread, given up after ``seconds``: decord decodes in C++,
    where a damaged file could hold a read forever and nothing can interrupt it. A read
    given up on is left to finish on its (daemon) thread; the video is reported."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="stcli-decord-read", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise VideoError(path, stalled(seconds))
    if "error" in box:
        raise box["error"]
    return box["value"]


_DECORD_LOG = re.compile(rb"^\[\d\d:\d\d:\d\d\] \S*\.cc:\d+: ")
_FD2 = threading.Lock()


@atexit.register
def _release_held_stderr() -> None:
    """At exit, let a decord open that holds fd 2 (on the decoding thread) finish and pass
    the lines written meanwhile on: the last message of an interrupted run is one of them."""
    if _FD2.acquire(timeout=10):
        _FD2.release()


@contextlib.contextmanager
def decord_log_held() -> Iterator[None]:
    """Hold file descriptor 2 while decord opens a file, then pass on all but decord's own
    lines: its C++ logger writes a failure to open straight to fd 2 (its log level reaches
    only the FFmpeg inside it), and stcli reports that failure in its own words."""
    with _FD2, tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True)
                    if not _DECORD_LOG.match(line)]
            if kept:  # anything else (another thread's lines) arrives, a moment late
                os.write(2, b"".join(kept))


def read_exact(pipe: Any, size: int, seconds: float) -> bytearray | None:
    """``size`` bytes from an unbuffered pipe (fewer at its end), read straight into one
    buffer; None when nothing arrives for ``seconds``."""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        if not select.select([pipe], [], [], seconds)[0]:
            return None
        count = pipe.readinto(view[got:])
        if not count:
            return buffer[:got]
        got += count
    return buffer


def widen_pipe(pipe: Any) -> None:
    """Ask for a 1 MiB pipe (Linux; 64 KiB by default): a frame then arrives in a few reads."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl  # POSIX only

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)


def network_options(source: str, timeout_s: float | None = None) -> list[str]:
    """ffmpeg/ffprobe input options bounding every network wait for ``source`` to
    ``timeout_s`` (default ``urls.network_timeout_s()``), in microseconds: RTSP's own
    socket timeout; for everything else the protocol layer's ``-rw_timeout``, which covers
    the connection and each read (http, tcp, udp, ftp, rtmp). Nothing for a file or a
    camera. The one place these options are made, for files by URL and live streams."""
    if not is_url(source):
        return []
    micros = str(round((timeout_s or network_timeout_s()) * 1e6))
    if source.split(":", 1)[0].lower() not in ("rtsp", "rtsps"):
        return ["-rw_timeout", micros]
    # Before ffmpeg 5, RTSP's -timeout made it listen for a server to call in; -stimeout
    # was its socket timeout.
    old = (ffmpeg_version() or (5, 0)) < (5, 0)
    return ["-stimeout" if old else "-timeout", micros]


@functools.cache
def ffmpeg_version() -> tuple[int, int] | None:
    """``(major, minor)`` of the ``ffmpeg`` on the PATH; None when it does not say (a git
    build) or is missing."""
    try:
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                               timeout=30).stdout.splitlines()[:1]
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_ffmpeg_version(first[0] if first else "")


def parse_ffmpeg_version(line: str) -> tuple[int, int] | None:
    """``"ffmpeg version 5.1.9-0+deb12u1 ..."`` -> ``(5, 1)``; ``n4.4.2`` -> ``(4, 4)``."""
    match = re.match(r"ffmpeg version n?(\d+)\.(\d+)", line)
    return (int(match.group(1)), int(match.group(2))) if match else None


def passthrough() -> list[str]:
    """The output option that keeps every frame as decoded, neither dropped nor repeated:
    ``-fps_mode passthrough`` from ffmpeg 5.1, ``-vsync passthrough`` before (4.4)."""
    version = ffmpeg_version()
    if version is not None and version < (5, 1):
        return ["-vsync", "passthrough"]
    return ["-fps_mode", "passthrough"]
