"""Turning command-line arguments into a list of video paths."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from .urls import is_url

# Container formats searched for when a folder is given; explicit paths are always kept.
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .wmv .flv .3gp .ts .mts .m2ts .ogv".split()
)


def expand_inputs(args: Iterable[str], stdin: TextIO | None = None) -> list[str]:
    """Files as given, folders searched recursively for videos, globs expanded, and ``-``
    replaced by the paths read from ``stdin`` (one per line). Order is kept, duplicates
    dropped. A path that does not exist is kept so that it gets its own error record; a
    URL (``https://...``, ``rtsp://...``) is kept as given, without looking at the
    filesystem."""
    return list(input_keys(args, stdin))


def input_keys(args: Iterable[str], stdin: TextIO | None = None) -> dict[str, str]:
    """``expand_inputs``'s videos, in order, each with a key that names it independently of
    the listing: its path relative to the folder argument it was found under (``/``
    separated), else the path as given (files, globs, stdin), normalised. Sharding hashes
    this key, so that adding files to a folder never moves the others to another shard,
    and a folder given as ``/data/k700`` or ``../k700/`` gives the same keys. A URL has no
    folder: its key is the URL itself, as given."""
    out: list[tuple[str, str]] = []
    for arg in args:
        if arg == "-":
            stream = stdin if stdin is not None else sys.stdin
            out.extend(_as_given(line.strip()) for line in stream if line.strip())
        elif is_url(arg):  # never a folder or a glob ("?" starts a query)
            out.append(_as_given(arg))
        elif os.path.isdir(arg):
            out.extend((path, Path(os.path.relpath(path, arg)).as_posix())
                       for path in _videos_under(arg))
        elif not os.path.exists(arg) and glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            out.extend(_as_given(m) for m in matches if not os.path.isdir(m)) if matches \
                else out.append(_as_given(arg))
        else:
            out.append(_as_given(arg))
    # The same file spelled twice ("a.mp4", "./a.mp4") is processed once.
    unique: dict[str, tuple[str, str]] = {}
    for path, key in out:
        unique.setdefault(path if is_url(path) else os.path.normpath(path), (path, key))
    return dict(unique.values())


def _as_given(path: str) -> tuple[str, str]:
    # normpath would fold a URL's "//" (and a line of stdin may be a URL).
    return path, path if is_url(path) else Path(os.path.normpath(path)).as_posix()


def _videos_under(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(
            os.path.join(root, f) for f in sorted(files)
            if os.path.splitext(f)[1].lower() in VIDEO_SUFFIXES and not f.startswith(".")
        )
    return found
