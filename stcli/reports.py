"""Result records -> CSV / JSON / JSONL / per-video files. The only module that knows
column names. Every file is written atomically (``fileio``), so a reader never sees half
a report."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .choices import OutputFormat, ScoresFormat
from .errors import UsageError
from .fileio import write_atomic, write_atomic_bytes
from .results import Result, WatchEnd, WatchScore, WatchStart, WatchSummary
from .version import __version__

CLASSIFY_COLUMNS = (
    "video", "status", "error", "rank", "class_id", "label", "score",
    "frames", "fps", "duration_s", "views", "preset", "seconds",
)
_RECORD_KEYS = ("video", "status", "error", "frames", "fps", "duration_s", "views", "preset",
                "seconds", "decoder", "topk")


def format_from_path(path: str | os.PathLike[str]) -> OutputFormat:
    """Output format implied by a file name's extension."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("json", "jsonl", "csv"):
        return OutputFormat(suffix)
    raise UsageError(
        f"--out {path}: cannot tell the format from the extension; use .csv, .json or .jsonl"
    )


def _pick(result: Result, keys: Sequence[str], list_key: str) -> dict[str, Any]:
    """The documented ``keys`` of a result, absent ones as None (a failure has no frames),
    the entries under ``list_key`` as dicts. Reads only those fields: ``asdict`` would
    deep-copy everything, a localization's window-score arrays included."""
    rec = {key: getattr(result, key, None) for key in keys}
    rec[list_key] = [dataclasses.asdict(entry) for entry in getattr(result, list_key, [])]
    return rec


def record(result: Result) -> dict[str, Any]:
    """The JSON record of one classify result, with every documented key present."""
    return _pick(result, _RECORD_KEYS, "topk")


def csv_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Long-form CSV rows of one classify record: one per (video, rank); a failure (or an
    empty top-k) is one row with an empty rank."""
    base = {k: v for k, v in rec.items() if k in CLASSIFY_COLUMNS}
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
    csv_header: bool = True  # AVA's CSV files have none: evaluators read row one as data

    def header(self) -> str:
        """The CSV header line (empty for header-less formats)."""
        return ",".join(self.columns) + "\n" if self.csv_header else ""

    def render(
        self, records: Sequence[dict[str, Any]], fmt: str, meta: dict[str, Any] | None = None
    ) -> str:
        """All records as one text in ``json``, ``jsonl`` or ``csv``."""
        if fmt == "json":
            return json.dumps(self.document(records, meta or {}), indent=2) + "\n"
        if fmt in ("jsonl", "csv"):
            head = self.header() if fmt == "csv" else ""
            return head + "".join(self.render_line(r, fmt) for r in records)
        raise UsageError(f"format '{fmt}' is not a file format; use json, jsonl or csv")

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

LOCALIZE_COLUMNS = (
    "video", "video_id", "status", "error", "label", "class_id", "start_s", "end_s", "score",
)
_LOCALIZE_KEYS = ("video", "video_id", "status", "error", "frames", "fps", "duration_s",
                  "windows", "preset", "seconds", "decoder", "segments")


def localize_record(result: Result) -> dict[str, Any]:
    """The JSON record of one localize result (segments best first)."""
    rec = _pick(result, _LOCALIZE_KEYS, "segments")
    if rec["video_id"] is None:
        rec["video_id"] = Path(rec["video"]).stem
    return rec


def localize_rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """CSV rows of one localize record: one per segment; a failed video, or one without
    segments, is one row with empty segment fields so that every video is listed."""
    base = {k: rec[k] for k in ("video", "video_id", "status", "error")}
    if not rec.get("segments"):
        return [base]
    return [{**base, **segment} for segment in rec["segments"]]


def activitynet_document(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict:
    """The ActivityNet/OpenTAD result file: ``results`` keyed by video id, plus stcli's
    settings and every video's status (failed ones included) under ``stcli``."""
    ids = unique_stems(r["video"] for r in records)
    results = {
        ids[r["video"]]: [
            {"label": s["label"], "segment": [s["start_s"], s["end_s"]], "score": s["score"]}
            for s in r["segments"]
        ]
        for r in records if r["status"] == "ok"
    }
    videos = [{k: v for k, v in r.items() if k != "segments"} for r in records]
    return {
        "version": f"stcli {__version__}",
        "results": results,
        "external_data": {"used": True, "details": "SqueezeTime checkpoint "
                          f"(preset {meta.get('preset', '?')}), sliding windows"},
        "stcli": {"settings": meta, "videos": videos},
    }


LOCALIZE = Layout(LOCALIZE_COLUMNS, localize_record, localize_rows, activitynet_document)


AVA_COLUMNS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
_DETECT_KEYS = ("video", "video_id", "status", "error", "frames", "fps", "duration_s", "width",
                "height", "preset", "persons_from", "seconds", "decoder")


def _seconds(value: float) -> str:
    """``902.0`` -> ``902`` (AVA's whole seconds); ``2.5`` -> ``2.5`` (millisecond steps)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def detect_layout(threshold: float = 0.5) -> Layout:
    """Detection records keeping the actions scoring at least ``threshold``.

    CSV is the AVA detections format (``video_id,timestamp,x1,y1,x2,y2,action_id,score``,
    no header, one row per person and action), which the official evaluator and
    ``stcli evaluate ava`` read; failed videos have no rows there (their errors go to
    stderr, the JSON and the exit code).
    """

    def make_record(result: Result) -> dict[str, Any]:
        rec = {key: getattr(result, key, None) for key in _DETECT_KEYS}
        if rec["video_id"] is None:
            rec["video_id"] = Path(rec["video"]).stem
        rec["action_threshold"] = threshold
        rec["keyframes"] = [
            {"timestamp": kf.timestamp, "frame": kf.frame, "persons": [
                {"box": list(p.box), "person_score": p.person_score,
                 "actions": [dataclasses.asdict(a) for a in p.above(threshold)]}
                for p in kf.persons]}
            for kf in getattr(result, "keyframes", [])
        ]
        return rec

    def rows(rec: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for kf in rec.get("keyframes") or []:
            for person in kf["persons"]:
                box = [f"{v:.3f}" for v in person["box"]]
                for action in person["actions"]:
                    out.append(dict(zip(AVA_COLUMNS, (
                        rec["video_id"], _seconds(kf["timestamp"]), *box,
                        action["action_id"], f"{action['score']:.6g}"), strict=True)))
        return out

    def document(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
        return {"version": f"stcli {__version__}", "settings": meta, "videos": list(records)}

    return Layout(AVA_COLUMNS, make_record, rows, document, csv_header=False)


FEATURES_COLUMNS = ("video", "video_id", "status", "error", "snippets", "frames", "fps",
                    "duration_s", "preset", "seconds", "output")


def features_record(result: Result) -> dict[str, Any]:
    """The JSON record of one features result (the arrays live in the .npy file)."""
    rec = {key: getattr(result, key, None) for key in (*FEATURES_COLUMNS, "decoder")}
    if rec["video_id"] is None:
        rec["video_id"] = Path(rec["video"]).stem
    return rec


FEATURES = Layout(FEATURES_COLUMNS, features_record, lambda rec: [rec],
                  lambda records, meta: {"settings": meta, "videos": list(records)})


def watch_record(event: Any) -> dict[str, Any]:
    """The JSON object of one ``stcli watch`` event: ``type`` (score, start, end, summary)
    first, then the event's fields (a score's top-k as a list of objects)."""
    kinds = {WatchScore: "score", WatchStart: "start", WatchEnd: "end",
             WatchSummary: "summary"}
    return {"type": kinds[type(event)], **dataclasses.asdict(event)}


def write_features(folder: str | os.PathLike[str], stem: str, result: Any,
                   meta: dict[str, Any]) -> Path:
    """``folder/<stem>.npy`` (``(T, 2048)``) and ``folder/<stem>.json`` (video facts,
    snippet start/end seconds, ``meta``: preset, checkpoint, settings), both atomic."""
    import numpy as np  # only for writing arrays: reports must not slow --help

    path = Path(folder) / f"{stem}.npy"
    buffer = io.BytesIO()
    np.save(buffer, result.features)
    write_atomic_bytes(path, buffer.getvalue())
    sidecar = {
        "video": result.video, "video_id": result.video_id, "fps": result.fps,
        "frames": result.frames, "duration_s": result.duration_s,
        "snippets": result.snippets, "feature_dim": int(result.features.shape[1]),
        "dtype": str(result.features.dtype), "features": path.name,
        "snippet_start_s": [round(float(t), 6) for t in result.starts_s],
        "snippet_end_s": [round(float(t), 6) for t in result.ends_s],
        "stcli": __version__, **meta,
    }
    write_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=1) + "\n")
    return path


def unique_stems(videos: Iterable[str]) -> dict[str, str]:
    """A distinct name per video: its file name without extension, plus a short hash of the
    path where two videos share a stem. Used for report files and result keys."""
    videos = list(videos)
    counts: dict[str, int] = {}
    for v in videos:
        counts[Path(v).stem] = counts.get(Path(v).stem, 0) + 1
    names = {}
    for v in videos:
        stem = Path(v).stem or "video"
        if counts[Path(v).stem] > 1:
            stem += "-" + hashlib.sha1(v.encode()).hexdigest()[:8]
        names[v] = stem
    return names


def report_names(videos: Iterable[str]) -> dict[str, str]:
    """A distinct ``<stem>.json`` report file name per video."""
    return {video: stem + ".json" for video, stem in unique_stems(videos).items()}


def write_report(folder: str | os.PathLike[str], name: str, rec: dict[str, Any]) -> Path:
    """Write one video's JSON record into ``folder`` atomically."""
    path = Path(folder) / name
    write_atomic(path, json.dumps(rec, indent=2) + "\n")
    return path


def write_window_scores(folder: str | os.PathLike[str], stem: str, scores: Any, fmt: str) -> Path:
    """Save one video's window scores (``tasks.localize.WindowScores``) as ``.csv`` (one
    row per window: start_s, end_s, then one column per label) or ``.npz``, atomically."""
    import numpy as np  # only for writing arrays: reports must not slow --help

    fmt = ScoresFormat.parse(fmt)
    path = Path(folder) / f"{stem}.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["start_s", "end_s", *scores.labels])
        for start, end, row in zip(scores.starts_s, scores.ends_s, scores.scores, strict=True):
            writer.writerow([f"{start:.6g}", f"{end:.6g}", *(f"{v:.6g}" for v in row)])
        write_atomic(path, buffer.getvalue())
        return path
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, starts_s=scores.starts_s, ends_s=scores.ends_s, scale_ids=scores.scale_ids,
        scores=scores.scores, labels=np.array(scores.labels), class_ids=np.array(scores.class_ids),
    )
    write_atomic_bytes(path, buffer.getvalue())
    return path
