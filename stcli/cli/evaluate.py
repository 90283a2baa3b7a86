"""``stcli evaluate``: score stcli outputs against ground truth."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ._common import domain_errors, err, print_table, write_stdout

if TYPE_CHECKING:
    from ..evaluate.thumos import LocalizationReport

evaluate_app = typer.Typer(help="Score stcli outputs against ground truth (mAP).",
                           no_args_is_help=True)
REPORT_FORMATS = ("table", "json", "csv")


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
    return f"{100 * value:.2f}"


def render_csv(report: LocalizationReport) -> str:
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


def print_report_table(report: LocalizationReport) -> None:
    """AP in percent: one row per class with its mean, then the mAP row."""
    from rich.markup import escape  # labels are data, not markup

    columns = ("class (AP %)", *(f"@{t:g}" for t in report.thresholds), "mean")
    rows = [(escape(label), *map(_percent, values), _percent(report.class_mean(label)))
            for label, values in report.ap.items()]
    rows.append(("[bold]mAP[/bold]", *map(_percent, report.mAP),
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
        show_default=False)] = None,
    tiou: Annotated[str, typer.Option(
        "--tiou", help="tIoU thresholds, comma-separated.")] = "0.3,0.4,0.5,0.6,0.7",
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help="table, json or csv. Default: table on a terminal, json "
        "otherwise; with --out only the file is written unless --format is given.",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the report to FILE (.json or .csv).", dir_okay=False,
        show_default=False)] = None,
) -> None:
    """AP per class and mAP at each tIoU threshold, as ActivityNet's evaluator computes it.

    Predictions of labels or videos the ground truth lacks are ignored, counted on stderr.
    """
    from ..evaluate.thumos import (
        evaluate_localization,
        load_ground_truth,
        load_predictions,
        report_to_dict,
    )
    from ..reports import write_atomic

    with domain_errors():
        # Every option is checked before any file is read.
        if fmt is not None and fmt not in REPORT_FORMATS:
            raise UsageError(f"--format '{fmt}': choose one of {', '.join(REPORT_FORMATS)}")
        out_fmt = out.suffix.lower().lstrip(".") if out is not None else None
        if out is not None and out_fmt not in ("json", "csv"):
            raise UsageError(f"--out {out}: use a .json or .csv file")
        thresholds = parse_tiou(tiou)
        report = evaluate_localization(load_ground_truth(gt, subset), load_predictions(pred),
                                       thresholds)
        ignored = ""
        if report.dropped_unknown_label:
            ignored += f", {report.dropped_unknown_label} ignored (label not in ground truth)"
        if report.dropped_unknown_video:
            ignored += f", {report.dropped_unknown_video} ignored (video not in ground truth)"
        err(f"stcli: {sum(report.gt_instances.values())} ground-truth segments in "
            f"{len(report.ap)} classes over {report.gt_videos} videos; "
            f"{report.predictions_used} predictions used{ignored}")
        as_json = json.dumps(report_to_dict(report), indent=2) + "\n"
        if out is not None:
            write_atomic(out, as_json if out_fmt == "json" else render_csv(report))
        shown = fmt
        if shown is None and out is None:
            shown = "table" if sys.stdout.isatty() else "json"
        if shown == "json":
            write_stdout(as_json)
        elif shown == "csv":
            write_stdout(render_csv(report))
        elif shown == "table":
            print_report_table(report)
