"""Turning command-line arguments into a list of video paths."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterable
from typing import TextIO

# Container formats searched for when a folder is given; explicit paths are always kept.
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .wmv .flv .3gp .ts .mts .m2ts .ogv".split()
)


def expand_inputs(args: Iterable[str], stdin: TextIO | None = None) -> list[str]:
    """Files as given, folders searched recursively for videos, globs expanded, and ``-``
    replaced by the paths read from ``stdin`` (one per line). Order is kept, duplicates
    dropped. A path that does not exist is kept so that it gets its own error record."""
    out: list[str] = []
    for arg in args:
        if arg == "-":
            stream = stdin if stdin is not None else sys.stdin
            out.extend(line.strip() for line in stream if line.strip())
        elif os.path.isdir(arg):
            out.extend(_videos_under(arg))
        elif not os.path.exists(arg) and glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            out.extend(m for m in matches if not os.path.isdir(m)) if matches else out.append(arg)
        else:
            out.append(arg)
    # The same file spelled twice ("a.mp4", "./a.mp4") is processed once.
    unique: dict[str, str] = {}
    for path in out:
        unique.setdefault(os.path.normpath(path), path)
    return list(unique.values())


def _videos_under(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(
            os.path.join(root, f) for f in sorted(files)
            if os.path.splitext(f)[1].lower() in VIDEO_SUFFIXES and not f.startswith(".")
        )
    return found
