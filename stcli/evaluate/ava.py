"""Frame-level mAP for AVA v2.1 spatio-temporal action detection.

Reproduces the official AVA evaluator (ActivityNet's ``get_ava_performance.py``, wrapped by
mmaction2's ``ava_utils``), itself the PASCAL VOC evaluator of the TF object-detection API:

- ground-truth boxes and detections of actions outside the label map are dropped first;
  then each keyframe keeps its ``top_k`` (50) highest-scoring detections across actions;
- keyframes of the excluded-timestamps list are removed from both;
- detections whose box has no area are dropped (the TF evaluator's invalid boxes);
- per keyframe and action, detections by descending score are each compared with the
  ground-truth box they overlap most: a true positive when that IoU reaches the threshold
  and the box is not matched yet, else a false positive (even when another box would
  match). A detection on a keyframe without ground truth of its action is a false positive;
- AP per action is the all-point interpolated VOC area; an action without ground truth
  has AP NaN and stays out of the mean.

A keyframe is ``(video_id, timestamp)`` with the timestamp read as a number: ``0902``
(official files) and ``902.0`` are one keyframe. Where the reference is arbitrary or
silent: ties in score keep file order (the reference's depends on NumPy's sort), and a box
with x2 < x1 or y2 < y1 or far outside [0, 1] (x,y,w,h or pixels) is an error.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

from ..errors import UsageError, reading
from ..presets import preset_root
from .ap import interpolated_ap

DEFAULT_IOU = 0.5
DEFAULT_TOP_K = 50  # the official reader keeps 50 detections per keyframe
DEFAULT_LABELS = "labels/ava_v2.1_eval60.txt"  # relative to stcli.presets.preset_root()
GT_FORM = "video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]"
DETECTION_FORM = "video_id,timestamp,x1,y1,x2,y2,action_id,score"
EXCLUDED_FORM = "video_id,timestamp"
# Normalized coordinates may overshoot the frame slightly (rounding, unclipped boxes);
# beyond this they are pixels or another box format.
_COORD_SLACK = 0.01
_CORNERS = ("x1", "y1", "x2", "y2")

KeyframeKey = tuple[str, float]


class AvaBox(NamedTuple):
    """One ground-truth box or detection on a keyframe; coordinates normalized to [0, 1].

    Ground truth has score 1.0; its person id plays no part in the metric. A named tuple,
    not a dataclass: files hold millions of rows and a tuple is several times faster to make.
    """

    video: str
    timestamp: float
    x1: float
    y1: float
    x2: float
    y2: float
    action: int
    score: float = 1.0

    @property
    def keyframe(self) -> KeyframeKey:
        """``(video_id, timestamp)``: what ground truth and detections are matched on."""
        return (self.video, self.timestamp)


@dataclass(frozen=True)
class AvaClassAP:
    """AP of one evaluated action with the counts behind it."""

    action: int
    name: str
    ap: float  # NaN when the action has no ground-truth box
    gt_boxes: int
    detections: int  # scored: after the top-k cap, exclusions and empty boxes


@dataclass(frozen=True)
class AvaReport:
    """Frame-level AP per evaluated action and their mean, with the counts behind them."""

    iou: float
    top_k: int
    mAP: float  # mean over the actions that have ground truth (NaN if none has)
    classes: tuple[AvaClassAP, ...]  # every evaluated action, by id
    gt_keyframes: int  # keyframes with ground truth of an evaluated action
    detected_keyframes: int  # keyframes with at least one scored detection
    excluded_keyframes: int  # keyframes of the ground truth or detections removed as excluded
    gt_other_actions: int  # ground-truth rows of actions not evaluated, dropped
    detections_other_actions: int  # detections of actions not evaluated, dropped
    detections_over_top_k: int  # beyond the top_k of their keyframe, dropped
    detections_empty_box: int  # no area, dropped
    detections_unannotated: int  # scored on keyframes without ground truth: false positives

    @property
    def gt_boxes(self) -> int:
        """Ground-truth boxes scored, over all evaluated actions."""
        return sum(c.gt_boxes for c in self.classes)

    @property
    def detections(self) -> int:
        """Detections scored, over all evaluated actions."""
        return sum(c.detections for c in self.classes)


# The AvaReport fields that are counts, as report_to_dict lists them.
_REPORT_COUNTS = ("gt_keyframes", "detected_keyframes", "excluded_keyframes",
                  "gt_other_actions", "detections_other_actions", "detections_over_top_k",
                  "detections_empty_box", "detections_unannotated")


# -- reading files: every error names the file and the line at fault --------------------------
def _rows(path: str | Path, widths: tuple[int, ...],
          form: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank CSV row, an optional header skipped.

    A missing file is reported at once, a bad row when reading reaches it.
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    return _iter_rows(source, widths, form)


def _iter_rows(source: Path, widths: tuple[int, ...],
               form: str) -> Iterator[tuple[int, list[str]]]:
    first = True
    with reading(source), source.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            header, first = first and row[0].strip() == "video_id", False
            if header:
                continue
            if len(row) not in widths:
                raise UsageError(f"{source}:{reader.line_num}: expected "
                                 f"{' or '.join(map(str, widths))} columns ({form}), "
                                 f"got {len(row)}")
            yield reader.line_num, row


def _float(text: str, column: str, where: str, form: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # "nan" and "inf" parse, but are no coordinate or time
        raise UsageError(f"{where}: {column} {text.strip()!r} is not a number; rows are {form}")
    return value


def _box(fields: list[str], path: str | Path, line: int, form: str, scored: bool) -> AvaBox:
    """One CSV row as a box. Every check is one expression on the good path (files hold
    millions of rows); ``_explain`` finds the words for a bad row."""
    try:
        timestamp, x1, y1, x2, y2 = map(float, fields[1:6])
        action, score = int(fields[6]), float(fields[7]) if scored else 1.0
    except ValueError:
        _explain(fields, f"{path}:{line}", form, scored)
    low, high = -_COORD_SLACK, 1 + _COORD_SLACK
    video = fields[0].strip()
    if not (video and math.isfinite(timestamp) and math.isfinite(score)
            and low <= x1 <= x2 <= high and low <= y1 <= y2 <= high):
        _explain(fields, f"{path}:{line}", form, scored)
    return AvaBox(video, timestamp, x1, y1, x2, y2, action, score)


def _explain(fields: list[str], where: str, form: str, scored: bool) -> NoReturn:
    """Raise the ``UsageError`` that says what is wrong with a row ``_box`` refused."""
    if not fields[0].strip():
        raise UsageError(f"{where}: empty video_id; rows are {form}")
    _float(fields[1], "timestamp", where, form)
    corners = [_float(fields[i], name, where, form) for i, name in enumerate(_CORNERS, 2)]
    for name, value in zip(_CORNERS, corners, strict=True):
        if not -_COORD_SLACK <= value <= 1 + _COORD_SLACK:
            raise UsageError(f"{where}: {name} {value:g} is outside [0, 1]; coordinates are "
                             "normalized by the frame width and height")
    x1, y1, x2, y2 = corners
    if x2 < x1 or y2 < y1:
        raise UsageError(f"{where}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has x2 < x1 or "
                         "y2 < y1; corners are x1,y1,x2,y2 (not x,y,w,h)")
    try:
        int(fields[6])
    except ValueError:
        raise UsageError(f"{where}: action_id {fields[6].strip()!r} is not an integer; "
                         f"rows are {form}") from None
    if scored:
        _float(fields[7], "score", where, form)
    raise UsageError(f"{where}: malformed row; rows are {form}")  # not reached


def read_ava_ground_truth(path: str | Path) -> Iterator[AvaBox]:
    """Ground-truth boxes from an AVA CSV (``video_id,timestamp,x1,y1,x2,y2,action_id[,
    person_id]``), read lazily; raises ``UsageError`` naming the file and line at fault."""
    return (_box(fields, path, line, GT_FORM, scored=False)
            for line, fields in _rows(path, (7, 8), GT_FORM))


def read_ava_detections(path: str | Path) -> Iterator[AvaBox]:
    """Detections from an AVA CSV (``video_id,timestamp,x1,y1,x2,y2,action_id,score``),
    read lazily (files can hold millions of rows); raises ``UsageError`` at a bad line."""
    return (_box(fields, path, line, DETECTION_FORM, scored=True)
            for line, fields in _rows(path, (8,), DETECTION_FORM))


def load_excluded_keyframes(path: str | Path) -> set[KeyframeKey]:
    """Keyframes listed in an excluded-timestamps CSV (``video_id,timestamp`` rows)."""
    return {(fields[0].strip(), _float(fields[1], "timestamp", f"{path}:{line}", EXCLUDED_FORM))
            for line, fields in _rows(path, (2,), EXCLUDED_FORM)}


_PBTXT_ENTRY = re.compile(r"\b(?:label|item)\s*\{([^}]*)\}")
_PBTXT_NAME = re.compile(r'\bname:\s*"([^"]*)"')
_PBTXT_ID = re.compile(r"\b(?:label_id|id):\s*(\d+)")


def load_label_map(path: str | Path | None = None) -> dict[int, str]:
    """Evaluated action id -> name, sorted by id.

    Reads a pbtxt label map (``label { name: "..." label_id: N }``, or the official
    ``item { name: "..." id: N }``) or a text list of ``id: name`` lines; ``None`` reads the
    shipped list of the 60 actions AVA v2.1 evaluates.
    """
    if path is None:
        source: Traversable = preset_root() / DEFAULT_LABELS
    else:
        source = Path(path)
        if not source.is_file():
            raise UsageError(f"{source}: no such file")
    with reading(source):
        text = source.read_text(encoding="utf-8")
    labels: dict[int, str] = {}
    if "{" in text:
        for entry in _PBTXT_ENTRY.finditer(text):
            name, ident = _PBTXT_NAME.search(entry[1]), _PBTXT_ID.search(entry[1])
            if name is None or ident is None:
                line = text.count("\n", 0, entry.start()) + 1
                raise UsageError(f'{source}:{line}: entry needs name: "..." and label_id: N')
            labels[int(ident[1])] = name[1]
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ident, colon, name = line.strip().partition(":")
            if not colon or not ident.strip().isdigit() or not name.strip():
                raise UsageError(f"{source}:{number}: expected 'id: name', got {line.strip()!r}")
            labels[int(ident)] = name.strip()
    if not labels:
        raise UsageError(f'{source}: no labels; expected a pbtxt label map (label {{ name: "..." '
                         "label_id: N }) or lines 'id: name'")
    return dict(sorted(labels.items()))


# -- the metric --------------------------------------------------------------------------------
def _iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of each detection (rows of ``det``) with each ground-truth box, (n, m).

    Normalized boxes ``x1, y1, x2, y2`` with no +1 on widths; areas are added in the TF
    evaluator's order so a box exactly at the threshold is decided the same way.
    """
    lo = np.maximum(det[:, None, :2], gt[None, :, :2])
    hi = np.minimum(det[:, None, 2:], gt[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_det = np.prod(det[:, 2:] - det[:, :2], axis=1)
    area_gt = np.prod(gt[:, 2:] - gt[:, :2], axis=1)
    union = area_det[:, None] + area_gt[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _match(det: np.ndarray, det_actions: np.ndarray, gt: np.ndarray, gt_actions: np.ndarray,
           iou: float) -> np.ndarray:
    """True positives among one keyframe's detections, given in descending score order."""
    hits = np.zeros(len(det), bool)
    if not len(gt):
        return hits
    # Boxes of another action can never match: -1 keeps them out of argmax, so this is
    # the per-action matching of the reference done on the whole keyframe at once.
    overlaps = np.where(det_actions[:, None] == gt_actions[None, :], _iou(det, gt), -1.0)
    best = overlaps.argmax(axis=1)  # the reference's choice: best box, matched or not
    taken = np.zeros(len(gt), bool)
    for i, j in enumerate(best):
        if overlaps[i, j] >= iou and not taken[j]:
            hits[i] = taken[j] = True
    return hits


def _average_precision(scores: np.ndarray, positions: np.ndarray, hits: np.ndarray,
                       n_gt: int) -> float:
    """All-point interpolated AP of one action; NaN without ground truth, 0 without hits."""
    if n_gt == 0:
        return math.nan
    ranked = hits[np.lexsort((positions, -scores))]  # descending score, ties in file order
    tp_sum = np.cumsum(ranked)
    return interpolated_ap(tp_sum / np.arange(1, len(ranked) + 1), tp_sum / n_gt)


def _top_detections(detections: Iterable[AvaBox], labels: Mapping[int, str], top_k: int,
                    ) -> tuple[dict[KeyframeKey, list[tuple]], int, int]:
    """Per keyframe, the ``top_k`` best detections of evaluated actions, as the reference
    keeps them; with the number dropped for their action and the number over the cap.

    Each keyframe holds a min-heap of the reference's tuples ``(score, action, y1, x1, y2,
    x2)``, so ties at the cap fall the same way, plus the file position for a stable order.
    """
    heaps: dict[KeyframeKey, list[tuple]] = {}
    other = over = 0
    for position, box in enumerate(detections):
        if box.action not in labels:
            other += 1
            continue
        heap = heaps.setdefault(box.keyframe, [])
        entry = (box.score, box.action, box.y1, box.x1, box.y2, box.x2, position)
        if top_k < 1 or len(heap) < top_k:
            heapq.heappush(heap, entry)
        else:
            over += 1
            if box.score > heap[0][0]:
                heapq.heapreplace(heap, entry)
    return heaps, other, over


def evaluate_ava_boxes(
    gt: Iterable[AvaBox], detections: Iterable[AvaBox], labels: Mapping[int, str],
    excluded: Iterable[KeyframeKey] = (), iou: float = DEFAULT_IOU, top_k: int = DEFAULT_TOP_K,
) -> AvaReport:
    """Frame-level AP per action of ``labels`` and their mean (the official AVA rules).

    ``detections`` is consumed once, keeping at most ``top_k`` per keyframe in memory;
    ``top_k`` < 1 keeps all. KeyframeKey timestamps compare as numbers.
    """
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"IoU threshold must be in (0, 1], got {iou!r}")
    excluded = {(video, float(t)) for video, t in excluded}
    gt_by_key: dict[KeyframeKey, list[AvaBox]] = {}
    gt_other = 0
    for box in gt:
        if box.action in labels:
            gt_by_key.setdefault(box.keyframe, []).append(box)
        else:
            gt_other += 1
    heaps, det_other, over_top_k = _top_detections(detections, labels, top_k)
    dropped = excluded & (gt_by_key.keys() | heaps.keys())
    scored: list[np.ndarray] = []  # per keyframe, rows (score, position, action, hit)
    empty = unannotated = detected_keyframes = 0
    for key, heap in heaps.items():
        if key in dropped:
            continue
        kept = sorted(heap, key=lambda e: (-e[0], e[-1]))  # descending score, file order
        entries = np.array(kept, dtype=float)  # score, action, y1, x1, y2, x2, position
        boxes = entries[:, [3, 2, 5, 4]]  # back to x1, y1, x2, y2
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        empty += int((~valid).sum())
        if not valid.any():
            continue
        entries, boxes = entries[valid], boxes[valid]
        detected_keyframes += 1
        det_actions = entries[:, 1].astype(int)
        truth = gt_by_key.get(key, [])
        if not truth:
            unannotated += len(entries)
        gt_boxes = np.array([(b.x1, b.y1, b.x2, b.y2) for b in truth], float).reshape(-1, 4)
        gt_actions = np.array([b.action for b in truth], int)
        hits = _match(boxes, det_actions, gt_boxes, gt_actions, iou)
        scored.append(np.column_stack([entries[:, 0], entries[:, 6], det_actions, hits]))
    table = np.concatenate([np.zeros((0, 4)), *scored])  # the seed: no detection at all
    n_gt = Counter(b.action for key, boxes_at in gt_by_key.items() if key not in dropped
                   for b in boxes_at)
    classes = []
    for action, name in sorted(labels.items()):
        mine = table[table[:, 2] == action]
        ap = _average_precision(mine[:, 0], mine[:, 1], mine[:, 3], n_gt[action])
        classes.append(AvaClassAP(action, name, ap, n_gt[action], len(mine)))
    with_gt = [c.ap for c in classes if not math.isnan(c.ap)]
    return AvaReport(
        iou=float(iou),
        top_k=top_k,
        mAP=float(np.mean(with_gt)) if with_gt else math.nan,
        classes=tuple(classes),
        gt_keyframes=sum(key not in dropped for key in gt_by_key),
        detected_keyframes=detected_keyframes,
        excluded_keyframes=len(dropped),
        gt_other_actions=gt_other,
        detections_other_actions=det_other,
        detections_over_top_k=over_top_k,
        detections_empty_box=empty,
        detections_unannotated=unannotated,
    )


def evaluate_ava(
    gt_path: str | Path, pred_path: str | Path, excluded_path: str | Path | None = None,
    labels_path: str | Path | None = None, iou: float = DEFAULT_IOU,
    top_k: int = DEFAULT_TOP_K,
) -> AvaReport:
    """Frame-level mAP of an AVA detection CSV against a ground-truth CSV.

    ``labels_path`` defaults to the 60 evaluated AVA v2.1 actions. Raises ``UsageError``
    naming the file (and line) for missing or malformed input, and when no ground-truth
    box of an evaluated action remains outside the excluded keyframes.
    """
    labels = load_label_map(labels_path)  # the small files first: fail before the big ones
    excluded = load_excluded_keyframes(excluded_path) if excluded_path is not None else set()
    # Both readers check that their file exists before the long read of either.
    gt_rows, detections = read_ava_ground_truth(gt_path), read_ava_detections(pred_path)
    gt = list(gt_rows)
    if not gt:
        raise UsageError(f"{gt_path}: no ground-truth rows ({GT_FORM})")
    report = evaluate_ava_boxes(gt, detections, labels, excluded, iou, top_k)
    if not any(c.gt_boxes for c in report.classes):
        raise UsageError(f"{gt_path}: no ground-truth box of the {len(labels)} evaluated "
                         "actions outside the excluded keyframes (check --labels, --exclude)")
    return report


def ava_report_to_dict(report: AvaReport) -> dict[str, Any]:
    """The report as JSON-able data (NaN AP as null): settings, mAP, per-action AP, counts."""
    return {
        "metric": "AVA frame-mAP, PASCAL VOC matching per keyframe, all-point interpolated AP",
        "iou": report.iou,
        "top_k": report.top_k,
        "mAP": None if math.isnan(report.mAP) else report.mAP,  # JSON has no NaN
        "classes": [
            {"action_id": c.action, "name": c.name, "ap": None if math.isnan(c.ap) else c.ap,
             "gt_boxes": c.gt_boxes, "detections": c.detections}
            for c in report.classes
        ],
        "counts": {
            "classes": len(report.classes),
            "classes_with_gt": sum(c.gt_boxes > 0 for c in report.classes),
            "gt_boxes": report.gt_boxes,
            "detections": report.detections,
            **{name: getattr(report, name) for name in _REPORT_COUNTS},
        },
    }


def ava_report_csv(report: AvaReport) -> str:
    """One row per evaluated action (AP empty without ground truth), then the mAP row."""
    def cell(value: float) -> float | str:
        return "" if math.isnan(value) else value  # what CSV readers take for missing

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["action_id", "name", "ap", "gt_boxes", "detections"])
    for c in report.classes:
        writer.writerow([c.action, c.name, cell(c.ap), c.gt_boxes, c.detections])
    writer.writerow(["mAP", "", cell(report.mAP), report.gt_boxes, report.detections])
    return buffer.getvalue()
