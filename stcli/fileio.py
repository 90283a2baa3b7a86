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
    with _naming(target):
        if make_folder:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=target.parent)
        os.close(fd)
    tmp = Path(name)
    try:
        with _naming(target):
            yield tmp
            os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Re-raise a failure to write as an ``OSError`` of the same kind (``errno``) naming
    ``target``: a user must read the file they asked for, not a hidden temporary."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or exc.filename == str(target):
            raise
        raise OSError(exc.errno, exc.strerror, str(target)) from exc


def check_writable_folder(folder: str | os.PathLike[str]) -> None:
    """Make ``folder`` (and its parents) if missing and prove a file can be created there,
    so that a run fails before its work rather than after it. ``OSError`` naming the
    folder otherwise. (A full disk can only show when writing.)"""
    folder = Path(folder)
    with _naming(folder):
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".stcli-write-check.", dir=folder)
        os.close(fd)
        os.unlink(name)


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (links and other spellings of one file
    compare equal), None when there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def write_atomic_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_atomic_bytes(path, text.encode("utf-8"))
