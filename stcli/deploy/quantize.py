"""int8 static quantization of an exported recognition model, and how far it drifts.

onnxruntime's own tools do the work (``quant_pre_process`` then ``quantize_static``,
QOperator format, per-channel int8 weights, uint8 activations, min-max calibration). The
calibration clips are sampled from the user's videos exactly as ``classify`` samples them,
so the activation ranges are those the model will see. Every clip is then run through the
fp32 and the int8 model: top-1 agreement and the largest softmax difference are reported
separately for the calibration clips and for held-out clips (whole videos kept out of the
calibration when there are several, otherwise every fourth clip), with the time per clip
of each model measured on the same clips.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engines.backends import OnnxEngine
from ..engines.onnx_meta import copy_metadata, set_metadata
from ..errors import UsageError, VideoError, extra_missing
from ..fileio import atomic_path
from ..loader import softmax

EQUIVALENT_AGREEMENT = 0.95  # below this the int8 model is reported as not equivalent


@dataclass(frozen=True)
class Agreement:
    """How an int8 model's outputs compare with the fp32 model's on a set of clips."""

    clips: int
    top1_agreement: float  # share of clips whose top-1 class is the same
    max_prob_diff: float  # largest |p_int8 - p_fp32| over clips and classes
    mean_top1_prob_diff: float  # mean |difference| of the fp32 top-1 class's probability


@dataclass(frozen=True)
class QuantReport:
    """What ``quantize_int8`` made and measured."""

    model: str
    videos: list[str]
    heldout_videos: list[str]
    skipped: list[str]
    calibration: Agreement
    heldout: Agreement | None
    fp32_ms_per_clip: float
    int8_ms_per_clip: float

    @property
    def speedup(self) -> float:
        """fp32 time over int8 time, measured on the same clips in one run."""
        return self.fp32_ms_per_clip / max(self.int8_ms_per_clip, 1e-9)

    @property
    def equivalent(self) -> bool:
        """Whether top-1 agreement reaches 95% on every set measured."""
        sets = [self.calibration] + ([self.heldout] if self.heldout else [])
        return all(s.top1_agreement >= EQUIVALENT_AGREEMENT for s in sets)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output and the model's metadata."""
        out = asdict(self)
        out["speedup"] = round(self.speedup, 3)
        out["equivalent"] = self.equivalent
        return out


def split_heldout(videos: Sequence[str]) -> tuple[list[str], list[str]]:
    """(calibration videos, held-out videos): every fourth video is held out (at least one)
    when there are two or more; with one video nothing is, and clips are split instead."""
    if len(videos) < 2:
        return list(videos), []
    held = [v for i, v in enumerate(videos) if i % 4 == 3] or [videos[-1]]
    return [v for v in videos if v not in held], held


def agreement(fp32_logits: np.ndarray, int8_logits: np.ndarray) -> Agreement:
    """Top-1 agreement and probability differences of two models on the same clips."""
    # In float64: differences of 1e-7 must not vanish in rounding.
    p, q = softmax(fp32_logits.astype(np.float64)), softmax(int8_logits.astype(np.float64))
    top = p.argmax(axis=1)
    rows = np.arange(len(p))
    return Agreement(
        clips=len(p),
        top1_agreement=round(float((q.argmax(axis=1) == top).mean()), 6) if len(p) else 0.0,
        max_prob_diff=round(float(np.abs(p - q).max()), 6) if len(p) else 0.0,
        mean_top1_prob_diff=round(float(np.abs(p[rows, top] - q[rows, top]).mean()), 6)
        if len(p) else 0.0,
    )


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of clip arrays."""

    def __init__(self, clips: Sequence[np.ndarray], batch: int = 4) -> None:
        self._batches = [np.concatenate(clips[i : i + batch]) for i in range(0, len(clips), batch)]
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._batches):
            return None
        self._next += 1
        return {"clips": self._batches[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0


def quantize_static_int8(fp32: Path, out: Path, clips: Sequence[np.ndarray]) -> Path:
    """Quantize the exported fp32 model at ``fp32`` into ``out`` using ``clips`` (each
    ``(1, 3, T, H, W)`` float32, normalized) for calibration. Metadata is carried over."""
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise extra_missing("int8 quantization") from exc
    if not clips:
        raise UsageError("no calibration clips: pass --calibrate with videos that decode")

    class Reader(_Reader, CalibrationDataReader):
        pass

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="stcli-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference + graph cleanup first, as onnxruntime recommends before
        # quantizing (otherwise some convolutions are left in fp32).
        with _quiet_root_logger():
            quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        with atomic_path(out) as partial, _quiet_root_logger():
            quantize_static(
                str(prepared), str(partial), Reader(list(clips)),
                quant_format=QuantFormat.QOperator, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibration_providers=["CPUExecutionProvider"],
            )
            copy_metadata(fp32, partial, {"precision": "int8"})
    return out


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer logs a warning on the root logger for every tensor type it
    leaves alone (dozens per model): noise on stderr, not news for the user."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def run_logits(session: Any, clips: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Logits of every clip (one at a time, as latency matters) and ms per clip."""
    outs = []
    started = time.perf_counter()
    for clip in clips:
        outs.append(session.run(["logits"], {"clips": clip})[0])
    elapsed = time.perf_counter() - started
    return np.concatenate(outs), 1000.0 * elapsed / max(len(clips), 1)


def quantize_int8(
    fp32: OnnxEngine, out: Path, videos: Sequence[str],
    clips_of: Callable[[str], Iterable[np.ndarray]], max_clips: int = 64,
    on_skip: Callable[[str, str], None] | None = None,
) -> QuantReport:
    """Calibrate on clips of ``videos`` (``clips_of(video)`` yields ``(1, 3, T, H, W)``
    arrays), write the int8 model of the exported ``fp32`` model to ``out``, and measure
    it against ``fp32``.

    A video that fails to decode is skipped (``on_skip(video, reason)``), not fatal.
    """
    calibrate_videos, heldout_videos = split_heldout(videos)
    per_video = max(1, max_clips // max(len(videos), 1))
    calibration: list[np.ndarray] = []
    heldout: list[np.ndarray] = []
    skipped: list[str] = []
    for video in videos:
        try:
            taken = list(clips_of(video))[:per_video]
        except VideoError as exc:
            skipped.append(video)
            if on_skip:
                on_skip(video, exc.reason)
            continue
        if video in heldout_videos:
            heldout += taken
        elif heldout_videos:
            calibration += taken
        else:  # one video: every fourth clip is held out
            heldout += taken[3::4]
            calibration += [c for i, c in enumerate(taken) if i % 4 != 3]
    if not calibration:
        raise UsageError("none of the --calibrate videos gave a clip: " + ", ".join(skipped))
    quantize_static_int8(fp32.path, out, calibration)
    reference, quantized = fp32.session, OnnxEngine(out).session
    sets = {"calibration": calibration, "heldout": heldout}
    results: dict[str, Agreement | None] = {}
    total_ms = {"fp32": 0.0, "int8": 0.0}  # both models run every clip
    for name, clips in sets.items():
        if not clips:
            results[name] = None
            continue
        ref, ms_ref = run_logits(reference, clips)
        got, ms_got = run_logits(quantized, clips)
        total_ms["fp32"] += ms_ref * len(clips)
        total_ms["int8"] += ms_got * len(clips)
        results[name] = agreement(ref, got)
    measured = len(calibration) + len(heldout)
    report = QuantReport(
        model=str(out), videos=[v for v in calibrate_videos if v not in skipped],
        heldout_videos=[v for v in heldout_videos if v not in skipped], skipped=skipped,
        calibration=results["calibration"],  # type: ignore[arg-type]
        heldout=results["heldout"],
        fp32_ms_per_clip=round(total_ms["fp32"] / measured, 2),
        int8_ms_per_clip=round(total_ms["int8"] / measured, 2),
    )
    set_metadata(out, {"int8_report": report.to_dict()})
    return report
