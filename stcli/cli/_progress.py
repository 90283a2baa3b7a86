"""A video's own progress on stderr (``VideoProgress``, the tasks' ``on_progress`` hook),
beside the batch's (videos done of total), as tqdm bars on a terminal or plain lines
elsewhere (``stcli.progress``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from ..progress import progress_bar

# A video finished sooner than this shows no bar of its own on a terminal: short videos in
# a batch would only flicker.
VIDEO_BAR_DELAY_S = 1.0
T = TypeVar("T")


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
