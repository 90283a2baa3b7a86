"""PNG pictures of an evaluation (``evaluate localization|ava --plot DIR``).

Per evaluated class a precision-recall curve (``pr_<n>_<class>.png``: the ranked
predictions' precision against recall, one curve per tIoU threshold for localization),
one bar chart of AP per class (``ap_per_class.png``), and for localization a timeline of
ground truth against predictions for the videos that score worst alone
(``timeline_<rank>_<video>.png``). matplotlib (the 'plot' extra) is imported only when a
picture is drawn. Names and order are fixed by the report, so reruns write the same files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..render import pyplot, save_figure
from .localization import GroundTruth, PredictedSegment, per_video_average_map

if TYPE_CHECKING:
    from .ava import AvaReport
    from .localization import LocalizationReport

WORST_VIDEOS = 5  # timelines drawn: a handful to look at, not a report of every video
_TIMELINE_LANES = 10  # predicted classes shown besides the video's ground-truth classes
_GT_COLOUR, _PRED_COLOUR = "tab:green", "tab:blue"


def _slug(name: str) -> str:
    """A file-name part from a class or video name ("bend/bow (at the waist)" ->
    "bend_bow_at_the_waist"); the numbered prefix keeps names that slug alike apart."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()[:60] or "x"


def _pr_figure(title: str, curves: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> Any:
    """One axes of precision against recall after each ranked prediction, a step curve per
    ``(label, precision, recall)``; an empty curve (no prediction) keeps its legend entry."""
    plt = pyplot()
    fig, axes = plt.subplots(figsize=(5, 4))
    for label, precision, recall in curves:
        axes.step(recall, precision, where="post", label=label, lw=1.2)
    axes.set_xlim(0, 1.0)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(title, fontsize="medium")
    if len(curves) > 1:
        axes.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig


def _ap_bars(path: Path, names: Sequence[str], values: Sequence[float], mean: float,
             what: str) -> Path:
    """Horizontal bars of AP per class (classes top to bottom as given), the mean as a
    dashed line."""
    plt = pyplot()
    fig, axes = plt.subplots(figsize=(7, 1.2 + 0.25 * len(names)))
    rows = np.arange(len(names))
    axes.barh(rows, [100 * v for v in values], color=_PRED_COLOUR)
    axes.set_yticks(rows, names, fontsize="small")
    axes.invert_yaxis()
    if not math.isnan(mean):
        axes.axvline(100 * mean, color="black", ls="--", lw=1, label=f"mAP {100 * mean:.2f}")
        axes.legend(loc="lower right", fontsize="small")
    axes.set_xlim(0, 100)
    axes.set_xlabel(f"{what} (%)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_localization(folder: str | Path, report: LocalizationReport, gt: GroundTruth,
                      pred: Sequence[PredictedSegment], worst: int = WORST_VIDEOS) -> list[Path]:
    """PR curves per class (a curve per tIoU threshold), AP per class (mean over the
    thresholds) and timelines of the ``worst`` videos by their average mAP scored alone
    (ties by video id); the paths written, in that order."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, (label, values) in enumerate(report.ap.items()):
        precision, recall = report.curves[label]
        curves = [(f"tIoU {t:g}: AP {100 * ap:.1f}", precision[i], recall[i])
                  for i, (t, ap) in enumerate(zip(report.thresholds, values, strict=True))]
        fig = _pr_figure(f"{label} ({report.gt_instances[label]} segments)", curves)
        written.append(save_figure(fig, out / f"pr_{k:02d}_{_slug(label)}.png"))
    written.append(_ap_bars(out / "ap_per_class.png", list(report.ap),
                            [report.class_mean(label) for label in report.ap],
                            report.average_mAP, "AP, mean over tIoU thresholds"))
    scores = per_video_average_map(gt, pred, report.thresholds)
    ranked = sorted(scores, key=lambda vid: (scores[vid], vid))[:worst]
    for rank, vid in enumerate(ranked, 1):
        written.append(_timeline(out / f"timeline_{rank}_{_slug(vid)}.png", vid, scores[vid],
                                 gt, [d for d in pred if d.video == vid]))
    return written


def _timeline(path: Path, video: str, score: float, gt: GroundTruth,
              pred: Sequence[PredictedSegment]) -> Path:
    """One lane per class: ground-truth segments above, predictions below (opacity by
    score). Classes: the video's ground truth, then those of its best predictions."""
    plt = pyplot()
    truth = [i for i in gt.instances if i.video == video]
    best = sorted(pred, key=lambda d: -d.score)[:_TIMELINE_LANES]
    labels = sorted({i.label for i in truth}) + sorted(
        {d.label for d in best} - {i.label for i in truth})
    fig, axes = plt.subplots(figsize=(10, 1.2 + 0.6 * len(labels)))
    for row, label in enumerate(labels):
        axes.broken_barh([(i.start, i.end - i.start) for i in truth if i.label == label],
                         (row + 0.05, 0.35), color=_GT_COLOUR)
        for d in (d for d in pred if d.label == label):
            axes.broken_barh([(d.start, d.end - d.start)], (row - 0.4, 0.35),
                             color=_PRED_COLOUR, alpha=min(1.0, 0.15 + 0.85 * d.score))
    axes.set_yticks(range(len(labels)), labels, fontsize="small")
    axes.set_ylim(len(labels) - 0.5, -0.5)
    ends = [i.end for i in truth] + [d.end for d in pred]
    axes.set_xlim(0, max(ends, default=1.0) or 1.0)
    axes.set_xlabel(f"time (s); ground truth ({_GT_COLOUR[4:]}) above predictions "
                    f"({_PRED_COLOUR[4:]}) in each lane")
    axes.set_title(f"{video}: average mAP {100 * score:.2f} alone")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_ava(folder: str | Path, report: AvaReport) -> list[Path]:
    """PR curves of the actions that have ground truth and their AP as bars; the paths
    written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    scored = [c for c in report.classes if not math.isnan(c.ap)]
    for c in scored:
        precision, recall = report.curves[c.action]
        fig = _pr_figure(f"{c.action} {c.name} ({c.gt_boxes} boxes)",
                         [(f"AP {100 * c.ap:.1f}", precision, recall)])
        written.append(save_figure(fig, out / f"pr_{c.action:03d}_{_slug(c.name)}.png"))
    written.append(_ap_bars(out / "ap_per_class.png", [f"{c.action} {c.name}" for c in scored],
                            [c.ap for c in scored], report.mAP, f"AP@{report.iou:g}"))
    return written
