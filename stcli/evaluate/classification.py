"""Video classification accuracy: ``stcli classify`` output scored against ground truth.

Ground truth is a CSV of ``path,label`` rows (label = a class name of the preset's list).
Each ground-truth video is matched to a prediction by its exact path string, else by the
same absolute path (relative paths resolved from the current folder, and for ground truth
also from its file's folder), else by a file stem that exactly one remaining prediction and
one remaining ground-truth video share. A video with no prediction, or a failed one, is
wrong at every k; predictions of videos outside the ground truth are ignored and counted.

Top-k accuracy looks at the ranks a prediction lists: when ``classify --top-k`` kept fewer
than 5, top-5 covers those and ``max_rank`` says how deep it reached for every video.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError, reading

TOP_K = 5
NO_PREDICTION = "(none)"  # the confusion column of videos without a top-1 label
GT_FORM = "path,label"
PRED_COLUMNS = ("video", "status", "rank", "label")  # of classify's CSV, the ones read here
Ranked = Sequence[str] | None  # a video's labels best first; None for a failed prediction


@dataclass(frozen=True)
class ClassAccuracy:
    """Top-1 recall of one ground-truth class and the number of its videos."""

    label: str
    accuracy: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    """Accuracy overall and per class, the top-1 confusion matrix, and what was left out."""

    top1: float
    top5: float
    mean_class_accuracy: float  # mean over ground-truth classes of their top-1 recall
    max_rank: int  # the rank top-5 reached for every scored video: 5, or fewer listed
    classes: tuple[ClassAccuracy, ...]  # ground-truth classes, in order of first appearance
    columns: tuple[str, ...]  # confusion columns: ground-truth classes, other predicted labels
    confusion: tuple[tuple[int, ...], ...]  # one row per class of ``classes``, by ``columns``
    missing: tuple[str, ...]  # ground-truth videos without a prediction
    failed: tuple[str, ...]  # ground-truth videos whose prediction failed
    ambiguous: tuple[str, ...]  # of ``missing``: their file stem fits several videos
    matched_by_stem: int
    unused_predictions: int  # predictions of videos not in the ground truth

    @property
    def videos(self) -> int:
        """Ground-truth videos scored (missing and failed ones included)."""
        return sum(c.support for c in self.classes)


# -- ground truth ------------------------------------------------------------------------------
def read_classification_ground_truth(path: str | Path) -> dict[str, str]:
    """``{video path: label}`` from a CSV of ``path,label`` rows, in file order.

    An optional header row starts with ``path`` or ``video``; blank lines are skipped; a
    label holding a comma must be quoted. Raises ``UsageError`` naming the file and line of
    a malformed row or of a path given two labels, and for a file without rows.
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    labels: dict[str, str] = {}
    lines: dict[str, int] = {}
    with reading(source), source.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        first = True
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            header, first = first and cells[0].lower() in ("path", "video"), False
            if header:
                continue
            where = f"{source}:{reader.line_num}"
            if len(cells) != 2:
                raise UsageError(f"{where}: expected 2 columns ({GT_FORM}), got {len(cells)}; "
                                 "quote a label that holds a comma")
            video, label = cells
            if not video or not label:
                raise UsageError(f"{where}: empty {'path' if not video else 'label'}; "
                                 f"rows are {GT_FORM}")
            if labels.setdefault(video, label) != label:
                raise UsageError(f"{where}: '{video}' is labelled '{label}' here and "
                                 f"'{labels[video]}' on line {lines[video]}")
            lines.setdefault(video, reader.line_num)
    if not labels:
        raise UsageError(f"{source}: no ground-truth rows ({GT_FORM})")
    return labels


# -- predictions -------------------------------------------------------------------------------
def read_classification_predictions(path: str | Path) -> dict[str, Ranked]:
    """``{video: labels best first}`` from ``stcli classify`` output; ``None`` for a video
    whose status is not ``ok``.

    The format comes from the extension (.csv, .json, .jsonl), else from the content: a
    JSON list of records, JSON lines, or classify's long-form CSV. Raises ``UsageError``
    naming the file and line (or record) at fault, also for a video listed twice.
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    with reading(source):
        text = source.read_text(encoding="utf-8-sig")
    fmt = source.suffix.lower().lstrip(".")
    if fmt not in ("csv", "json", "jsonl"):
        start = text.lstrip()[:1]
        fmt = "json" if start == "[" else "jsonl" if start == "{" else "csv"
    if fmt == "csv":
        return _predictions_csv(source, text)
    if fmt == "json":
        with reading(source):
            data = json.loads(text)
        if not isinstance(data, list):
            raise UsageError(f"{source}: expected a JSON list of records as 'stcli classify "
                             "--out FILE.json' writes")
        records = ((f"{source}: record {i}", rec) for i, rec in enumerate(data))
    else:
        records = _jsonl_records(source, text)
    found: dict[str, Ranked] = {}
    for where, rec in records:
        video, ranked = _record(rec, where)
        if video in found:
            raise UsageError(f"{where}: video '{video}' is listed twice")
        found[video] = ranked
    return found


def _jsonl_records(source: Path, text: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{source}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{source}:{number}: not valid JSON ({exc.msg})") from None


def _record(rec: Any, where: str) -> tuple[str, Ranked]:
    """One classify JSON record as ``(video, labels best first or None)``."""
    if not isinstance(rec, dict) or not isinstance(rec.get("video"), str) or not rec["video"]:
        raise UsageError(f"{where}: expected a classify record with 'video', 'status', 'topk'")
    if rec.get("status", "ok") != "ok":
        return rec["video"], None
    topk = rec.get("topk") or []
    if not isinstance(topk, list) or not all(isinstance(e, dict) and "label" in e for e in topk):
        raise UsageError(f"{where}: 'topk' must be a list of {{rank, label, ...}} entries")
    # Best first as written; a rank, where every entry has one, decides.
    if all(isinstance(e.get("rank"), int) for e in topk):
        topk = sorted(topk, key=lambda e: e["rank"])
    return rec["video"], [str(e["label"]) for e in topk]


def _predictions_csv(source: Path, text: str) -> dict[str, Ranked]:
    """classify's long-form CSV: one row per (video, rank), one empty-rank row per failure."""
    ranks: dict[str, dict[int, str]] = {}
    failed: set[str] = set()
    last = None
    with reading(source):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        absent = [c for c in PRED_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise UsageError(f"{source}:1: CSV lacks column(s) {', '.join(absent)} (expected "
                             "'stcli classify' output)")
        for row in reader:
            where, video = f"{source}:{reader.line_num}", row["video"] or ""
            if not video:
                raise UsageError(f"{where}: empty 'video'")
            if video != last and video in ranks:  # a video's rows are contiguous
                raise UsageError(f"{where}: video '{video}' is listed twice")
            last, got = video, ranks.setdefault(video, {})
            if row["status"] != "ok":
                failed.add(video)
                continue
            if not row["rank"]:
                continue  # an ok video with an empty top-k
            try:
                rank = int(row["rank"])
            except ValueError:
                raise UsageError(f"{where}: rank {row['rank']!r} is not an integer") from None
            if rank in got:
                raise UsageError(f"{where}: rank {rank} of '{video}' is listed twice")
            got[rank] = row["label"] or ""
    return {video: None if video in failed else [got[r] for r in sorted(got)]
            for video, got in ranks.items()}


# -- matching ground truth to predictions ------------------------------------------------------
def _stem(name: str) -> str:
    return Path(re.split(r"[\\/]", name)[-1]).stem  # Windows paths too


def _absolute(name: str, root: str | Path = ".") -> str:
    return os.path.normpath(os.path.abspath(os.path.join(root, name)))


def match_videos(gt: Sequence[str], pred: Sequence[str], gt_root: str | Path | None = None,
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """Pair ground-truth videos with predicted ones: ``({gt: pred}, {gt: "exact" | "path" |
    "stem" | "ambiguous"})``; an unmatched video whose stem fits several is "ambiguous".

    Each prediction serves one ground-truth video; exact strings are paired first, then
    equal absolute paths, then stems unique among the videos left on both sides.
    """
    known = set(pred)
    pairs = {g: g for g in gt if g in known}
    how = dict.fromkeys(pairs, "exact")
    used = set(pairs.values())
    # Two names of one file ("a.mp4", "./a.mp4") make its absolute path ambiguous.
    seen = Counter(_absolute(p) for p in pred if p not in used)
    by_path = {_absolute(p): p for p in pred if p not in used}
    roots = ["."] if gt_root is None else [".", gt_root]
    for g in gt:
        for key in dict.fromkeys(_absolute(g, root) for root in roots):
            if g not in pairs and seen[key] == 1 and by_path[key] not in used:
                pairs[g], how[g] = by_path[key], "path"
                used.add(by_path[key])
    left_pred = [p for p in pred if p not in used]
    pred_stems = Counter(map(_stem, left_pred))
    gt_stems = Counter(_stem(g) for g in gt if g not in pairs)
    by_stem = {_stem(p): p for p in left_pred}
    for g in [g for g in gt if g not in pairs]:
        stem = _stem(g)
        if pred_stems[stem] == 1 and gt_stems[stem] == 1:
            pairs[g], how[g] = by_stem[stem], "stem"
        elif pred_stems[stem]:
            how[g] = "ambiguous"
    return pairs, how


# -- the metric --------------------------------------------------------------------------------
def evaluate_classification_labels(
    gt: Mapping[str, str], pred: Mapping[str, Ranked], gt_root: str | Path | None = None,
) -> ClassificationReport:
    """Accuracy of ``pred`` (``{video: labels best first}``, ``None`` for a failure)
    against ``gt`` (``{video: label}``); ``gt_root`` also resolves relative ground-truth
    paths (the ground-truth file's folder). Raises ``ValueError`` for an empty ``gt``.
    """
    if not gt:
        raise ValueError("empty ground truth")
    pairs, how = match_videos(list(gt), list(pred), gt_root)
    classes = list(dict.fromkeys(gt.values()))
    top1: dict[str, str] = {}  # video -> its top-1 label, NO_PREDICTION without one
    hits5, depth, missing, failed = 0, TOP_K, [], []
    for video, label in gt.items():
        ranked = pred[pairs[video]] if video in pairs else None
        if video not in pairs:
            missing.append(video)
        elif ranked is None:
            failed.append(video)
        else:
            depth = min(depth, len(ranked))
            hits5 += label in ranked[:TOP_K]
        top1[video] = ranked[0] if ranked else NO_PREDICTION
    # Columns: the classes, then other top-1 labels in prediction order, then (none).
    video_of = {p: g for g, p in pairs.items()}
    known = set(classes) | {NO_PREDICTION}
    columns = [*classes, *dict.fromkeys(top1[video_of[p]] for p in pred if p in video_of
                                        and top1[video_of[p]] not in known)]
    if NO_PREDICTION in top1.values():
        columns.append(NO_PREDICTION)
    index = {c: i for i, c in enumerate(columns)}
    matrix = {c: [0] * len(columns) for c in classes}
    for video, label in gt.items():
        matrix[label][index[top1[video]]] += 1
    support = Counter(gt.values())
    per_class = [ClassAccuracy(c, matrix[c][index[c]] / support[c], support[c])
                 for c in classes]
    scored = len(gt) - len(missing) - len(failed)
    return ClassificationReport(
        top1=sum(matrix[c][index[c]] for c in classes) / len(gt),
        top5=hits5 / len(gt),
        mean_class_accuracy=sum(c.accuracy for c in per_class) / len(per_class),
        max_rank=depth if scored else 0,
        classes=tuple(per_class),
        columns=tuple(columns),
        confusion=tuple(tuple(matrix[c]) for c in classes),
        missing=tuple(missing),
        failed=tuple(failed),
        ambiguous=tuple(v for v in missing if how.get(v) == "ambiguous"),
        matched_by_stem=sum(h == "stem" for h in how.values()),
        unused_predictions=len(pred) - len(pairs),
    )


def evaluate_classification(gt_path: str | Path, pred_path: str | Path,
                            ) -> ClassificationReport:
    """Accuracy of a ``stcli classify`` output file against a ``path,label`` CSV.

    Relative ground-truth paths are tried from the current folder and from the CSV's
    folder. Raises ``UsageError`` naming the file (and line) of missing or malformed input.
    """
    gt = read_classification_ground_truth(gt_path)
    pred = read_classification_predictions(pred_path)
    return evaluate_classification_labels(gt, pred, Path(gt_path).parent)


def classification_report_to_dict(report: ClassificationReport) -> dict[str, Any]:
    """The report as JSON-able data: accuracies, per-class accuracy, confusion, left-outs."""
    return {
        "metric": "top-k accuracy over ground-truth videos; missing or failed ones are wrong",
        "top1": report.top1,
        "top5": report.top5,
        "mean_class_accuracy": report.mean_class_accuracy,
        "max_rank": report.max_rank,
        "classes": [{"label": c.label, "accuracy": c.accuracy, "support": c.support}
                    for c in report.classes],
        "confusion": {"rows": [c.label for c in report.classes],
                      "columns": list(report.columns),
                      "matrix": [list(row) for row in report.confusion]},
        "missing": list(report.missing),
        "failed": list(report.failed),
        "ambiguous": list(report.ambiguous),
        "counts": {
            "videos": report.videos,
            "classes": len(report.classes),
            "scored": report.videos - len(report.missing) - len(report.failed),
            "missing": len(report.missing),
            "failed": len(report.failed),
            "matched_by_stem": report.matched_by_stem,
            "unused_predictions": report.unused_predictions,
        },
    }


def classification_report_csv(report: ClassificationReport) -> str:
    """Header ``class,accuracy,support,<label>,...``; one row per class (top-1 accuracy,
    videos, its confusion-matrix row); last, ``overall,<top-1>,<videos>,<times each label
    was the top-1 prediction>``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "accuracy", "support", *report.columns])
    for c, row in zip(report.classes, report.confusion, strict=True):
        writer.writerow([c.label, c.accuracy, c.support, *row])
    totals = [sum(column) for column in zip(*report.confusion, strict=True)]
    writer.writerow(["overall", report.top1, report.videos, *totals])
    return buffer.getvalue()
