"""``stcli classify``: top-k action labels per video by the official test protocol."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..presets import load_preset
from ._common import (
    BackendOption,
    CheckpointOption,
    DeviceOption,
    FormatOption,
    HeadOption,
    OutOption,
    PrecisionOption,
    PresetOption,
    QuietOption,
    ReportDirOption,
    batch_inputs,
    domain_errors,
    print_table,
    run_batch,
)

PathsArgument = Annotated[list[str], typer.Argument(
    help="Videos, folders (searched recursively), globs, or '-' to read paths from stdin.",
    show_default=False)]


def classify(
    paths: PathsArgument,
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    head: HeadOption = None,
    device: DeviceOption = "auto",
    backend: BackendOption = "auto",
    precision: PrecisionOption = "fp32",
    views: Annotated[str | None, typer.Option(
        "--views", help="Clips x crops, e.g. 10x3 or 1x1 (crops 1 or 3). "
        "Default: the preset's official test protocol.")] = None,
    fast: Annotated[bool, typer.Option(
        "--fast", help="1 clip, short side 256, centre crop 224 (validation setting).")] = False,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per video.")] = 5,
    fmt: FormatOption = None,
    out: OutOption = None,
    report_dir: ReportDirOption = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Views per network call.")] = 8,
    quiet: QuietOption = False,
) -> None:
    """Classify videos: top-k action labels per video, by the official test protocol."""
    from .. import reports

    with domain_errors():
        videos = batch_inputs(paths, fmt, out)
        from ..tasks.classify import choose_protocol, load_recognizer

        choose_protocol(load_preset(preset), views, fast)  # reject bad --views before loading
        recognizer = load_recognizer(preset, checkpoint, device, progress=not quiet,
                                     batch_size=batch_size, head=head,
                                     backend=backend, precision=precision)
        results = recognizer.iter_classify(videos, views=views, fast=fast, top_k=top_k)
        run_batch(reports.CLASSIFY, results, videos, fmt=fmt, out=out, report_dir=report_dir,
                  quiet=quiet, desc="classify", table=_table)


def _table(records: list[dict[str, Any]]) -> None:
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            rows.append((rec["video"], "", f"[red]error: {rec['error']}[/red]", ""))
            continue
        for entry in rec["topk"]:
            rows.append((rec["video"] if entry["rank"] == 1 else "", str(entry["rank"]),
                         entry["label"], f"{entry['score']:.4f}"))
    print_table(("video", "rank", "label", "score"), rows)
