"""One exception hierarchy for everything stcli reports to a user.

Each error carries a one-line message that names the file involved and, where there is
one, the fix. The CLI maps them to exit codes: per-video problems (``VideoError``) become
error records and exit code 1 at the end of a batch; an output that cannot be written
exits with 3; everything else stops the run with exit code 2 (usage or setup).
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator


class StcliError(Exception):
    """Base class: a problem the user can act on, described in one line."""

    exit_code = 2


class UsageError(StcliError):
    """Bad options or arguments (unknown preset, malformed --views, ...)."""


class PresetError(UsageError):
    """A preset that does not exist or whose data file is malformed."""


class CheckpointError(StcliError):
    """A checkpoint that cannot be read or does not match its preset."""


class WeightsError(StcliError):
    """Weights that are missing and cannot be downloaded, or a failed download."""


class OutputError(StcliError):
    """A result file that cannot be written (disk full, read-only, gone)."""

    exit_code = 3


class CacheError(StcliError):
    """A cache folder stcli cannot write (weights, ONNX exports)."""


class ClusterError(StcliError):
    """A Ray cluster that cannot be reached, or whose workers cannot start."""


class VideoError(StcliError):
    """One video cannot be used (missing, empty, truncated, not a video, no frames)."""

    exit_code = 1

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class StreamError(StcliError):
    """A live source (camera, network stream) that cannot be opened or read, or whose
    reconnects ran out; one line naming the source."""

    def __init__(self, source: object, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


@contextlib.contextmanager
def reading(source: object) -> Iterator[None]:
    """Turn the errors of reading a user's text file into one ``UsageError`` naming it."""
    try:
        yield
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"{source}: cannot read ({exc.strerror or exc})") from None
    except csv.Error as exc:
        raise UsageError(f"{source}: not a valid CSV file ({exc})") from None


def extra_missing(what: str, extra: str = "onnx") -> UsageError:
    """The error for an optional extra that is not installed, with the command that
    installs it."""
    needs = {"onnx": "onnxruntime and onnx", "openvino": "OpenVINO and onnx",
             "plot": "matplotlib", "ray": "ray"}[extra]
    return UsageError(f"{what} needs {needs}: pip install 'stcli[{extra}]'")


def unwritable_cache(what: str, folder: object, exc: OSError) -> CacheError:
    """The error for a cache folder that cannot be written, with the ways out."""
    return CacheError(f"cannot write the {what} cache {folder} ({exc.strerror or exc}): make "
                      "it writable, or set XDG_CACHE_HOME to a writable folder")
