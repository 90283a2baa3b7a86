"""Checks of options that must fail before the model loads and before anything reaches
stdout: conflicting options and bounds on the work one option can ask for (refused unless
``--force``, with an estimate of the cost); output files and folders that cannot be
written or would overwrite an input (``check_outputs``).

``--views 1000000x1`` is a valid protocol that runs for days; a typo (an extra zero) must
not cost hours of CPU time before anyone notices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .. import reports
from ..errors import UsageError
from ..fileio import check_writable_folder, file_identity
from ..presets import Protocol

MAX_VIEWS = 100  # clips x crops per video (the official protocols use at most 30)
# Rough cost of one view (a 16-frame 224x224 clip) on a 2-core CPU: the network alone
# measured 73-77 ms with onnxruntime and 92-113 ms with eager torch (README,
# "Backends"); decoding adds some. Only an order of magnitude for the message: a GPU is
# far faster, a big CPU faster too.
SECONDS_PER_VIEW = 0.08

ForceOption = Annotated[bool, typer.Option(
    "--force", help=f"Run --views of more than {MAX_VIEWS} clips x crops per video (slow: "
    "the error gives an estimate).")]


def _estimate(seconds: float) -> str:
    """``about 40 s``, ``about 13 min``, ``about 22 h``, ``about 3 days``."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"about {seconds / size:.0f} {unit}"
    return f"about {seconds:.0f} s"


def check_views(protocol: Protocol, force: bool, per: str = "video") -> None:
    """Refuse a protocol of more than ``MAX_VIEWS`` views per ``per`` (video, training
    clip) unless ``force``; the error says how many and roughly how long on a CPU."""
    views = protocol.num_clips * protocol.crops
    if views <= MAX_VIEWS or force:
        return
    raise UsageError(
        f"--views {protocol.views} is {views} clips x crops per {per}, more than "
        f"{MAX_VIEWS}: {_estimate(views * SECONDS_PER_VIEW)} per {per} on a CPU "
        f"(estimate, ~{SECONDS_PER_VIEW:g} s a view); pass --force to run it anyway")


def given(ctx: typer.Context, name: str) -> bool:
    """Whether the option of parameter ``name`` was given, not left at its default (a
    default never conflicts with anything). Typer's own context: it vendors click."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def conflict(first: str, second: str, *, both: bool) -> None:
    """Refuse two options that say different things about one choice."""
    if both:
        raise UsageError(f"{first} and {second} conflict: give one")


# -- outputs, checked before the work ----------------------------------------------------------
# Every suffix stcli writes into an output folder: a file there with one of them and an
# input's stem would be overwritten, so it must not be an input.
_FOLDER_SUFFIXES = (".json", ".npy", ".csv", ".npz", ".png", ".mp4")


def check_outputs(videos: list[str], out: Path | None = None,
                  folders: dict[str, Path | None] | None = None) -> None:
    """Before any work: each output folder (``flag: folder``) and ``--out``'s folder can
    be made and written, ``--out`` is not a folder, and no output is one of the inputs
    (the same file, by inode). ``UsageError`` naming the option and the fix otherwise."""
    inputs = {file_identity(video) for video in videos} - {None}
    stems = reports.unique_stems(videos).values()
    if out is not None:
        if out.is_dir():
            raise UsageError(f"--out {out}: is a folder; give a file name (.csv, .json, "
                             ".jsonl)")
        if file_identity(out) in inputs:
            raise UsageError(f"--out {out}: is one of the inputs; writing would overwrite "
                             "it: give another file")
        writable_folder("--out", out.parent)
    for flag, folder in (folders or {}).items():
        if folder is None:
            continue
        names = {stem + suffix for stem in stems for suffix in _FOLDER_SUFFIXES}
        for target in _present(folder, names):
            if file_identity(target) in inputs:
                raise UsageError(f"{flag} {folder}: {target.name} there is one of the inputs; "
                                 "writing would overwrite it: give another folder")
        writable_folder(flag, folder)


def _present(folder: Path, names: set[str]) -> list[Path]:
    """The files of ``folder`` called one of ``names``: one listing of the folder rather
    than a stat per name (six per video: a million for a large batch)."""
    try:
        with os.scandir(folder) as entries:
            return [folder / entry.name for entry in entries if entry.name in names]
    except OSError:
        return []  # not there yet (made below) or unreadable (writable_folder says so)


def writable_folder(flag: str, folder: Path) -> None:
    """``folder`` made if missing and proved writable, else a ``UsageError``."""
    try:
        check_writable_folder(folder)
    except OSError as exc:
        # The commonest cause gets its own words: a file where a folder must be.
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            reason = f"{blocker} is a file, not a folder"
        else:
            reason = f"cannot write into {exc.filename or folder} ({exc.strerror or exc})"
        raise UsageError(f"{flag} {folder}: {reason}: choose a writable place") from None
