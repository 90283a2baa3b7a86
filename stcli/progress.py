"""Progress on stderr for long work: tqdm bars on a terminal, plain lines anywhere else.

A terminal gets tqdm bars, redrawn in place with ``\\r``. A file, a pipe or a CI log gets
no ``\\r`` at all: a redrawn bar there is an unreadable smear. Instead it gets plain lines
through the ``stcli`` logger, ``stcli: localize x.mp4: 120/480 windows (25%), 12.0/s, ETA
30 s``, at most one every ``STCLI_PROGRESS_S`` seconds (default 5) per bar, so that a log
shows a long run is alive without filling up. Used by batch runs (the batch's bar, and
each video's: ``VideoProgress``) and by downloads.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

INTERVAL_ENV = "STCLI_PROGRESS_S"
DEFAULT_INTERVAL_S = 5.0
log = logging.getLogger("stcli.progress")
T = TypeVar("T")


def interval_s() -> float:
    """Seconds between plain progress lines: ``$STCLI_PROGRESS_S``, else 5."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0:
        # A progress setting must never stop a run that is already writing results.
        log.warning("%s=%r is not a number of seconds; using %g", INTERVAL_ENV, text,
                    DEFAULT_INTERVAL_S)
        return DEFAULT_INTERVAL_S
    return value


def progress_bar(total: int | None, hidden: bool, desc: str, unit: str = "video",
                 leave: bool = True, delay: float = 0.0) -> Any:
    """Something with tqdm's ``update(n)`` and ``close()``: a tqdm bar when stderr is a
    terminal (shown after ``delay`` seconds), else :class:`PlainProgress`. Unit ``B``
    counts bytes (shown in KiB, MiB, ...)."""
    if not sys.stderr.isatty():
        return PlainProgress(total or 0, desc, unit, hidden=hidden)
    from tqdm import tqdm  # not at import: keeps --help fast

    scale = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    return tqdm(total=total, unit=unit, file=sys.stderr, desc=desc, dynamic_ncols=True,
                disable=hidden, leave=leave, delay=delay, **scale)


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 5 min``: an ETA as a person reads it."""
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 90:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class PlainProgress:
    """tqdm's ``update``/``close`` for a stderr that is not a terminal: a plain line at
    most every :func:`interval_s` seconds (none for work done sooner), and a last one at
    ``close`` when earlier lines were written, so that a log shows how it ended."""

    def __init__(self, total: int, desc: str, unit: str, hidden: bool = False) -> None:
        self.total, self.desc, self.unit, self.hidden = total, desc, unit, hidden
        self.n = 0
        self.interval = interval_s()
        self.started = self.last = time.monotonic()
        self.shown: int | None = None  # the count of the last line written

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done; write a line if the interval has passed."""
        self.n += n
        now = time.monotonic()
        if not self.hidden and now - self.last >= self.interval:
            self._write(now)

    def close(self) -> None:
        """Write the final count if lines were written and it is not the last one."""
        if not self.hidden and self.shown is not None and self.shown != self.n:
            self._write(time.monotonic())
        self.hidden = True

    def _write(self, now: float) -> None:
        self.last, self.shown = now, self.n
        if self.unit == "B":  # bytes: in MB, as a person reads a download
            text = f"{self.desc}: {self.n / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        else:
            text = f"{self.desc}: {self.n}/{self.total} {self.unit}s"
        if self.total > 0:
            text += f" ({100 * self.n // self.total}%)"
        elapsed = now - self.started
        if self.n > 0 and elapsed > 0:
            rate = self.n / elapsed
            if self.unit == "B":
                text += f", {rate / 1e6:.1f} MB/s"
            else:
                text += f", {rate:.1f}/s" if rate >= 1 else f", {rate:.2g}/s"
            if self.n < self.total:
                text += f", ETA {_duration((self.total - self.n) / rate)}"
        log.info("%s", text)


# A video finished sooner than this shows no bar of its own on a terminal: short videos in
# a batch would only flicker.
VIDEO_BAR_DELAY_S = 1.0


class VideoProgress:
    """The tasks' ``on_progress(video, done, total)`` hook shown on stderr: one bar (or
    plain lines) per video, ``DESC VIDEO: done/total UNITs``; nothing when ``quiet``.

    Wrap the task's results in :meth:`follow`, which closes a video's bar when its
    result arrives, also when the video failed halfway.
    """

    def __init__(self, quiet: bool, desc: str, unit: str) -> None:
        self.quiet, self.desc, self.unit = quiet, desc, unit
        self.video: str | None = None
        self.bar: Any = None
        self.done = 0

    def __call__(self, video: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if video != self.video or self.bar is None:
            self.close()
            self.video, self.done = video, 0
            self.bar = progress_bar(total, total < 2, f"{self.desc} {video}", self.unit,
                                    leave=False, delay=VIDEO_BAR_DELAY_S)
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        """End the current video's bar, if any."""
        if self.bar is not None:
            self.bar.close()
        self.bar, self.video = None, None

    def follow(self, results: Iterable[T]) -> Iterator[T]:
        """``results`` as they come, each video's bar closed before its result goes on."""
        try:
            for result in results:
                self.close()
                yield result
        finally:
            self.close()
