"""Resuming a batch: which per-video reports of an earlier run may stand for a video now.

Every per-video report (``--report-dir``) carries a ``fingerprint``: what its result
depends on. That is the command, the stcli version, the preset, the checkpoint's sha256,
the head, the engine (backend and precision), every setting of the command, the files
those settings name, and the input video's size and modification time. A report is
reused only when its fingerprint equals the one this run would write; a foreign, stale,
failed or unreadable report is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import reports
from ..version import __version__

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..settings import _Settings

FINGERPRINT_KEY = "fingerprint"


def file_stamp(path: str | os.PathLike[str]) -> dict[str, int] | None:
    """Size and modification time of a file (None when there is none): enough to tell
    that it changed without reading it."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _head_digest(model: LoadedModel) -> str | None:
    head = model.head
    if head is None:
        return None
    digest = hashlib.sha256()
    digest.update(head.weight.tobytes())
    digest.update(head.bias.tobytes())
    digest.update(json.dumps([head.labels, head.background]).encode())
    return digest.hexdigest()


def run_fingerprint(command: str, model: LoadedModel, settings: _Settings) -> dict[str, Any]:
    """What every result of this run depends on, apart from the video itself."""
    return {
        "command": command,
        "stcli": __version__,
        "preset": model.preset.name,
        "checkpoint_sha256": model.weights_sha256,
        "head_sha256": _head_digest(model),
        "engine": model.backend,
        "settings": settings.to_dict(),
        "files": {path: file_stamp(path) for path in settings.input_files()},
    }


@dataclass
class Resume:
    """Per-video reports for one run: the fingerprint each report gets, and which
    reports from an earlier run can be reused (``--skip-existing``)."""

    folder: Path
    run: dict[str, Any]
    videos: list[str]
    # The videos whose report names must differ: the whole run's when this is one shard
    # of it, since all shards share the folder (default: ``videos``).
    named: list[str] | None = None
    names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = reports.report_names(self.named or self.videos)
        # What a report must hold to be reused: JSON's own view of the fingerprint, so
        # that tuples and lists, ints and floats compare as they read back.
        self._run = json.loads(json.dumps(self.run))

    def fingerprint(self, video: str) -> dict[str, Any]:
        """The fingerprint of ``video``'s report in this run."""
        return {**self.run, "input": file_stamp(video)}

    def write(self, rec: dict[str, Any]) -> Path:
        """Write one record as its video's report, fingerprinted."""
        video = rec["video"]
        return reports.write_report(self.folder, self.names[video],
                                    {**rec, FINGERPRINT_KEY: self.fingerprint(video)})

    def reusable(self, video: str) -> dict[str, Any] | None | bool:
        """The record of ``video``'s report when it can stand for the video now; False
        when there is a report that cannot (stale, foreign, failed, unreadable); None
        when there is none."""
        path = self.folder / self.names[video]
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return False
        try:
            rec = json.loads(text)
        except ValueError:
            return False  # half-written by a crash, or not ours
        if not isinstance(rec, dict):
            return False
        stamp = rec.pop(FINGERPRINT_KEY, None)
        expected = {**self._run, "input": file_stamp(video)}
        if (stamp != expected or rec.get("video") != video or rec.get("status") != "ok"
                or not _outputs_present(rec)):
            return False
        return rec

    def plan(self) -> ResumePlan:
        """Split the videos into reports to reuse and videos to compute."""
        done, stale = {}, []
        for video in self.videos:
            found = self.reusable(video)
            if found:
                done[video] = found
            elif found is False:
                stale.append(video)
        return ResumePlan(done, [v for v in self.videos if v not in done], stale, True)


def _outputs_present(rec: dict[str, Any]) -> bool:
    """A report that names its output file (features) stands only while the file does."""
    output = rec.get("output")
    return output is None or Path(output).is_file()


@dataclass
class ResumePlan:
    """The outcome of looking at earlier reports: ``done`` records to reuse (by video),
    ``todo`` videos to compute, of which ``stale`` had a report that could not be used."""

    done: dict[str, dict[str, Any]]
    todo: list[str]
    stale: list[str]
    looked: bool = False  # earlier reports were looked at (--skip-existing)

    def describe(self, folder: Path) -> str:
        """One line for the summary: how many were reused and recomputed."""
        return (f"{len(self.done)} reused from {folder}, {len(self.todo)} computed"
                f" ({len(self.stale)} of them had a stale or unusable report)")


def plan_for(folder: Path, run: dict[str, Any], videos: Iterable[str],
             skip_existing: bool, named: list[str] | None = None
             ) -> tuple[Resume, ResumePlan]:
    """The report writer of a run and, with ``skip_existing``, what it can reuse
    (``named``: see ``Resume``)."""
    resume = Resume(Path(folder), run, list(videos), named)
    if skip_existing:
        return resume, resume.plan()
    return resume, ResumePlan({}, list(resume.videos), [])
