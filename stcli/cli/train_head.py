"""``stcli train-head``: a linear classifier for your own classes on SqueezeTime features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..choices import SummaryFormat
from ..errors import UsageError
from ..presets import load_preset
from ..settings import ModelSpec, TrainHeadSettings
from ._checks import ForceOption, check_views
from ._common import (
    EXIT_FAILED,
    QuietOption,
    Styled,
    SummaryFormatOption,
    domain_errors,
    emit_summary,
    log,
    model_options,
    print_table,
    progress,
    stdout_format,
)


@model_options("recognition", head=False)
def train_head(
    clips: Annotated[Path, typer.Argument(
        help="CSV of path,label[,start_s,end_s] (paths relative to the CSV's folder).",
        dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="The head to write: a NAME.head folder (weights .safetensors + "
        "JSON metadata).", show_default=False)],
    model: ModelSpec,
    views: Annotated[str, typer.Option(
        "--views", help="Clips x crops sampled per training clip (each view is one "
        "training row).")] = TrainHeadSettings.views,
    background: Annotated[str | None, typer.Option(
        "--background", help="A label used only to reject windows in 'stcli localize'.")
    ] = TrainHeadSettings.background,
    val_fraction: Annotated[float, typer.Option(
        "--val-fraction", help="Share of each label's clips held out for validation and "
        "early stopping.")] = TrainHeadSettings.val_fraction,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and training.")
                    ] = TrainHeadSettings.seed,
    weight_decay: Annotated[float, typer.Option(
        "--weight-decay", help="L2 penalty of the linear head.")
    ] = TrainHeadSettings.weight_decay,
    cache: Annotated[Path | None, typer.Option(
        "--cache", help="Feature cache folder (default: <weights cache>/features).",
        file_okay=False)] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Compute every clip's features again, store nothing.")
    ] = TrainHeadSettings.no_cache,
    force: ForceOption = False,
    fmt: SummaryFormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train a head on labelled clips; use it with classify/localize --head."""
    with domain_errors(quiet):
        # torch: not at import, keeps --help fast
        from ..tasks.train_head import HeadTrainer, check_head_target, read_clips, save_head

        # Everything that can be checked is, before the model loads and features are made.
        stdout_format(fmt, choices=SummaryFormat)
        settings = TrainHeadSettings(**TrainHeadSettings.pick(locals()))
        check_views(load_preset(model.preset).protocol(settings.views), force,
                    per="training clip")
        check_head_target(out)
        rows = read_clips(clips)
        labels = sorted({row.label for row in rows})
        if settings.background is not None and settings.background not in labels:
            raise UsageError(f"--background '{settings.background}' is not a label of {clips}: "
                             f"its labels are {', '.join(labels[:10])}"
                             f"{', ...' if len(labels) > 10 else ''}")
        trainer = HeadTrainer.load(model, progress=not quiet)
        bar = progress(len(rows), quiet, "features", unit="clip")

        def on_clip(clip: Any, error: str | None) -> None:
            if error:
                log.error("%s (skipped)", error)
            bar.update(1)

        try:
            head, report, data = trainer.train(rows, settings, source=str(clips),
                                               on_clip=on_clip)
        finally:
            bar.close()
        path = save_head(head, out)
        log.info("features: %d computed, %d from cache, %d clip(s) skipped; head written to "
                 "%s", data.computed, data.cached, len(data.failed), path)
        for warning in report.warnings:
            log.warning("%s", warning)
        summary = {"head": str(path), "features_computed": data.computed,
                   "features_cached": data.cached,
                   "skipped": [{"path": c.path, "error": e} for c, e in data.failed],
                   "report": report.to_dict()}
        emit_summary(summary, lambda: _table(report), fmt)
        if data.failed:
            raise typer.Exit(EXIT_FAILED)


def _table(report: Any) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}"

    rows = [(c["label"], str(c["train_groups"]), str(c["val_groups"]), pct(c["val_accuracy"]))
            for c in report.per_class]
    rows.append((Styled("all", "bold"), "", "", pct(report.val_accuracy)))
    print_table(("label", "train clips", "val clips", "val accuracy %"), rows)
    if report.confusion:
        labels = report.labels
        print_table(("true \\ predicted", *labels),
                    [(label, *map(str, row)) for label, row in zip(labels, report.confusion,
                                                                    strict=True)])
