"""Splitting one batch over many machines (``--shard I/N``) and merging the parts back.

A video's shard is ``sha256(key) mod N``, where the key is its path relative to the folder
argument it was found under (else the path as given, ``inputs.input_keys``): stable across
machines, Python versions and listings, so that adding files never moves the others.

Each shard writes its part (``preds.part-0003-of-0016.csv``) and, last, beside it a
sidecar ``preds.part-0003-of-0016.csv.shard.json`` holding what a merge needs: the
command, the run's fingerprint (``resume.run_fingerprint``: settings, checkpoint, engine),
the shard, every input video of the whole run in order with its shard, the meta data of
the JSON documents, and the part's records. ``merge`` checks the sidecars against each
other and renders their records with the command's ``reports.Layout`` in input order:
the same bytes a single run writes (per-video ``seconds`` aside). The records travel as
JSON, as ``--skip-existing`` reports do, so no table has to be parsed back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import reports
from ..errors import UsageError
from ..fileio import write_atomic

SIDECAR_SUFFIX = ".shard.json"
SIDECAR_VERSION = 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 0) of ``count``."""

    index: int
    count: int

    @property
    def name(self) -> str:
        """``part-0003-of-0016``: sorts in shard order and names the whole."""
        return f"part-{self.index:04d}-of-{self.count:04d}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str) -> bool:
        """Whether the video with input key ``key`` is this shard's."""
        return shard_of(key, self.count) == self.index


def shard_of(key: str, count: int) -> int:
    """The shard of an input key: sha256, never ``hash()`` (salted per process)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(value: str, shards: int | None = None,
                environ: Mapping[str, str] | None = None) -> Shard:
    """``--shard I/N``, or ``--shard auto``: the index and count a scheduler gives the task.

    SLURM arrays: ``SLURM_ARRAY_TASK_ID`` less ``SLURM_ARRAY_TASK_MIN`` (arrays need not
    start at 0), of ``SLURM_ARRAY_TASK_COUNT`` (else MAX - MIN + 1). Kubernetes indexed
    Jobs: ``JOB_COMPLETION_INDEX`` of ``--shards`` (else ``STCLI_SHARDS``), since a Job
    does not tell its pods its completions.
    """
    env = os.environ if environ is None else environ
    if value != "auto":
        if shards is not None:
            raise UsageError("--shards goes with --shard auto; --shard I/N gives the count")
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
        if not match:
            raise UsageError(f"--shard {value}: give INDEX/COUNT (e.g. 3/16, from 0) or auto")
        return _checked(int(match[1]), int(match[2]), f"--shard {value}")
    if "SLURM_ARRAY_TASK_ID" in env:
        low = _int(env, "SLURM_ARRAY_TASK_MIN", "0")
        index = _int(env, "SLURM_ARRAY_TASK_ID") - low
        count = (_int(env, "SLURM_ARRAY_TASK_COUNT") if "SLURM_ARRAY_TASK_COUNT" in env
                 else _int(env, "SLURM_ARRAY_TASK_MAX") - low + 1
                 if "SLURM_ARRAY_TASK_MAX" in env else None)
        if count is None:
            raise UsageError("--shard auto: SLURM gives no SLURM_ARRAY_TASK_COUNT or "
                             "SLURM_ARRAY_TASK_MAX")
        if shards is not None and shards != count:
            raise UsageError(f"--shards {shards}: the SLURM array has {count} tasks")
        return _checked(index, count, "--shard auto (SLURM array)")
    if "JOB_COMPLETION_INDEX" in env:
        count = shards if shards is not None else (
            _int(env, "STCLI_SHARDS") if env.get("STCLI_SHARDS") else None)
        if count is None:
            raise UsageError("--shard auto: JOB_COMPLETION_INDEX is set but not the count; "
                             "give --shards N or STCLI_SHARDS (the Job's completions)")
        return _checked(_int(env, "JOB_COMPLETION_INDEX"), count,
                        "--shard auto (Kubernetes JOB_COMPLETION_INDEX)")
    raise UsageError("--shard auto: no scheduler found (SLURM_ARRAY_TASK_ID or "
                     "JOB_COMPLETION_INDEX); give --shard I/N")


def _int(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    text = env.get(name, default)
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"--shard auto: {name}={text!r} is not a whole number") from None


def _checked(index: int, count: int, origin: str) -> Shard:
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"{origin}: shard {index} of {count} does not exist; the index runs "
                         "from 0 to count - 1")
    return Shard(index, count)


def part_path(out: Path, shard: Shard) -> Path:
    """Where shard ``shard`` writes ``--out``: ``preds.part-0003-of-0016.csv``, or the name
    as given when it already says ``part-0003-of-0016`` (the user chose it)."""
    if shard.name in out.name:
        return out
    return out.with_name(f"{out.stem}.{shard.name}{out.suffix}")


def sidecar_path(part: Path) -> Path:
    """The sidecar of a part file (``X.csv`` -> ``X.csv.shard.json``); for ``features``,
    whose parts are folders of files, ``FOLDER/part-IIII-of-NNNN.shard.json``."""
    return part.with_name(part.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class Part:
    """One shard's share of a run: the shard and every input of the whole run."""

    shard: Shard
    inputs: dict[str, str]  # video -> input key, in input order

    @property
    def videos(self) -> list[str]:
        """This shard's videos, in input order (possibly none)."""
        return [video for video, key in self.inputs.items() if self.shard.owns(key)]

    def write_sidecar(self, path: Path, command: str, run: dict[str, Any],
                      records: Sequence[dict[str, Any]], meta: dict[str, Any] | None) -> None:
        """Write the sidecar atomically, after the part: a part without one is unfinished."""
        doc = {
            "stcli_shard": SIDECAR_VERSION, "command": command, "fingerprint": run,
            "shard": {"index": self.shard.index, "count": self.shard.count},
            "inputs": [{"video": video, "key": key, "shard": shard_of(key, self.shard.count)}
                       for video, key in self.inputs.items()],
            "meta": meta, "records": list(records),
        }
        write_atomic(path, json.dumps(doc, indent=1) + "\n")


@dataclass(frozen=True)
class Merged:
    """The parts of one run put back together, ready to render."""

    layout: reports.Layout
    records: list[dict[str, Any]]
    meta: dict[str, Any] | None
    count: int


def _sidecars(paths: Sequence[Path]) -> list[Path]:
    """The sidecar of each argument: a part file, a sidecar itself, or a folder holding
    sidecars (a ``features`` folder)."""
    found = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob(f"*{SIDECAR_SUFFIX}"))
            if not inside:
                raise UsageError(f"merge: {path}: no *{SIDECAR_SUFFIX} part in this folder")
            found.extend(inside)
        else:
            found.append(path if path.name.endswith(SIDECAR_SUFFIX) else sidecar_path(path))
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"merge: {path}: not found; a part without its sidecar is unfinished "
                         "(run its shard again)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"merge: {path}: unreadable ({exc})") from None
    if not isinstance(doc, dict) or doc.get("stcli_shard") != SIDECAR_VERSION:
        raise UsageError(f"merge: {path}: not an stcli shard sidecar")
    return doc


def merge_parts(paths: Sequence[Path],
                layout_of: Callable[[str, Mapping[str, Any]], reports.Layout]) -> Merged:
    """Check that the parts are the shards 0..N-1 of one run, each once and complete, and
    return their records in input order, to render with ``layout_of(command, settings)``
    (``stcli.batch.layout_of``). ``UsageError`` naming the part otherwise."""
    # A list, not a dict: a part given twice must be seen twice.
    docs = [(path, _read(path)) for path in _sidecars(paths)]
    first_path, first = docs[0]
    count = first["shard"]["count"]
    seen: dict[int, Path] = {}
    for path, doc in docs:
        if doc["command"] != first["command"] or doc["fingerprint"] != first["fingerprint"] \
                or doc["meta"] != first["meta"]:
            raise UsageError(f"merge: {path} was made with different settings than "
                             f"{first_path} (command, version, checkpoint, engine or options "
                             "differ): merge parts of one run")
        if doc["shard"]["count"] != count or doc["inputs"] != first["inputs"]:
            raise UsageError(f"merge: {path} is foreign: it splits "
                             f"{len(doc['inputs'])} inputs in {doc['shard']['count']} shards, "
                             f"{first_path} splits {len(first['inputs'])} in {count} (were "
                             "files added, or other paths given?)")
        index = doc["shard"]["index"]
        if index in seen:
            raise UsageError(f"merge: shard {index}/{count} is given twice: {seen[index]} "
                             f"and {path}")
        seen[index] = path
    missing = [Shard(i, count).name for i in range(count) if i not in seen]
    if missing:
        raise UsageError(f"merge: missing shard{'s' * (len(missing) > 1)} "
                         f"{', '.join(missing)} of {count}")
    records = {rec["video"]: rec for _, doc in docs for rec in doc["records"]}
    unfinished = [entry for entry in first["inputs"] if entry["video"] not in records]
    if unfinished:
        entry = unfinished[0]
        raise UsageError(f"merge: {Shard(entry['shard'], count).name} is unfinished: "
                         f"{len(unfinished)} videos have no result (first: {entry['video']}); "
                         "run that shard again (with --report-dir --skip-existing it resumes)")
    layout = layout_of(first["command"], first["fingerprint"]["settings"])
    return Merged(layout, [records[entry["video"]] for entry in first["inputs"]],
                  first["meta"], count)

