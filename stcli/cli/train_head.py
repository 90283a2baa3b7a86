"""``stcli train-head``: a linear classifier for your own classes on SqueezeTime features."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    EXIT_FAILED,
    BackendOption,
    CheckpointOption,
    DeviceOption,
    PrecisionOption,
    PresetOption,
    QuietOption,
    domain_errors,
    err,
    print_table,
    write_stdout,
)


def train_head(
    clips: Annotated[Path, typer.Argument(
        help="CSV of path,label[,start_s,end_s] (paths relative to the CSV's folder).",
        dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="The head to write: a NAME.head folder (weights .safetensors + "
        "JSON metadata).", show_default=False)],
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    device: DeviceOption = "auto",
    backend: BackendOption = "auto",
    precision: PrecisionOption = "fp32",
    views: Annotated[str, typer.Option(
        "--views", help="Clips x crops sampled per training clip (each view is one "
        "training row).")] = "3x1",
    background: Annotated[str | None, typer.Option(
        "--background", help="A label used only to reject windows in 'stcli localize'.")
    ] = None,
    val_fraction: Annotated[float, typer.Option(
        "--val-fraction", help="Share of each label's clips held out for validation and "
        "early stopping.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and training.")] = 0,
    weight_decay: Annotated[float, typer.Option(
        "--weight-decay", help="L2 penalty of the linear head.")] = 1e-4,
    cache: Annotated[Path | None, typer.Option(
        "--cache", help="Feature cache folder (default: <weights cache>/features).",
        file_okay=False)] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Compute every clip's features again, store nothing.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table or json (the training report, on stdout).")] = "table",
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Views per network call.")] = 8,
    quiet: QuietOption = False,
) -> None:
    """Train a head on labelled clips; use it with classify/localize --head."""
    with domain_errors():
        from ..errors import UsageError

        if fmt not in ("table", "json"):
            raise UsageError(f"--format '{fmt}': choose table or json")
        from tqdm import tqdm

        from ..heads import save_head
        from ..tasks.train_head import HeadTrainer, default_cache, read_clips, train_from_clips

        rows = read_clips(clips)  # a malformed CSV fails before the model loads
        trainer = HeadTrainer.load(preset, checkpoint, device, progress=not quiet,
                                   batch_size=batch_size,
                                   backend=backend, precision=precision)
        bar = tqdm(total=len(rows), unit="clip", file=sys.stderr, desc="features",
                   dynamic_ncols=True, disable=quiet)

        def on_clip(clip: Any, error: str | None) -> None:
            if error:
                bar.write(f"stcli: error: {error} (skipped)", file=sys.stderr)
            bar.update(1)

        try:
            head, report, data = train_from_clips(
                trainer, rows, views=views, source=str(clips), cache=None if no_cache else (
                    cache or default_cache()), val_fraction=val_fraction, seed=seed,
                weight_decay=weight_decay, background=background, on_clip=on_clip)
        finally:
            bar.close()
        path = save_head(head, out)
        if not quiet:
            err(f"stcli: features: {data.computed} computed, {data.cached} from cache, "
                f"{len(data.failed)} clip(s) skipped; head written to {path}")
        for warning in report.warnings:
            err(f"stcli: warning: {warning}")
        summary = {"head": str(path), "features_computed": data.computed,
                   "features_cached": data.cached,
                   "skipped": [{"path": c.path, "error": e} for c, e in data.failed],
                   "report": report.to_dict()}
        if fmt == "json":
            write_stdout(json.dumps(summary, indent=2) + "\n")
        else:
            _table(report)
        if data.failed:
            raise typer.Exit(EXIT_FAILED)


def _table(report: Any) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}"

    rows = [(c["label"], str(c["train_groups"]), str(c["val_groups"]), pct(c["val_accuracy"]))
            for c in report.per_class]
    rows.append(("[bold]all[/bold]", "", "", pct(report.val_accuracy)))
    print_table(("label", "train clips", "val clips", "val accuracy %"), rows)
    if report.confusion:
        labels = report.labels
        print_table(("true \\ predicted", *labels),
                    [(label, *map(str, row)) for label, row in zip(labels, report.confusion,
                                                                    strict=True)])
