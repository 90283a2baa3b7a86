"""Files that appear whole or not at all: a temporary file beside the target, renamed
onto it only when complete. Every writer of stcli outputs and caches goes through here
(reports, heads, rendered videos, weights, ONNX exports), so a reader never sees half a
file and a crash leaves at most a hidden temporary behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

UMASK = os.umask(0o022)
os.umask(UMASK)  # read once, at import, before any thread could race on it


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], make_folder: bool = True) -> Iterator[Path]:
    """A new empty temporary file in ``target``'s folder (created if missing, unless not
    ``make_folder``) to fill inside the block; renamed onto ``target`` when the block ends
    without error, removed otherwise. Its permissions follow the umask, like any file the
    user makes. ``OSError`` when the folder cannot be written."""
    target = Path(target)
    if make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomic_bytes(path, text.encode("utf-8"))
