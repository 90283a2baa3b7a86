"""``stcli evaluate``: score stcli outputs against ground truth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..batch import writable_folder
from ..choices import AvaProtocol, ReportFormat
from ..errors import UsageError
from ._common import (
    FORMAT_RULE,
    Styled,
    choice_option,
    domain_errors,
    emit_summary,
    log,
    print_table,
    stdout_format,
)

if TYPE_CHECKING:
    from ..evaluate.ava import AvaReport
    from ..evaluate.classification import ClassificationReport
    from ..evaluate.localization import LocalizationReport

evaluate_app = typer.Typer(
    rich_markup_mode=None, help="Score stcli outputs against ground truth (accuracy, mAP).",
                           no_args_is_help=True)

# -- options and output shared by every evaluate command ----------------------------------
ReportFormatOption = Annotated[str | None, choice_option(
    ReportFormat, "--format", "-f", help=f"table, json or csv. {FORMAT_RULE}")]
ReportOutOption = Annotated[
    Path | None, typer.Option(
        "--out", "-o", help="Write the report to FILE (.json or .csv).", dir_okay=False,
        show_default=False)
]
PLOT_HELP = ("Write PNGs into DIR: a precision-recall curve per class (pr_*.png) and AP per "
             "class (ap_per_class.png){}. Needs matplotlib: pip install 'stcli[plot]'.")


def check_plot_folder(plot: Path | None) -> None:
    """Before any file is read: matplotlib is there and ``--plot`` can be written."""
    if plot is not None:
        from ..render import require_matplotlib  # numpy: not at import, keeps --help fast

        require_matplotlib()
        writable_folder("--plot", plot)


def log_plots(written: list[Path], plot: Path) -> None:
    """The stderr line that says where the pictures went."""
    log.info("%d PNG files written to %s", len(written), plot)


def check_report_options(fmt: str | None, out: Path | None) -> None:
    """Reject a bad --format or --out before any file is read."""
    stdout_format(fmt, out, ReportFormat)
    if out is not None and out.suffix.lower() not in (".json", ".csv"):
        raise UsageError(f"--out {out}: use a .json or .csv file")


def parse_tiou(text: str) -> tuple[float, ...]:
    """``"0.3,0.5"`` -> ``(0.3, 0.5)``; each threshold in (0, 1]."""
    values = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--tiou '{text}': '{item.strip()}' is not a number") from None
        if not 0.0 < value <= 1.0:
            raise UsageError(f"--tiou '{text}': {item.strip()} is not in (0, 1]")
        values.append(value)
    return tuple(values)


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"


def print_report_table(report: LocalizationReport) -> None:
    """AP in percent: one row per class with its mean, then the mAP row."""

    columns = ("class (AP %)", *(f"@{t:g}" for t in report.thresholds), "mean")
    rows = [(label, *map(_percent, values), _percent(report.class_mean(label)))
            for label, values in report.ap.items()]
    rows.append((Styled("mAP", "bold"), *map(_percent, report.mAP),
                 _percent(report.average_mAP)))
    print_table(columns, rows)


@evaluate_app.command("localization")
def localization(
    gt: Annotated[Path, typer.Option(
        "--gt", help="Ground truth: ActivityNet/ActionFormer/OpenTAD JSON, or the THUMOS14 "
        "folder of <Class>_val.txt / <Class>_test.txt files.", show_default=False)],
    pred: Annotated[Path, typer.Option(
        "--pred", help="Predictions: the .json or .csv file 'stcli localize' wrote.",
        show_default=False)],
    subset: Annotated[str | None, typer.Option(
        "--subset", help="Keep only ground-truth videos of this subset (test, validation).",
        show_default=False, autocompletion=lambda: ["test", "validation"])] = None,
    tiou: Annotated[str, typer.Option(
        "--tiou", help="tIoU thresholds, comma-separated.")] = "0.3,0.4,0.5,0.6,0.7",
    ignore_unknown_videos: Annotated[bool, typer.Option(
        "--ignore-unknown-videos", help="Leave out predictions on videos absent from the "
        "ground truth (or from --subset) instead of counting them as false positives, as "
        "ActivityNet's evaluator does: for a prediction file that covers more videos on "
        "purpose.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help=PLOT_HELP.format(", and timelines of ground truth against "
                                        "predictions for the 5 worst videos (timeline_*.png)"),
        file_okay=False, show_default=False)] = None,
    fmt: ReportFormatOption = None,
    out: ReportOutOption = None,
) -> None:
    """AP per class and mAP at each tIoU threshold, as ActivityNet's evaluator computes it.

    Per class, predictions rank by score and each takes the unmatched ground-truth
    segment of its video with the highest tIoU; a true positive when that reaches the
    threshold. Predictions on videos absent from the ground truth are false positives
    (--ignore-unknown-videos leaves them out); labels absent from it are ignored. Both
    are counted on stderr.

    Exact ties fall as in ActivityNet's code (NumPy's argsort, reversed): of equal
    scores, the prediction listed later in --pred ranks first; of two segments with
    equal tIoU, the one listed later in --gt is taken.
    """
    from ..evaluate.localization import (  # numpy: not at import, keeps --help fast
        evaluate_localization,
        load_ground_truth,
        load_predictions,
        localization_report_csv,
        localization_report_to_dict,
    )

    with domain_errors():
        # Every option is checked before any file is read.
        check_report_options(fmt, out)
        thresholds = parse_tiou(tiou)
        check_plot_folder(plot)
        truth, predictions = load_ground_truth(gt, subset), load_predictions(pred)
        report = evaluate_localization(truth, predictions, thresholds, ignore_unknown_videos)
        notes = ""
        if report.dropped_unknown_label:
            notes += f", {report.dropped_unknown_label} ignored (label not in ground truth)"
        notes += (f"; {report.unknown_video_predictions} predictions on videos not in the "
                  "ground truth, " + ("ignored (--ignore-unknown-videos)"
                                      if report.unknown_videos_ignored else "false positives"))
        log.info("%d ground-truth segments in %d classes over %d videos; %d predictions used%s",
                 sum(report.gt_instances.values()), len(report.ap), report.gt_videos,
                 report.predictions_used, notes)
        if plot is not None:
            from ..evaluate.plots import plot_localization  # matplotlib: only when asked

            log_plots(plot_localization(plot, report, truth, predictions), plot)
        emit_summary(localization_report_to_dict(report), lambda: print_report_table(report),
                     fmt, out=out, csv_text=localization_report_csv(report),
                     choices=ReportFormat)


# -- ava ------------------------------------------------------------------------------------
def print_ava_table(report: AvaReport) -> None:
    """AP in percent per evaluated action ("n/a" without ground truth), then the mAP row."""

    rows = [(str(c.action), c.name, _percent(c.ap), str(c.gt_boxes),
             str(c.detections)) for c in report.classes]
    rows.append(("", Styled("mAP", "bold"), _percent(report.mAP), str(report.gt_boxes),
                 str(report.detections)))
    print_table(("id", "action", f"AP@{report.iou:g} %", "gt boxes", "detections"), rows)


def _ava_summary(report: AvaReport) -> str:
    """The stderr line: what was scored and what was left out, and why."""
    with_gt = sum(c.gt_boxes > 0 for c in report.classes)
    dropped = [(report.excluded_keyframes, "excluded keyframes removed"),
               (report.gt_other_actions, "ground-truth rows of actions not evaluated dropped"),
               (report.detections_other_actions, "detections of actions not evaluated dropped"),
               (report.detections_over_top_k,
                f"detections beyond the top {report.top_k} of their keyframe dropped"),
               (report.detections_invalid_box,
                "detections with an invalid box (x2 <= x1 or y2 <= y1) dropped"),
               (report.detections_unannotated,
                "detections on keyframes without ground truth (false positives)"),
               (report.detections_unlisted,
                "detections on keyframes the ground truth does not list ignored")]
    return (f"AVA {report.protocol} protocol: "
            f"{report.gt_boxes} ground-truth boxes of {with_gt}/{len(report.classes)} "
            f"evaluated actions on {report.gt_keyframes} keyframes; {report.detections} "
            f"detections scored on {report.detected_keyframes} keyframes"
            + "".join(f"; {count} {what}" for count, what in dropped if count))


@evaluate_app.command("ava")
def ava(
    gt: Annotated[Path, typer.Option(
        "--gt", help="Ground truth CSV: video_id,timestamp,x1,y1,x2,y2,action_id[,person_id] "
        "(e.g. ava_val_v2.1.csv).", show_default=False)],
    pred: Annotated[Path, typer.Option(
        "--pred", help="Detections CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score; "
        "coordinates normalized to [0, 1].", show_default=False)],
    exclude: Annotated[Path | None, typer.Option(
        "--exclude", help="Excluded timestamps CSV (video_id,timestamp), e.g. "
        "ava_val_excluded_timestamps_v2.1.csv.", show_default=False)] = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Evaluated actions: a pbtxt label map or 'id: name' lines. "
        "Default: the 60 actions AVA v2.1 evaluates.", show_default=False)] = None,
    iou: Annotated[float, typer.Option("--iou", help="IoU threshold for a match.")] = 0.5,
    protocol: Annotated[str, choice_option(
        AvaProtocol, "--protocol", help="Which official evaluator to follow: v2.1 (with "
        "--exclude; detections on any keyframe count), 2020 (keyframes without actions are "
        "video_id,timestamp rows of --gt; detections on keyframes it does not list are "
        "ignored), or auto: 2020 when --gt has such rows.")] = AvaProtocol.AUTO.value,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help=PLOT_HELP.format(""), file_okay=False, show_default=False)] = None,
    fmt: ReportFormatOption = None,
    out: ReportOutOption = None,
) -> None:
    """Frame-level AP per action and mAP for AVA detections, as the official evaluator has it.

    Per keyframe the 50 best detections are kept; keyframes in --exclude are removed;
    detections with an invalid box (x2 <= x1 or y2 <= y1) are dropped and counted.
    Per keyframe and action, each detection (by descending score) is compared with the
    ground-truth box it overlaps most: a true positive when that IoU reaches --iou and
    the box is not taken yet. Actions without ground truth have no AP and are left out
    of the mean.

    Exact ties fall as in the official reader: of boxes with equal IoU a detection takes
    the one with the higher person id (the 8th --gt column; without one, the reader's
    heap order: the smaller y1, then x1); equal scores rank as NumPy's argsort reversed
    leaves the reader's arrays (of two on different keyframes, the one whose keyframe
    first appears later in --pred ranks first).
    """
    from ..evaluate.ava import (  # numpy: not at import, keeps --help fast
        ava_report_csv,
        ava_report_to_dict,
        evaluate_ava,
    )

    with domain_errors():
        check_report_options(fmt, out)
        if not 0.0 < iou <= 1.0:
            raise UsageError(f"--iou {iou:g}: not in (0, 1]")
        chosen = AvaProtocol.parse(protocol)
        check_plot_folder(plot)
        report = evaluate_ava(gt, pred, exclude, labels, iou, protocol=chosen)
        log.info("%s", _ava_summary(report))
        if plot is not None:
            from ..evaluate.plots import plot_ava  # matplotlib: only when asked

            log_plots(plot_ava(plot, report), plot)
        emit_summary(ava_report_to_dict(report), lambda: print_ava_table(report), fmt, out=out,
                     csv_text=ava_report_csv(report), choices=ReportFormat)


# -- classification -----------------------------------------------------------------------
CONFUSION_UP_TO = 10  # the table shows the confusion matrix of this many classes unasked
LISTED_VIDEOS = 5  # missing or failed videos named on stderr; the JSON lists them all


def print_classification_table(report: ClassificationReport, confusion: bool) -> None:
    """Overall accuracies, per-class top-1 accuracy, and the top-1 confusion matrix when
    asked for or small enough to read."""

    top5 = "top-5" if report.max_rank >= 5 else f"top-5 (ranks 1-{report.max_rank} listed)"
    print_table(("metric", "accuracy %"), [
        ("top-1", _percent(report.top1)), (top5, _percent(report.top5)),
        ("mean class accuracy", _percent(report.mean_class_accuracy))])
    print_table(("class", "top-1 %", "videos"), [
        (c.label, _percent(c.accuracy), str(c.support)) for c in report.classes])
    if confusion or len(report.classes) <= CONFUSION_UP_TO:
        print_table(("true \\ predicted", *report.columns), [
            (c.label, *map(str, row))
            for c, row in zip(report.classes, report.confusion, strict=True)])


def _classification_summary(report: ClassificationReport) -> list[str]:
    """The stderr lines: what was scored, what was left out and which videos."""
    def some(videos: tuple[str, ...]) -> str:
        more = len(videos) - LISTED_VIDEOS
        return ", ".join(videos[:LISTED_VIDEOS]) + (f" (+{more} more)" if more > 0 else "")

    scored = report.videos - len(report.missing) - len(report.failed)
    notes = [(len(report.missing), "without a prediction (wrong at every k)"),
             (len(report.failed), "with a failed prediction (wrong at every k)"),
             (report.matched_by_stem, "matched by file name only"),
             (report.unused_predictions, "predictions of videos not in the ground truth "
              "ignored")]
    lines = [f"{report.videos} ground-truth videos in {len(report.classes)} classes; "
             f"{scored} scored" + "".join(f"; {n} {what}" for n, what in notes if n)]
    if 0 < report.max_rank < 5:
        lines.append(f"top-5 covers ranks 1-{report.max_rank}: some predictions list "
                     f"only {report.max_rank} (classify --top-k)")
    if report.missing:
        lines.append(f"missing: {some(report.missing)}")
    if report.ambiguous:
        lines.append(f"file name fits several videos: {some(report.ambiguous)}")
    if report.failed:
        lines.append(f"failed: {some(report.failed)}")
    return lines


@evaluate_app.command("classification")
def classification(
    gt: Annotated[Path, typer.Option(
        "--gt", help="Ground truth CSV: path,label rows (optional header; labels are class "
        "names of the preset, quoted when they hold a comma).", show_default=False)],
    pred: Annotated[Path, typer.Option(
        "--pred", help="Predictions: the .csv, .json or .jsonl file 'stcli classify' wrote.",
        show_default=False)],
    fmt: ReportFormatOption = None,
    out: ReportOutOption = None,
    confusion: Annotated[bool, typer.Option(
        "--confusion", help="Show the confusion matrix in the table even for more than "
        f"{CONFUSION_UP_TO} classes.")] = False,
) -> None:
    """Top-1, top-5 and mean class accuracy, per class and confusion matrix.

    Videos match by path as written, then absolute path, then file name
    without extension where that is unique. Ground-truth videos without a
    prediction, or with a failed one, count as wrong; others are ignored.

    CSV: header 'class,accuracy,support,<label>,...'; one row per class:
    top-1 accuracy (a fraction), videos, then how many were predicted as
    each label (the confusion matrix row; '(none)': no prediction); last,
    'overall,<top-1>,<videos>,<times each label was predicted>'.
    JSON has everything, top-5 and the missing and failed videos included.
    """
    from ..evaluate.classification import (  # not at import, keeps --help fast
        classification_report_csv,
        classification_report_to_dict,
        evaluate_classification,
    )

    with domain_errors():
        check_report_options(fmt, out)
        report = evaluate_classification(gt, pred)
        for line in _classification_summary(report):
            log.info("%s", line)
        emit_summary(classification_report_to_dict(report),
                     lambda: print_classification_table(report, confusion), fmt, out=out,
                     csv_text=classification_report_csv(report), choices=ReportFormat)
