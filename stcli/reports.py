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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .results import Result

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
    """The JSON record of one classify result, with every documented key present."""
    data = dataclasses.asdict(result)
    return {key: data.get(key, [] if key == "topk" else None) for key in _RECORD_KEYS}


def csv_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Long-form CSV rows of one classify record: one per (video, rank); a failure (or an
    empty top-k) is one row with an empty rank."""
    base = {k: v for k, v in rec.items() if k != "topk"}
    if not rec.get("topk"):
        return [{**base, "rank": None, "class_id": None, "label": None, "score": None}]
    return [{**base, **entry} for entry in rec["topk"]]


@dataclass(frozen=True)
class Layout:
    """How one task's records become CSV rows and a JSON document.

    Records are plain JSON-able dicts (``record(result)``), so that reports written by an
    earlier run (``--report-dir``) can be merged into new output unchanged.
    """

    columns: tuple[str, ...]
    record: Callable[[Any], dict[str, Any]]
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]]
    document: Callable[[Sequence[dict[str, Any]], dict[str, Any]], Any]

    def header(self) -> str:
        """The CSV header line."""
        return ",".join(self.columns) + "\n"

    def render(
        self, records: Sequence[dict[str, Any]], fmt: str, meta: dict[str, Any] | None = None
    ) -> str:
        """All records as one text in ``json``, ``jsonl`` or ``csv``."""
        if fmt == "json":
            return json.dumps(self.document(records, meta or {}), indent=2) + "\n"
        if fmt in ("jsonl", "csv"):
            head = self.header() if fmt == "csv" else ""
            return head + "".join(self.render_line(r, fmt) for r in records)
        raise UsageError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")

    def render_line(self, rec: dict[str, Any], fmt: str) -> str:
        """One record in a streamable format (a ``jsonl`` line or ``csv`` rows, no header)."""
        if fmt == "jsonl":
            return json.dumps(rec) + "\n"
        if fmt != "csv":
            raise UsageError(f"format '{fmt}' cannot be streamed; use jsonl or csv")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n",
                                extrasaction="ignore")
        writer.writerows(self.rows(rec))
        return buffer.getvalue()


CLASSIFY = Layout(CLASSIFY_COLUMNS, record, csv_rows, lambda records, meta: list(records))


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


def write_report(folder: str | os.PathLike[str], name: str, rec: dict[str, Any]) -> Path:
    """Write one video's JSON record into ``folder`` atomically."""
    path = Path(folder) / name
    write_atomic(path, json.dumps(rec, indent=2) + "\n")
    return path
