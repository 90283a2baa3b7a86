"""``stcli bench``: how fast each backend runs a preset's network on this machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..choices import Device, SummaryFormat
from ..errors import UsageError
from ._common import (
    CheckpointOption,
    PresetOption,
    QuietOption,
    SummaryFormatOption,
    choice_option,
    domain_errors,
    emit_summary,
    stdout_format,
)


def bench(
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    video: Annotated[Path | None, typer.Option(
        "--video", help="Video whose clips are measured. Default: a 10 s 340x256 test video "
        "generated with ffmpeg.", dir_okay=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Clips per network call.")] = 8,
    repeats: Annotated[int, typer.Option(
        "--repeats", min=1, help="Timed rounds per row (best and median reported).")] = 3,
    views: Annotated[str, typer.Option(
        "--views", help="Clips x crops of the end-to-end classify rows; the model-only rows "
        "take whole batches of these views.")] = "10x3",
    int8: Annotated[bool, typer.Option(
        "--int8/--no-int8", help="Quantize to int8 (calibrated on the clips) and measure it.")
    ] = True,
    e2e: Annotated[bool, typer.Option(
        "--e2e/--no-e2e", help="Also time classifying the whole video per backend.")] = True,
    torch_variants: Annotated[bool, typer.Option(
        "--torch-variants", help="Also TorchScript freezing and torch.compile (about a "
        "minute to compile on 2 cores).")] = False,
    device: Annotated[str, choice_option(
        Device, "--device", help="cpu, auto or cuda (cuda: fail without a GPU). CUDA rows "
        "are added whenever torch sees a GPU.")] = Device.CPU.value,
    fmt: SummaryFormatOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the JSON report to FILE.json.", dir_okay=False)
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Measure every backend on this machine: ms per clip, speed-up over eager PyTorch,
    agreement with it, and seconds to classify a video end to end."""
    with domain_errors(quiet):
        from ..deploy.bench import run_bench  # torch: not at import, keeps --help fast

        stdout_format(fmt, out, SummaryFormat)  # a bad --format fails before any work
        if out is not None and out.suffix.lower() != ".json":
            raise UsageError(f"--out {out}: name the file NAME.json")
        report = run_bench(
            preset, checkpoint, video, batch_size=batch_size, repeats=repeats, views=views,
            int8=int8, torch_variants=torch_variants, device=device, e2e=e2e,
            progress=not quiet,
        )
        record = report.to_dict()
        emit_summary(record, lambda: print_report(record), fmt, out=out)


def print_report(record: dict[str, Any], file: Any = None) -> None:
    """The machine description, then the model-only and end-to-end tables (rich)."""
    from rich.console import Console  # not at import: keeps --help fast
    from rich.table import Table

    file = file or sys.stdout
    # Ten columns: in a pipe rich would assume 80 and wrap every cell.
    console = Console(file=file, width=None if getattr(file, "isatty", bool)() else 132)
    m = record["machine"]
    console.print(f"machine  {m['cpu']}, {m['usable_cores']} of {m['logical_cores']} cores "
                  f"usable, {m['platform']}" + (f", CUDA {m['cuda']}" if m["cuda"] else ""),
                  highlight=False, markup=False)
    console.print(f"software python {m['python']}, torch {m['torch']} ({m['torch_threads']} "
                  f"threads), onnxruntime {m['onnxruntime']}", highlight=False, markup=False)
    console.print(f"setup    preset {record['preset']}, video {record['video']}, clips "
                  f"{'x'.join(map(str, record['clip_shape']))}, batch {record['batch_size']}, "
                  f"best / median of {record['repeats']} interleaved rounds", highlight=False,
                  markup=False)
    table = Table(title="model only: clips in memory, vs torch eager", header_style="bold")
    columns = ("backend", "ms/clip", "median", "clips/s", "speed-up", "exact", "max |dp|",
               "top-1 agree", "setup s", "1st call s")
    for column in columns:
        table.add_column(column, justify="left" if column in ("backend", "exact") else "right")
    for r in record["model_rows"]:
        table.add_row(r["name"], f"{r['ms_per_clip']:.1f}", f"{r['ms_per_clip_median']:.1f}",
                      f"{r['clips_per_s']:.2f}", f"{r['speedup']:.2f}x",
                      "yes" if r["exact"] else "no", f"{r['max_prob_diff']:.1e}",
                      f"{r['top1_agreement']:.1%}", f"{r['setup_s']:.1f}",
                      f"{r['first_call_s']:.1f}")
    console.print(table)
    if record["e2e_rows"]:
        table = Table(title=f"end to end: classify the video, {record['views']} views, vs torch",
                      header_style="bold")
        for column in ("backend", "s/video", "median", "ms/view", "speed-up", "same top-5"):
            table.add_column(column, justify="left" if column == "backend" else "right")
        for e in record["e2e_rows"]:
            table.add_row(e["name"], f"{e['seconds']:.2f}", f"{e['seconds_median']:.2f}",
                          f"{e['ms_per_view']:.1f}", f"{e['speedup']:.2f}x",
                          "yes" if e["same_top5"] else "no")
        console.print(table)
    for note in record["notes"]:
        console.print(f"note: {note}", highlight=False, markup=False)  # notes name extras
