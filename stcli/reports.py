"""Result records -> CSV / JSON / JSONL / per-video files. The only module that knows
column names. Every file is written atomically: a temporary file beside the target,
then a rename, so a reader never sees half a report."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError
from .results import Prediction, Result

FORMATS = ("table", "json", "jsonl", "csv")
CLASSIFY_COLUMNS = (
    "video", "status", "error", "rank", "class_id", "label", "score",
    "frames", "fps", "duration_s", "views", "preset", "seconds",
)
_RECORD_KEYS = ("video", "status", "error", "frames", "fps", "duration_s", "views", "preset",
                "seconds", "topk")


def format_from_path(path: str | os.PathLike[str]) -> str:
    """Output format implied by a file name's extension."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("json", "jsonl", "csv"):
        return suffix
    raise UsageError(
        f"--out {path}: cannot tell the format from the extension; use .csv, .json or .jsonl"
    )


def record(result: Result) -> dict[str, Any]:
    """The JSON record of one result, with every documented key present."""
    data = dataclasses.asdict(result)
    return {key: data.get(key, [] if key == "topk" else None) for key in _RECORD_KEYS}


def csv_rows(result: Result) -> list[dict[str, Any]]:
    """Long-form CSV rows: one per (video, rank); a failure is one row with empty rank."""
    base = record(result)
    base.pop("topk")
    if not isinstance(result, Prediction) or not result.topk:
        return [{**base, "rank": None, "class_id": None, "label": None, "score": None}]
    return [{**base, **dataclasses.asdict(entry)} for entry in result.topk]


def render(results: Sequence[Result], fmt: str) -> str:
    """All results as one text in ``json``, ``jsonl`` or ``csv``."""
    if fmt == "json":
        return json.dumps([record(r) for r in results], indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(render_line(r, "jsonl") for r in results)
    if fmt == "csv":
        return csv_header() + "".join(render_line(r, "csv") for r in results)
    raise UsageError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")


def csv_header() -> str:
    """The CSV header line."""
    return ",".join(CLASSIFY_COLUMNS) + "\n"


def render_line(result: Result, fmt: str) -> str:
    """One result in a streamable format (``jsonl`` line or ``csv`` rows, no header)."""
    if fmt == "jsonl":
        return json.dumps(record(result)) + "\n"
    if fmt != "csv":
        raise UsageError(f"format '{fmt}' cannot be streamed; use jsonl or csv")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CLASSIFY_COLUMNS, lineterminator="\n")
    writer.writerows(csv_rows(result))
    return buffer.getvalue()


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_names(videos: Iterable[str]) -> dict[str, str]:
    """A distinct ``<stem>.json`` file name per video; clashing stems get a path hash."""
    videos = list(videos)
    stems: dict[str, int] = {}
    for v in videos:
        stems[Path(v).stem] = stems.get(Path(v).stem, 0) + 1
    names = {}
    for v in videos:
        stem = Path(v).stem or "video"
        if stems[Path(v).stem] > 1:
            stem += "-" + hashlib.sha1(v.encode()).hexdigest()[:8]
        names[v] = stem + ".json"
    return names


def write_report(folder: str | os.PathLike[str], name: str, result: Result) -> Path:
    """Write one video's JSON record into ``folder`` atomically."""
    path = Path(folder) / name
    write_atomic(path, json.dumps(record(result), indent=2) + "\n")
    return path
