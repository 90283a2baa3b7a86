"""Temporal action localization: ActivityNet-style tIoU mAP (THUMOS14, ActivityNet).

Mean AP over ground-truth classes at several tIoU thresholds, as ActivityNet's
``ANETdetection`` (used by ActionFormer, OpenTAD and mmaction2) computes it, exact ties
included:

- a class's predictions rank by NumPy's default ``argsort`` of their scores, reversed, over
  the predictions in file order: among equal scores the later-listed ranks first (for
  more than 16 predictions NumPy's quicksort decides, and stcli asks it the same question);
- each prediction takes the first unmatched ground-truth segment of its video and class in
  descending tIoU, ordered the same way: of two segments with equal tIoU, the one listed
  later in the ground truth; it is a true positive when that tIoU reaches the threshold;
- a prediction on a video absent from the ground truth (or from the chosen subset) is a
  false positive; ``ignore_unknown_videos`` leaves such predictions out instead (for a
  prediction file that covers more videos on purpose); they are counted either way;
- predictions of labels absent from the ground truth are ignored and counted (the
  reference stops with a KeyError).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError, reading
from ..inputs import VIDEO_SUFFIXES
from .ap import interpolated_ap

DEFAULT_TIOU = (0.3, 0.4, 0.5, 0.6, 0.7)
# The columns of stcli's localize CSV that evaluation reads (others are ignored).
CSV_COLUMNS = ("video", "status", "label", "start_s", "end_s", "score")
# Original THUMOS14 annotation files: <ClassName>_val.txt / <ClassName>_test.txt.
_TXT_NAME = re.compile(r"^(?P<label>.+)_(?P<split>val|test)\.txt$")
_AMBIGUOUS = "Ambiguous"


@dataclass(frozen=True)
class Instance:
    """One ground-truth action instance (times in seconds)."""

    video: str
    label: str
    start: float
    end: float


@dataclass(frozen=True)
class PredictedSegment:
    """One predicted segment (times in seconds)."""

    video: str
    label: str
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth instances and every video the annotation covers.

    ``videos`` may hold videos without instances (in a JSON database, or only in the
    THUMOS14 ``Ambiguous`` list): they are known videos. Predictions on videos outside
    ``videos`` are the ones counted as on unknown videos (false positives unless ignored).
    """

    instances: tuple[Instance, ...]
    videos: frozenset[str]

    @classmethod
    def from_instances(cls, instances: Iterable[Instance]) -> GroundTruth:
        """Ground truth covering exactly the videos that have instances."""
        found = tuple(instances)
        return cls(found, frozenset(i.video for i in found))


@dataclass(frozen=True)
class LocalizationReport:
    """AP per class and mAP per tIoU threshold, with the counts behind them."""

    thresholds: tuple[float, ...]
    ap: dict[str, list[float]]  # class -> AP at each threshold; classes sorted by name
    mAP: list[float]  # mean over classes, one per threshold
    average_mAP: float  # mean of mAP over thresholds
    gt_instances: dict[str, int]
    gt_videos: int
    predictions_used: int  # scored: true or false positives
    dropped_unknown_label: int  # label absent from the ground truth
    unknown_video_predictions: int  # on a video absent from the ground truth
    unknown_videos_ignored: bool  # those left out (True) or scored as false positives
    # class -> (precision, recall), each (thresholds, predictions) in rank order: the
    # curves behind the AP, for plots
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False)

    def class_mean(self, label: str) -> float:
        """A class's AP averaged over the thresholds."""
        return float(np.mean(self.ap[label]))


# -- parsing helpers: every error names the file and the line or key at fault ---------------
def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"{where}: expected a finite number, got {value!r}")
    return number


def _segment(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise UsageError(f"{where}: expected [start, end], got {value!r}")
    start, end = _number(value[0], where), _number(value[1], where)
    if end < start:
        raise UsageError(f"{where}: end {end:g} is before start {start:g}")
    return start, end


def _read_json(path: Path) -> Any:
    with reading(path):
        return json.loads(path.read_text(encoding="utf-8"))


def _subset_key(name: str) -> str:
    # ActionFormer's THUMOS14 JSON says "Validation"/"Test" while configs say "test":
    # compare without case, and accept THUMOS's own "val".
    key = name.strip().lower()
    return "validation" if key == "val" else key


# -- ground truth ------------------------------------------------------------------------------
def load_ground_truth(path: str | Path, subset: str | None = None) -> GroundTruth:
    """Ground truth from an ActivityNet/ActionFormer/OpenTAD JSON file or a THUMOS14 folder.

    JSON: ``{"database": {vid: {"subset", "annotations": [{"label", "segment"}]}}}``;
    ``subset`` keeps the videos of that subset (case-insensitive; None keeps all). Folder:
    ``<Class>_val.txt`` / ``<Class>_test.txt`` files with lines ``video start end``;
    ``subset`` picks the val or test files; ``Ambiguous_*.txt`` segments are not scored.
    Raises ``UsageError`` naming the file and line or key for malformed or empty input.
    """
    source = Path(path)
    if source.is_dir():
        gt = _load_thumos_folder(source, subset)
    elif source.is_file():
        gt = _load_gt_json(source, subset)
    else:
        raise UsageError(f"{source}: no such file or folder")
    if not gt.instances:
        which = f" for subset '{subset}'" if subset else ""
        raise UsageError(f"{source}: empty ground truth{which}: no annotated segments")
    return gt


def _load_gt_json(path: Path, subset: str | None) -> GroundTruth:
    data = _read_json(path)
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise UsageError(f"{path}: no 'database' object; expected ActivityNet/ActionFormer "
                         "ground-truth JSON or a folder of THUMOS14 txt files")
    want = _subset_key(subset) if subset else None
    instances: list[Instance] = []
    videos: set[str] = set()
    present: set[str] = set()
    for vid, entry in database.items():
        where = f"{path}: database['{vid}']"
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected an object")
        if want is not None:
            if "subset" not in entry:
                raise UsageError(f"{where}: no 'subset' key (needed by --subset)")
            present.add(str(entry["subset"]))
            if _subset_key(str(entry["subset"])) != want:
                continue
        annotations = entry.get("annotations")
        if not isinstance(annotations, list):
            raise UsageError(f"{where}: no 'annotations' list")
        videos.add(vid)
        for i, ann in enumerate(annotations):
            at = f"{where}.annotations[{i}]"
            if not isinstance(ann, dict) or "label" not in ann or "segment" not in ann:
                raise UsageError(f"{at}: needs 'label' and 'segment'")
            start, end = _segment(ann["segment"], f"{at}.segment")
            instances.append(Instance(vid, str(ann["label"]), start, end))
    if want is not None and not videos:
        raise UsageError(f"{path}: no video has subset '{subset}' (subsets present: "
                         f"{', '.join(sorted(present)) or 'none'})")
    return GroundTruth(tuple(instances), frozenset(videos))


def _load_thumos_folder(folder: Path, subset: str | None) -> GroundTruth:
    split = None
    if subset:
        split = {"validation": "val", "test": "test"}.get(_subset_key(subset))
        if split is None:
            raise UsageError(f"--subset '{subset}': a THUMOS14 folder has only validation "
                             "(<Class>_val.txt) and test (<Class>_test.txt) files")
    instances: list[Instance] = []
    videos: set[str] = set()
    used = 0
    for file in sorted(folder.glob("*.txt")):
        match = _TXT_NAME.match(file.name)
        if match is None or (split is not None and match["split"] != split):
            continue
        used += 1
        label = match["label"]
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{file}: cannot read ({exc})") from None
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{file}: line {number}"
            if len(fields) != 3:
                raise UsageError(f"{where}: expected 'video start end', got {line.strip()!r}")
            start, end = _segment(fields[1:], where)
            videos.add(fields[0])  # an Ambiguous-only video is still an annotated video
            if label != _AMBIGUOUS:
                instances.append(Instance(fields[0], label, start, end))
    if not used:
        which = f"<Class>_{split}.txt" if split else "<Class>_val.txt or <Class>_test.txt"
        raise UsageError(f"{folder}: no THUMOS14 annotation files ({which}) in this folder")
    return GroundTruth(tuple(instances), frozenset(videos))


# -- predictions -------------------------------------------------------------------------------
class _VideoIds:
    """Video ids from names that may be paths; refuses two videos that share an id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.origin: dict[str, str] = {}

    def get(self, name: str, always_stem: bool) -> str:
        base = re.split(r"[\\/]", name)[-1]
        is_path = base != name or Path(base).suffix.lower() in VIDEO_SUFFIXES
        vid = Path(base).stem if always_stem or is_path else name
        first = self.origin.setdefault(vid, name)
        if first != name:
            raise UsageError(f"{self.path}: '{first}' and '{name}' both give video id "
                             f"'{vid}'; evaluate them in separate files")
        return vid


def load_predictions(path: str | Path) -> list[PredictedSegment]:
    """Predicted segments from stcli's localize output, ``.json`` or ``.csv``.

    JSON is the ActivityNet result form ``{"results": {video: [{"label", "segment",
    "score"}]}}``; a key that is a path (has a '/' or a video extension) becomes its file
    name without extension. CSV needs the columns ``video, status, label, start_s, end_s,
    score``; the id is ``Path(video).stem``; rows with status other than ``ok`` or an empty
    label are skipped. Raises ``UsageError`` naming the file and line or key at fault.
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    suffix = source.suffix.lower()
    if suffix == ".json":
        return _load_pred_json(source)
    if suffix == ".csv":
        return _load_pred_csv(source)
    raise UsageError(f"{source}: predictions must be stcli's .json or .csv output")


def _load_pred_json(path: Path) -> list[PredictedSegment]:
    data = _read_json(path)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        raise UsageError(f"{path}: no 'results' object; expected an ActivityNet-style "
                         "result file such as 'stcli localize --out results.json' writes")
    ids = _VideoIds(path)
    detections: list[PredictedSegment] = []
    for key, entries in results.items():
        where = f"{path}: results['{key}']"
        if not isinstance(entries, list):
            raise UsageError(f"{where}: expected a list of segments")
        vid = ids.get(key, always_stem=False)
        for i, entry in enumerate(entries):
            at = f"{where}[{i}]"
            if not isinstance(entry, dict) or not {"label", "segment", "score"} <= set(entry):
                raise UsageError(f"{at}: needs 'label', 'segment' and 'score'")
            start, end = _segment(entry["segment"], f"{at}.segment")
            score = _number(entry["score"], f"{at}.score")
            detections.append(PredictedSegment(vid, str(entry["label"]), start, end, score))
    return detections


def _load_pred_csv(path: Path) -> list[PredictedSegment]:
    ids = _VideoIds(path)
    detections: list[PredictedSegment] = []
    with reading(path):
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UsageError(f"{path}: line 1: CSV lacks column(s) {', '.join(missing)} "
                                 "(expected stcli localize output)")
            for row in reader:
                # Error rows and videos without segments carry no prediction.
                if row["status"] != "ok" or not row["label"]:
                    continue
                where = f"{path}: line {reader.line_num}"
                if not row["video"]:
                    raise UsageError(f"{where}: empty 'video'")
                start, end = _segment([row["start_s"], row["end_s"]], where)
                score = _number(row["score"], f"{where}: score")
                vid = ids.get(row["video"], always_stem=True)
                detections.append(PredictedSegment(vid, row["label"], start, end, score))
    return detections


# -- the metric --------------------------------------------------------------------------------
def _tiou(start: float, end: float, segments: np.ndarray) -> np.ndarray:
    """tIoU of one segment with each row of ``segments``, in the reference's arithmetic."""
    inter = np.clip(np.minimum(end, segments[:, 1]) - np.maximum(start, segments[:, 0]), 0, None)
    union = (segments[:, 1] - segments[:, 0]) + (end - start) - inter
    # Two zero-length segments have no union: no overlap rather than a division by zero.
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _first_match(tiou: np.ndarray, free: np.ndarray, threshold: float) -> int | None:
    """The segment the reference gives a prediction: the first unmatched one by descending
    tIoU, if its tIoU reaches the threshold, else None.

    The order is NumPy's default ``argsort`` reversed, as in ``ANETdetection``: of segments
    with equal tIoU the later-listed comes first (insertion sort up to 16 segments).
    """
    ranked = np.argsort(tiou)[::-1]
    candidates = ranked[free[ranked]]
    if len(candidates) and tiou[candidates[0]] >= threshold:
        return int(candidates[0])
    return None


def _class_ap(gt: dict[str, np.ndarray], n_gt: int, detections: Sequence[PredictedSegment],
              thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AP of one class at each threshold, with precision and recall (thresholds, ranks);
    ``gt`` maps video -> (n, 2) segments in ground-truth order."""
    if not detections:
        return np.zeros(len(thresholds)), *np.zeros((2, len(thresholds), 0))
    scores = np.array([d.score for d in detections], dtype=float)
    # The reference's ranking, ties included: NumPy's default argsort, reversed.
    order = np.argsort(scores)[::-1]
    tp = np.zeros((len(thresholds), len(detections)))
    free = {vid: np.ones((len(thresholds), len(seg)), bool) for vid, seg in gt.items()}
    for rank, k in enumerate(order):
        det = detections[k]
        segments = gt.get(det.video)
        if segments is None:
            continue  # no instance of this class in that video: a false positive
        tiou = _tiou(det.start, det.end, segments)
        for t, threshold in enumerate(thresholds):
            best = _first_match(tiou, free[det.video][t], threshold)
            if best is not None:
                tp[t, rank] = 1.0
                free[det.video][t, best] = False
    tp_sum = np.cumsum(tp, axis=1)
    fp_sum = np.cumsum(1.0 - tp, axis=1)
    recall = tp_sum / float(n_gt)
    precision = tp_sum / (tp_sum + fp_sum)
    ap = np.array([interpolated_ap(precision[t], recall[t]) for t in range(len(thresholds))])
    return ap, precision, recall


def evaluate_localization(
    gt: GroundTruth | Iterable[Instance], pred: Iterable[PredictedSegment],
    tiou_thresholds: Sequence[float] = DEFAULT_TIOU, ignore_unknown_videos: bool = False,
) -> LocalizationReport:
    """AP per class and mAP at each tIoU threshold (ActivityNet ``ANETdetection`` rules).

    Classes are those of the ground truth; predictions of other labels are ignored and
    counted. Predictions on videos the ground truth does not cover are false positives, or
    left out with ``ignore_unknown_videos``; counted either way. A class without
    predictions has AP 0. ``gt`` may be a plain list of instances (covering their videos);
    ``pred`` is taken in file order, which decides exact ties as in the reference.
    """
    if not isinstance(gt, GroundTruth):
        gt = GroundTruth.from_instances(gt)
    thresholds = tuple(float(t) for t in tiou_thresholds)
    if not thresholds or not all(0.0 < t <= 1.0 for t in thresholds):
        raise ValueError(f"tIoU thresholds must be in (0, 1], got {tiou_thresholds!r}")
    labels = sorted({i.label for i in gt.instances})
    if not labels:
        raise ValueError("empty ground truth")
    by_class: dict[str, dict[str, list[tuple[float, float]]]] = {c: {} for c in labels}
    for inst in gt.instances:
        by_class[inst.label].setdefault(inst.video, []).append((inst.start, inst.end))
    used: dict[str, list[PredictedSegment]] = {c: [] for c in labels}
    unknown_label = unknown_video = 0
    for det in pred:
        if det.label not in used:
            unknown_label += 1
            continue
        if det.video not in gt.videos:
            unknown_video += 1
            if ignore_unknown_videos:
                continue
        used[det.label].append(det)
    ap = np.zeros((len(thresholds), len(labels)))
    counts = {}
    curves = {}
    for c, label in enumerate(labels):
        segments = {v: np.array(s, dtype=float) for v, s in by_class[label].items()}
        counts[label] = sum(len(s) for s in segments.values())
        ap[:, c], precision, recall = _class_ap(segments, counts[label], used[label],
                                                np.array(thresholds))
        curves[label] = (precision, recall)
    mean_ap = ap.mean(axis=1)
    return LocalizationReport(
        thresholds=thresholds,
        ap={label: ap[:, c].tolist() for c, label in enumerate(labels)},
        mAP=mean_ap.tolist(),
        average_mAP=float(mean_ap.mean()),
        gt_instances=counts,
        gt_videos=len(gt.videos),
        predictions_used=sum(len(d) for d in used.values()),
        dropped_unknown_label=unknown_label,
        unknown_video_predictions=unknown_video,
        unknown_videos_ignored=ignore_unknown_videos,
        curves=curves,
    )


def per_video_average_map(gt: GroundTruth, pred: Sequence[PredictedSegment],
                          tiou_thresholds: Sequence[float] = DEFAULT_TIOU) -> dict[str, float]:
    """Average mAP of each ground-truth video scored alone (its classes, its predictions):
    what picks the worst videos to plot."""
    by_video: dict[str, list[PredictedSegment]] = {}
    for det in pred:
        by_video.setdefault(det.video, []).append(det)
    instances: dict[str, list[Instance]] = {}
    for inst in gt.instances:
        instances.setdefault(inst.video, []).append(inst)
    return {vid: evaluate_localization(found, by_video.get(vid, []),
                                       tiou_thresholds).average_mAP
            for vid, found in sorted(instances.items())}


def localization_report_to_dict(report: LocalizationReport) -> dict[str, Any]:
    """The report as JSON-able data: thresholds, mAP, average mAP, per-class AP, counts."""
    return {
        "metric": "mAP, ActivityNet ANETdetection matching, all-point interpolated AP",
        "tiou_thresholds": list(report.thresholds),
        "mAP": list(report.mAP),
        "average_mAP": report.average_mAP,
        "classes": {
            label: {"ap": list(values), "mean": report.class_mean(label),
                    "gt_instances": report.gt_instances[label]}
            for label, values in report.ap.items()
        },
        "counts": {
            "classes": len(report.ap),
            "gt_instances": sum(report.gt_instances.values()),
            "gt_videos": report.gt_videos,
            "predictions_used": report.predictions_used,
            "dropped_unknown_label": report.dropped_unknown_label,
            "predictions_on_unknown_videos": report.unknown_video_predictions,
            "unknown_videos": "ignored" if report.unknown_videos_ignored else "false positives",
        },
    }


def localization_report_csv(report: LocalizationReport) -> str:
    """One row per class (AP per threshold, mean, instances), then the mAP row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *(f"ap@{t:g}" for t in report.thresholds), "mean",
                     "gt_instances"])
    for label, values in report.ap.items():
        writer.writerow([label, *values, report.class_mean(label), report.gt_instances[label]])
    writer.writerow(["mAP", *report.mAP, report.average_mAP,
                     sum(report.gt_instances.values())])
    return buffer.getvalue()
