"""Frame-level mAP for AVA spatio-temporal action detection (v2.1 and the 2020 protocol).

Reproduces the official AVA evaluator (ActivityNet's ``get_ava_performance.py``, wrapped by
mmaction2's ``ava_utils``), itself the PASCAL VOC evaluator of the TF object-detection API:

- ground-truth boxes and detections of actions outside the label map are dropped first;
  then each keyframe keeps its ``top_k`` (50) highest-scoring detections across actions;
- v2.1: keyframes of the excluded-timestamps list are removed from both, and a detection
  on a keyframe without ground truth of its action is a false positive. 2020 (AVA v2.2,
  AVA-Kinetics): the ground truth lists keyframes annotated without actions as
  ``video_id,timestamp`` rows and there is no exclusion list; detections on keyframes the
  ground truth does not list are ignored, on listed ones without a box false positives;
- detections whose box is invalid (x2 <= x1 or y2 <= y1: no area or inverted) are dropped,
  after the top-k cap, as the TF evaluator's ``_remove_invalid_boxes`` does;
- per keyframe and action, detections by descending score are each compared with the
  ground-truth box they overlap most: a true positive when that IoU reaches the threshold
  and the box is not matched yet, else a false positive (even when another box would
  match);
- AP per action is the all-point interpolated VOC area; an action without ground truth
  has AP NaN and stays out of the mean.

Exact ties fall as in the reference, whose reader keeps each keyframe's rows in a binary
heap (Python ``heapq``) of ``(score, action_id, y1, x1, y2, x2)`` and sorts it by descending
score, stably. Ground truth has no score: the reader takes the eighth column, the person
id, as one, so of two boxes with equal IoU a detection takes the one with the higher
person id; without person ids (or equal ones) the heap's order decides (of two boxes, the
one with the smaller y1, then x1, y2, x2). A keyframe's detections with equal scores
follow the same heap order, and an action's detections with equal scores across keyframes
rank by NumPy's default ``argsort`` reversed over the reference's concatenation (keyframes
in order of their first detection in the file): stcli builds the same arrays and asks
NumPy the same question.

A keyframe is ``(video_id, timestamp)`` with the timestamp read as a number: ``0902``
(official files) and ``902.0`` are one keyframe. A malformed row (wrong column count, not
a number, a ground-truth box with x2 < x1 or y2 < y1, coordinates far outside [0, 1]:
x,y,w,h or pixels) is an error naming the line.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..choices import AvaProtocol
from ..errors import UsageError
from .ap import interpolated_ap
from .ava_io import (
    GT_FORM_2020,
    AvaBox,
    AvaGroundTruth,
    KeyframeKey,
    load_ava_ground_truth,
    load_excluded_keyframes,
    load_label_map,
    read_ava_detections,
    read_ava_ground_truth,
)

__all__ = [  # the readers live in ava_io; this module is where callers find them too
    "AvaBox", "AvaClassAP", "AvaGroundTruth", "AvaReport", "KeyframeKey", "ava_report_csv",
    "ava_report_to_dict", "evaluate_ava", "evaluate_ava_boxes", "load_ava_ground_truth",
    "load_excluded_keyframes", "load_label_map", "read_ava_detections",
    "read_ava_ground_truth",
]

DEFAULT_IOU = 0.5
DEFAULT_TOP_K = 50  # the official reader keeps 50 detections per keyframe


@dataclass(frozen=True)
class AvaClassAP:
    """AP of one evaluated action with the counts behind it."""

    action: int
    name: str
    ap: float  # NaN when the action has no ground-truth box
    gt_boxes: int
    detections: int  # scored: after the top-k cap, exclusions and invalid boxes


@dataclass(frozen=True)
class AvaReport:
    """Frame-level AP per evaluated action and their mean, with the counts behind them."""

    iou: float
    top_k: int
    protocol: str  # "v2.1" or "2020": which official evaluator's rules were applied
    mAP: float  # mean over the actions that have ground truth (NaN if none has)
    classes: tuple[AvaClassAP, ...]  # every evaluated action, by id
    gt_keyframes: int  # keyframes with ground truth of an evaluated action
    detected_keyframes: int  # keyframes with at least one scored detection
    excluded_keyframes: int  # keyframes of the ground truth or detections removed as excluded
    gt_other_actions: int  # ground-truth rows of actions not evaluated, dropped
    detections_other_actions: int  # detections of actions not evaluated, dropped
    detections_over_top_k: int  # beyond the top_k of their keyframe, dropped
    detections_invalid_box: int  # x2 <= x1 or y2 <= y1 (no area or inverted), dropped
    detections_unannotated: int  # scored on keyframes without ground truth: false positives
    detections_unlisted: int  # 2020: on keyframes the ground truth does not list, ignored
    # action -> (precision, recall) by rank: the curves behind the AP, for plots
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False)

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
                  "detections_invalid_box", "detections_unannotated", "detections_unlisted")


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
    """True positives among one keyframe's detections, given in descending score order;
    ``gt`` in the reference reader's order, whose first box of equal maxima argmax takes."""
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


def _average_precision(scores: np.ndarray, hits: np.ndarray,
                       n_gt: int) -> tuple[float, np.ndarray, np.ndarray]:
    """All-point interpolated AP of one action with its precision and recall by rank; NaN
    without ground truth, 0 without hits. ``scores`` in the reference's concatenation order,
    ranked as it ranks them (NumPy's default argsort, reversed: exact ties included)."""
    if n_gt == 0:
        return math.nan, np.zeros(0), np.zeros(0)
    ranked = hits[np.argsort(scores)[::-1]]
    tp_sum = np.cumsum(ranked)
    precision, recall = tp_sum / np.arange(1, len(ranked) + 1), tp_sum / n_gt
    return interpolated_ap(precision, recall), precision, recall


# A keyframe's row as the reference's reader keeps it: (score, action, y1, x1, y2, x2).
_Entry = tuple[float, int, float, float, float, float]


def _entry(box: AvaBox) -> _Entry:
    return (box.score, box.action, box.y1, box.x1, box.y2, box.x2)


def _reader_order(heap: list[_Entry]) -> np.ndarray:
    """A keyframe's rows in the reference's order, as (n, 6) floats: its heap sorted by
    descending score, stably (equal scores keep the heap's order)."""
    return np.array(sorted(heap, key=lambda e: -e[0]), dtype=float).reshape(-1, 6)


def _top_detections(detections: Iterable[AvaBox], labels: Mapping[int, str], top_k: int,
                    ) -> tuple[dict[KeyframeKey, list[_Entry]], int, int]:
    """Per keyframe, the ``top_k`` best detections of evaluated actions in the reference's
    min-heap, so that ties at the cap and the order of equal scores fall the same way;
    with the number dropped for their action and the number over the cap. Keyframes are
    in order of their first detection of an evaluated action, as the reference adds them."""
    heaps: dict[KeyframeKey, list[_Entry]] = {}
    other = over = 0
    for box in detections:
        if box.action not in labels:
            other += 1
            continue
        heap = heaps.setdefault(box.keyframe, [])
        if top_k < 1 or len(heap) < top_k:
            heapq.heappush(heap, _entry(box))
        else:
            over += 1
            if box.score > heap[0][0]:
                heapq.heapreplace(heap, _entry(box))
    return heaps, other, over


def evaluate_ava_boxes(
    gt: Iterable[AvaBox], detections: Iterable[AvaBox], labels: Mapping[int, str],
    excluded: Iterable[KeyframeKey] = (), iou: float = DEFAULT_IOU, top_k: int = DEFAULT_TOP_K,
    protocol: str = "v2.1", listed: Iterable[KeyframeKey] = (),
) -> AvaReport:
    """Frame-level AP per action of ``labels`` and their mean (the official AVA rules).

    ``protocol`` "v2.1" scores detections on every keyframe; "2020" ignores those on
    keyframes that neither a ground-truth box (of any action) nor ``listed`` (the
    keyframes of ``video_id,timestamp`` rows) names. ``detections`` is consumed once,
    keeping at most ``top_k`` per keyframe in memory; ``top_k`` < 1 keeps all. Timestamps
    compare as numbers; ground truth and detections in file order, which decides exact ties.
    """
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"IoU threshold must be in (0, 1], got {iou!r}")
    if protocol not in ("v2.1", "2020"):
        raise ValueError(f"protocol must be 'v2.1' or '2020', got {protocol!r}")
    excluded = {(video, float(t)) for video, t in excluded}
    known = {(video, float(t)) for video, t in listed}
    gt_heaps: dict[KeyframeKey, list[_Entry]] = {}
    gt_other = 0
    for box in gt:
        known.add(box.keyframe)  # the 2020 reader lists a keyframe before it filters actions
        if box.action in labels:
            heapq.heappush(gt_heaps.setdefault(box.keyframe, []), _entry(box))
        else:
            gt_other += 1
    heaps, det_other, over_top_k = _top_detections(detections, labels, top_k)
    dropped = excluded & (gt_heaps.keys() | heaps.keys())
    scored: list[np.ndarray] = []  # per keyframe, rows (score, action, hit)
    invalid = unannotated = unlisted = detected_keyframes = 0
    for key, heap in heaps.items():
        if key in dropped:
            continue
        if protocol == "2020" and key not in known:
            unlisted += len(heap)
            continue
        entries = _reader_order(heap)  # score, action, y1, x1, y2, x2
        boxes = entries[:, [3, 2, 5, 4]]  # back to x1, y1, x2, y2
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        invalid += int((~valid).sum())
        if not valid.any():
            continue
        entries, boxes = entries[valid], boxes[valid]
        detected_keyframes += 1
        det_actions = entries[:, 1].astype(int)
        truth = _reader_order(gt_heaps.get(key, []))
        if not len(truth):
            unannotated += len(entries)
        hits = _match(boxes, det_actions, truth[:, [3, 2, 5, 4]], truth[:, 1].astype(int), iou)
        scored.append(np.column_stack([entries[:, 0], det_actions, hits]))
    table = np.concatenate([np.zeros((0, 3)), *scored])  # the seed: no detection at all
    n_gt = Counter(int(e[1]) for key, heap in gt_heaps.items() if key not in dropped
                   for e in heap)
    classes, curves = [], {}
    for action, name in sorted(labels.items()):
        mine = table[table[:, 1] == action]
        ap, precision, recall = _average_precision(mine[:, 0], mine[:, 2], n_gt[action])
        curves[action] = (precision, recall)
        classes.append(AvaClassAP(action, name, ap, n_gt[action], len(mine)))
    with_gt = [c.ap for c in classes if not math.isnan(c.ap)]
    return AvaReport(
        iou=float(iou),
        top_k=top_k,
        protocol=protocol,
        mAP=float(np.mean(with_gt)) if with_gt else math.nan,
        classes=tuple(classes),
        gt_keyframes=sum(key not in dropped for key in gt_heaps),
        detected_keyframes=detected_keyframes,
        excluded_keyframes=len(dropped),
        gt_other_actions=gt_other,
        detections_other_actions=det_other,
        detections_over_top_k=over_top_k,
        detections_invalid_box=invalid,
        detections_unannotated=unannotated,
        detections_unlisted=unlisted,
        curves=curves,
    )


def evaluate_ava(
    gt_path: str | Path, pred_path: str | Path, excluded_path: str | Path | None = None,
    labels_path: str | Path | None = None, iou: float = DEFAULT_IOU,
    top_k: int = DEFAULT_TOP_K, protocol: str = AvaProtocol.AUTO,
) -> AvaReport:
    """Frame-level mAP of an AVA detection CSV against a ground-truth CSV.

    ``labels_path`` defaults to the 60 evaluated AVA v2.1 actions. ``protocol`` "auto" is
    "2020" when the ground truth has ``video_id,timestamp`` rows, else "v2.1". Raises
    ``UsageError`` naming the file (and line) for missing or malformed input, for an
    exclusion list under the 2020 protocol, and when no ground-truth box of an evaluated
    action remains outside the excluded keyframes.
    """
    chosen = AvaProtocol.parse(protocol)
    labels = load_label_map(labels_path)  # the small files first: fail before the big ones
    excluded = load_excluded_keyframes(excluded_path) if excluded_path is not None else set()
    # Both readers check that their file exists before the long read of either.
    detections = read_ava_detections(pred_path)
    gt = load_ava_ground_truth(gt_path)
    if not gt.keyframes:
        raise UsageError(f"{gt_path}: no ground-truth rows ({GT_FORM_2020})")
    if chosen == AvaProtocol.AUTO:
        chosen = AvaProtocol.V2020 if gt.empty_rows else AvaProtocol.V2_1
    if chosen == AvaProtocol.V2020 and excluded_path is not None:
        raise UsageError(f"--exclude {excluded_path}: the 2020 protocol has no excluded "
                         "timestamps (the ground truth lists keyframes without actions); "
                         "drop --exclude, or use --protocol v2.1")
    report = evaluate_ava_boxes(gt.boxes, detections, labels, excluded, iou, top_k,
                                protocol=str(chosen), listed=gt.keyframes)
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
        "protocol": report.protocol,
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
