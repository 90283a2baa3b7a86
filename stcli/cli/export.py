"""``stcli export``: the model as an ONNX file for onnxruntime and runtimes outside Python."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..choices import Quantization, SummaryFormat
from ..errors import UsageError
from ..inputs import expand_inputs
from ._checks import given
from ._common import (
    CheckpointOption,
    PresetOption,
    QuietOption,
    SummaryFormatOption,
    choice_option,
    domain_errors,
    emit_summary,
    log,
    print_table,
    stdout_format,
)


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="The .onnx file to write.", dir_okay=False)],
    preset: PresetOption = "k400",
    checkpoint: CheckpointOption = None,
    quantize: Annotated[str | None, choice_option(
        Quantization, "--quantize", help="int8: static int8 quantization (recognition "
        "presets), calibrated on --calibrate videos; prints its agreement with fp32.")
    ] = None,
    calibrate: Annotated[list[str] | None, typer.Option(
        "--calibrate", help="Videos or folders whose clips calibrate --quantize (repeatable). "
        "Every fourth video is held out to measure agreement.")] = None,
    calibration_clips: Annotated[int, typer.Option(
        "--calibration-clips", min=1, help="At most this many clips in all.")] = 64,
    fmt: SummaryFormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Export a preset's model to ONNX (fp32, or int8 with --quantize int8).

    Input: the normalized clip batch clips (N, 3, 16, H, W) (AVA: also rois (K, 5)).
    Outputs: logits (and features for recognition). Preset, labels, normalization and the
    sampling protocol are in the model's metadata (stcli.* keys).
    """
    with domain_errors(quiet):
        from ..deploy.export import export_model  # torch: not at import, keeps --help fast

        stdout_format(fmt, choices=SummaryFormat)  # a bad --format fails before any work
        # Calibration is for --quantize only: without it, it would be silently ignored.
        for option, name in (("--calibrate", "calibrate"),
                             ("--calibration-clips", "calibration_clips")):
            if quantize is None and given(ctx, name):
                raise UsageError(f"{option} is for --quantize int8: give both, or neither")
        videos = expand_inputs(calibrate) if calibrate else []
        result = export_model(
            preset, out, checkpoint=checkpoint, quantize=quantize, calibrate=videos,
            max_clips=calibration_clips, progress=not quiet,
            on_skip=lambda video, reason: log.warning("skipped %s: %s", video, reason),
        )
        record = result.to_dict()
        emit_summary(record, lambda: _table(record), fmt)
        report = record["int8"]
        if report and not report["equivalent"]:
            worst = min(s["top1_agreement"] for s in (report["calibration"], report["heldout"])
                        if s)
            log.warning("the int8 model is NOT equivalent to fp32: top-1 agreement %.1f%% < "
                        "95%%; use the fp32 model where results must match", 100 * worst)


def _table(record: dict[str, Any]) -> None:
    rows = [("file", record["path"]), ("preset", record["preset"]),
            ("precision", record["precision"]),
            ("input", "clips (N, 3, " + ", ".join(map(str, record["input_shape"])) + ")"),
            ("size", f"{record['size_bytes'] / 2**20:.1f} MiB"),
            ("seconds", str(record["seconds"]))]
    report = record["int8"]
    if report:
        for name in ("calibration", "heldout"):
            s = report[name]
            if s:
                rows.append((f"{name} ({s['clips']} clips)",
                             f"top-1 agreement {s['top1_agreement']:.1%}, max |dp| "
                             f"{s['max_prob_diff']:.4f}"))
        rows.append(("speed (ms/clip)", f"fp32 {report['fp32_ms_per_clip']:.1f}, int8 "
                     f"{report['int8_ms_per_clip']:.1f} (x{report['speedup']:.2f})"))
        rows.append(("equivalent to fp32", "yes" if report["equivalent"] else
                     "NO (agreement < 95%)"))
    print_table(("export", ""), rows)
