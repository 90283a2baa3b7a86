"""sha256 of large files (checkpoints), computed only when a file changed.

Hashing a 120 MB checkpoint takes 0.1-0.2 s, on every start of every run, for an answer
that has not changed. An index (one JSON file in the cache) keeps each file's sha256
with the size, modification time and inode it had when hashed; a file whose stat still
matches is not read again. Any change of content changes one of those (a rewrite moves
mtime, a replacement the inode), so the index never answers for another content.
Writing the index is best effort: an unwritable cache only costs the re-hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..fileio import write_atomic

_CHUNK = 1 << 20
_KNOWN: dict[tuple[str, tuple[int, ...]], str] = {}  # this process's answers


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[int, ...]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev


def _read(index: Path) -> dict[str, dict]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent, or damaged: start again (it only saves time)
    return data if isinstance(data, dict) else {}


def file_sha256(path: str | os.PathLike[str], index: Path | None = None) -> str:
    """``path``'s sha256, read from ``index`` when the file's size, mtime and inode are
    those it had when hashed; hashed (and recorded there) otherwise."""
    path = Path(path).resolve()
    stamp = _stamp(path)
    key = (str(path), stamp)
    if key in _KNOWN:
        return _KNOWN[key]
    entries = _read(index) if index is not None else {}
    entry = entries.get(str(path))
    if isinstance(entry, dict) and tuple(entry.get("stamp", ())) == stamp:
        _KNOWN[key] = str(entry["sha256"])
        return _KNOWN[key]
    digest = sha256_of(path)
    remember(path, digest, index, stamp)
    return digest


def remember(path: str | os.PathLike[str], digest: str, index: Path | None,
             stamp: tuple[int, ...] | None = None) -> None:
    """Record ``digest`` as the sha256 of ``path`` as it is now (``stamp``: as it was when
    hashed, if known)."""
    path = Path(path).resolve()
    stamp = stamp or _stamp(path)
    _KNOWN[(str(path), stamp)] = digest
    if index is None:
        return
    entries = _read(index)
    # Forget files that are gone, so that the index does not grow without bound.
    entries = {p: e for p, e in entries.items() if os.path.exists(p)}
    entries[str(path)] = {"stamp": list(stamp), "sha256": digest}
    try:
        write_atomic(index, json.dumps(entries, indent=0) + "\n")
    except OSError:
        pass  # best effort: the next run hashes again
