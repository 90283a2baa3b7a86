"""A head on disk: a ``NAME.head`` folder of ``head.safetensors`` and ``head.json``,
written whole (swapped in) and read back checked."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from ..errors import UsageError, reading
from ..fileio import write_atomic, write_atomic_bytes
from ..version import __version__
from .head import Head

FORMAT = "stcli-head"


FORMAT_VERSION = 1


TENSORS_FILE = "head.safetensors"


INFO_FILE = "head.json"


_MAKE_ONE = "make one with 'stcli train-head'"


_NOT_A_HEAD = f"not an stcli head folder (expected {TENSORS_FILE} and {INFO_FILE}): {_MAKE_ONE}"


def save_head(head: Head, path: str | Path) -> Path:
    """Write ``head`` as the folder ``path`` (by convention ``NAME.head``) and return it.

    The folder is assembled beside the target and renamed into place, so a reader sees
    the old head, the new one or (for an instant while an old one is swapped out) none,
    never half of one. An existing folder is replaced only if it holds nothing but a head.
    """
    import safetensors.numpy  # loads on use, like the other readers

    target = check_head_target(path)
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "labels": list(head.labels),
            "background": head.background, "num_classes": len(head.labels),
            "feature_dim": head.feature_dim, "meta": head.meta}
    try:
        text = json.dumps(info, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{target}: head meta is not JSON-able ({exc})") from None
    tensors = safetensors.numpy.save({"weight": np.ascontiguousarray(head.weight),
                                      "bias": np.ascontiguousarray(head.bias)})
    staging = _sibling(target, "tmp")
    try:
        staging.mkdir(parents=True)  # mode from the umask, like any folder the user makes
        try:
            write_atomic_bytes(staging / TENSORS_FILE, tensors)
            write_atomic(staging / INFO_FILE, text)
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as exc:
        raise UsageError(f"{target}: cannot write the head ({exc.strerror or exc})") from None
    return target


def _sibling(target: Path, kind: str) -> Path:
    """A hidden, unused name beside ``target`` for staging or retiring a folder."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.{kind}")


def check_head_target(path: str | Path) -> Path:
    """``path`` as a Path, if :func:`save_head` may write there: refuse an existing file
    or a folder holding anything but a head (checked again when saving; checked first by
    ``stcli train-head`` so that hours of features are not computed for nothing)."""
    target = Path(path)
    if target.exists() and not _replaceable(target):
        raise UsageError(f"{target}: exists and is not an stcli head folder; not replacing it. "
                         "Choose another path or remove it")
    return target


def _replaceable(target: Path) -> bool:
    """True for an empty folder or one holding only head files (and our leftovers)."""
    if not target.is_dir():
        return False
    names = {entry.name for entry in target.iterdir()}
    ours = {TENSORS_FILE, INFO_FILE}
    return all(name in ours or (name.startswith(".head.") and name.endswith(".tmp"))
               for name in names)


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, retiring an existing ``target`` first."""
    if not target.exists():
        os.replace(staging, target)
        return
    # Linux cannot swap two folders in one rename (outside renameat2), so the old head
    # steps aside first and comes back if the new one cannot be moved in.
    retired = _sibling(target, "old")
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def load_head(path: str | Path) -> Head:
    """Read a head folder written by :func:`save_head`; any problem is a ``UsageError``
    naming the file and what to do. The tensors are read with safetensors (no pickle)."""
    folder = Path(path)
    if not folder.exists():
        raise UsageError(f"{folder}: head not found; {_MAKE_ONE}")
    tensors_path, info_path = folder / TENSORS_FILE, folder / INFO_FILE
    if not (tensors_path.is_file() and info_path.is_file()):
        raise UsageError(f"{folder}: {_NOT_A_HEAD}")
    with reading(info_path):
        info = json.loads(info_path.read_text(encoding="utf-8"))
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise UsageError(f"{info_path}: not an stcli head description; {_MAKE_ONE}")
    version = info.get("format_version")
    if version != FORMAT_VERSION:
        raise UsageError(f"{info_path}: head format version {version!r} is not supported by "
                         f"stcli {__version__} (it reads version {FORMAT_VERSION}); upgrade "
                         "stcli or train the head again")
    labels, background, meta = info.get("labels"), info.get("background"), info.get("meta", {})
    if not (isinstance(labels, list) and labels and all(isinstance(s, str) for s in labels)
            and (background is None or isinstance(background, str))
            and isinstance(meta, dict)):
        raise UsageError(f"{info_path}: malformed: needs 'labels' (a list of strings), "
                         "'background' (a string or null) and 'meta' (an object); "
                         f"{_MAKE_ONE}")
    weight, bias = _read_tensors(tensors_path)
    try:
        return Head(weight, bias, labels, background, meta)
    except UsageError as exc:
        raise UsageError(f"{folder}: {exc}; {_MAKE_ONE} again") from None


def _read_tensors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``weight`` and ``bias`` of a head's safetensors file, as float32 arrays."""
    from safetensors import SafetensorError  # loads on use, like the other readers
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable .safetensors file ({exc}); "
                         f"{_MAKE_ONE}") from None
    if set(tensors) != {"weight", "bias"} or not all(
            np.issubdtype(t.dtype, np.floating) for t in tensors.values()):
        found = ", ".join(f"{k} {t.dtype}" for k, t in sorted(tensors.items()))
        raise UsageError(f"{path}: expected float tensors 'weight' and 'bias', found "
                         f"{found or 'none'}; {_MAKE_ONE}")
    return (tensors["weight"].astype(np.float32), tensors["bias"].astype(np.float32))
