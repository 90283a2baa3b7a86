"""Files that appear whole or not at all: a temporary file beside the target, renamed
onto it only when complete. Every writer of stcli outputs and caches goes through here
(reports, heads, rendered videos, weights, ONNX exports), so a reader never sees half a
file and a crash leaves at most a hidden temporary behind.

Cache writers also take :func:`file_lock`, so that processes starting at once make a
cache entry once, one after the other, instead of racing on it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows has none: caches are then written unlocked
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
# flock on a filesystem that cannot lock (some NFS and FUSE mounts) says one of these.
_NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
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


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file that :func:`file_lock` holds for ``target``: ``NAME.lock`` beside it."""
    target = Path(target)
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def file_lock(target: str | os.PathLike[str], *, optional: bool = False) -> Iterator[None]:
    """Hold an exclusive lock for ``target`` (``flock`` on ``NAME.lock`` beside it, its
    folder created if missing) for the block; other processes wait here for their turn.

    Callers check again inside the block whether another process already made what they
    came to make. The lock file is removed on the way out, so a cache holds only its
    files. Where the filesystem cannot lock, the block runs unlocked (logged at debug).
    ``OSError`` when the lock file cannot be made (an unwritable folder), unless
    ``optional`` (a reader, for which a read-only cache is no problem): then unlocked too.
    """
    path = lock_path(target)
    if fcntl is None:
        log.debug("%s: no file locking on this platform; writing unlocked", path)
        yield
        return
    try:
        fd = _acquire(path)
    except OSError as exc:
        if not optional and exc.errno not in _NO_LOCKING:
            raise
        log.debug("%s: cannot lock (%s); going on unlocked", path, exc.strerror or exc)
        yield
        return
    try:
        yield
    finally:
        # Unlinked while still held: a process waiting on this file then sees that the
        # name is gone (see _acquire) and locks the next one, never one nobody checks.
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive flock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        # Read-only is enough for flock, and lets a user who may not write another's lock
        # file still wait on it.
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # The holder before us unlinks the file as it lets go: the lock we got is on
            # a file no longer at ``path`` unless both name the same inode.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
