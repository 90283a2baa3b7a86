"""What a batch run will process and write, decided and checked before the model loads:
the videos (all, or one shard's), every output option (folders writable, no input
overwritten), and which per-video reports of an earlier run stand (``--skip-existing``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import reports
from ..errors import UsageError
from ..fileio import check_writable_folder, file_identity
from ..inputs import expand_inputs, input_keys
from ..settings import ExecutorSettings
from .shards import SIDECAR_SUFFIX, Part, parse_shard, part_path, sidecar_path

if TYPE_CHECKING:
    from ..loader import LoadedModel
    from ..settings import _Settings
    from .resume import Resume, ResumePlan


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run is done, whatever the command (the CLI's shared options).

    ``out``: one file for every video's results (.csv, .json, .jsonl; a shard writes its
    part of it); ``report_dir``: a fingerprinted JSON report per video, reused by a later
    run with ``skip_existing`` when nothing it depends on changed; ``shard``: ``"I/N"`` or
    ``"auto"`` (a SLURM array's or Kubernetes indexed Job's), ``shards`` the count for
    ``auto`` on Kubernetes; ``executor``: where the videos run; ``progress``: bars (or
    plain lines) on stderr."""

    out: Path | None = None
    report_dir: Path | None = None
    skip_existing: bool = False
    shard: str | None = None
    shards: int | None = None
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("out", "report_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))


@dataclass
class Batch:
    """What a batch run processes and where its results go (``plan_batch``)."""

    videos: list[str]  # this process's videos: all of them, or its shard's
    inputs: list[str]  # every video of the run, in order (of all shards)
    out: Path | None  # --out, or the shard's part of it
    part: Part | None = None  # with --shard
    sidecar: Path | None = None  # where the part's merge data goes (with --shard)
    command: str = ""
    run: dict[str, Any] | None = None  # the run's fingerprint, once the model is loaded

    @property
    def stems(self) -> dict[str, str]:
        """Per-video file stems, distinct over the whole run: shards sharing a folder
        (reports, scores, features) name each video as a single run would."""
        return reports.unique_stems(self.inputs)


def plan_batch(paths: list[str], options: BatchOptions, *,
               folders: dict[str, Path | None] | None = None,
               parts_folder: Path | None = None) -> Batch:
    """The videos a batch run will process (with ``shard``, its shard's), after checking
    every output option (``--skip-existing``, shards, folders writable, no input
    overwritten): all before the model loads. A sharded run's merge data goes beside its
    ``out`` part, else into ``parts_folder`` (``features``' folder)."""
    out = options.out
    if out is not None:
        reports.format_from_path(out)
    if options.skip_existing and options.report_dir is None:
        raise UsageError("--skip-existing needs --report-dir (where finished videos are)")
    if options.shards is not None and options.shard is None:
        raise UsageError("--shards goes with --shard auto")
    part = None if options.shard is None else Part(parse_shard(options.shard, options.shards),
                                                    input_keys(paths))
    inputs = list(part.inputs) if part else expand_inputs(paths)
    if not inputs:
        raise UsageError("no videos found in the given paths")
    batch = Batch(part.videos if part else inputs, inputs, out, part)
    if part is not None:
        if out is not None:
            batch.out = part_path(out, part.shard)
            batch.sidecar = sidecar_path(batch.out)
        elif parts_folder is not None:
            batch.sidecar = parts_folder / f"{part.shard.name}{SIDECAR_SUFFIX}"
    check_outputs(inputs, batch.out, {"--report-dir": options.report_dir, **(folders or {})})
    return batch


def resume_plan(command: str, model: LoadedModel, settings: _Settings, batch: Batch,
                options: BatchOptions) -> tuple[Resume | None, ResumePlan]:
    """The fingerprinted report writer of a run (``report_dir``) and, with
    ``skip_existing``, the reports it reuses (``stcli.batch.resume``). Records the run's
    fingerprint in ``batch``: a shard's sidecar carries it, for merge to compare."""
    from .resume import ResumePlan, plan_for, run_fingerprint

    batch.command = command
    batch.run = run_fingerprint(command, model, settings)
    if options.report_dir is None:
        return None, ResumePlan({}, list(batch.videos), [])
    return plan_for(options.report_dir, batch.run, batch.videos, options.skip_existing,
                    named=batch.inputs)


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
