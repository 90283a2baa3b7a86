"""How fast each backend runs a preset's network on this machine: ``stcli bench``.

Model-only rows feed the views of one real video, decoded and normalized in memory, to
``engine.logits`` in batches, and compare every backend with plain eager PyTorch (speed-up,
largest probability difference, top-1 agreement: a faster row that changes the answers shows
it). End-to-end rows time ``Recognizer.classify(video)`` (decoding, resize, crops, network,
averaging) with the backends ``stcli classify`` can pick. Each row is warmed up once; the
timed rounds are interleaved (each round runs every row once), so a slow spell of a shared
machine hits every row rather than one. Rows report their best round and the median.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..choices import Device, Precision
from ..engines.backends import (
    Engine,
    OnnxEngine,
    cpu_has_bf16,
    cpu_threads,
    openvino_installed,
    resolve_device,
)
from ..engines.onnx_export import cache_path, ensure_exported, input_shape
from ..engines.onnx_meta import is_onnx
from ..engines.openvino_engine import OpenVinoEngine
from ..engines.torch_engine import TorchEngine
from ..errors import UsageError
from ..loader import sigmoid, softmax
from ..network.build import load_network
from ..pipeline import prepare_views
from ..presets import Preset, Protocol, Views, load_preset
from ..tasks.classify import Recognizer
from ..weights import checkpoint_sha256, resolve_weights
from .quantize import quantize_static_int8

EAGER = "torch eager"
log = logging.getLogger(__name__)
# Person boxes for detection presets, as fractions of the clip: three overlapping people.
BOXES = ((0.10, 0.10, 0.50, 0.90), (0.40, 0.20, 0.90, 0.95), (0.25, 0.30, 0.70, 0.70))


@dataclass
class ModelRow:
    """One backend on the in-memory clips. ``speedup`` is torch eager's time over this
    row's (best rounds); differences are against torch eager's outputs on the same clips."""

    name: str
    backend: str
    precision: str
    device: str
    batch_size: int
    clips: int
    ms_per_clip: float
    ms_per_clip_median: float
    clips_per_s: float
    speedup: float
    exact: bool
    max_prob_diff: float
    top1_agreement: float
    setup_s: float  # load / export / quantize / trace, before the first call
    first_call_s: float  # the warm-up call (torch.compile compiles here)


@dataclass
class EndToEndRow:
    """``classify(video)`` with one backend. ``speedup`` is the torch row's time over this
    row's; ``same_top5``: the same five labels in the same order as the torch row."""

    name: str
    backend: str
    views: int
    seconds: float
    seconds_median: float
    ms_per_view: float
    speedup: float
    top5: list[str]
    same_top5: bool


@dataclass
class BenchReport:
    """Everything ``run_bench`` measured, with the machine it ran on."""

    preset: str
    task: str
    video: str
    views: str
    batch_size: int
    repeats: int
    clip_shape: list[int]
    weights: str
    weights_sha256: str
    machine: dict[str, Any]
    model_rows: list[ModelRow] = field(default_factory=list)
    e2e_rows: list[EndToEndRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


def machine_info() -> dict[str, Any]:
    """CPU, cores, OS, Python and library versions: what the timings depend on."""
    cpu = ""
    with contextlib.suppress(OSError):  # /proc/cpuinfo is Linux only
        cpu = next((line.split(":", 1)[1].strip() for line in
                    Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    ort_version = "not installed"
    if importlib.util.find_spec("onnxruntime") is not None:  # also onnxruntime-gpu & co.
        import onnxruntime  # the optional 'onnx' extra, when installed

        ort_version = onnxruntime.__version__
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(), "usable_cores": cpu_threads(),
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "onnxruntime": ort_version,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def synthetic_video(folder: Path, fps: int = 30) -> Path:
    """A 10 s 340x256 video (the shape of a Kinetics clip) made by ffmpeg."""
    if shutil.which("ffmpeg") is None:
        raise UsageError("stcli bench needs a video to measure: pass --video FILE, or install "
                         "ffmpeg (apt-get install ffmpeg) to generate one")
    path = folder / "synthetic_340x256_10s.mp4"
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=340x256:rate={fps}",
         "-t", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"ffmpeg could not generate the benchmark video ({reason}); pass "
                         "--video FILE")
    return path


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each function per round; within a round the functions take turns, so a
    slow spell of a shared machine lands on all of them rather than on one."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


def compare(reference: np.ndarray, other: np.ndarray, task: str) -> tuple[float, float]:
    """(largest probability difference, top-1 agreement) of two logit sets: softmax over
    classes for recognition, a sigmoid per action for detection (as each task scores)."""
    score = sigmoid if task == "detection" else softmax
    # In float64: differences of 1e-7 must not vanish in rounding.
    p, q = score(reference.astype(np.float64)), score(other.astype(np.float64))
    agree = float((p.argmax(axis=1) == q.argmax(axis=1)).mean())
    return float(np.abs(p - q).max()), agree


def _rois(batch: int, size: int) -> np.ndarray:
    """``(batch * 3, 5)`` rows ``(clip, x1, y1, x2, y2)``: the same three boxes per clip."""
    boxes = np.asarray(BOXES, np.float32) * size
    return np.concatenate([np.concatenate([np.full((len(BOXES), 1), float(i), np.float32),
                                           boxes], axis=1) for i in range(batch)])


@dataclass
class _Row:
    """A backend being measured."""

    name: str
    engine: Engine
    device: str
    setup_s: float
    first_call_s: float = 0.0
    logits: np.ndarray | None = None


class _ModelBench:
    """The model-only rows: each built and warmed up in turn, then all timed together."""

    def __init__(self, batches: list[np.ndarray], rois: np.ndarray | None, task: str,
                 notes: list[str]) -> None:
        self.batches, self.rois, self.task = batches, rois, task
        self.notes = notes
        self.rows: list[_Row] = []

    def add(self, name: str, device: str, build: Callable[[], Engine], optional: bool = False,
            setup_s: float = 0.0) -> None:
        """Build a row's engine (timed as its setup, plus ``setup_s`` spent before) and warm
        it up (timed as its first call). ``optional``: a failure becomes a note."""
        log.info("preparing %s", name)
        try:
            started = time.perf_counter()
            row = _Row(name, build(), device, 0.0)
            row.setup_s = setup_s + time.perf_counter() - started
            started = time.perf_counter()
            row.logits = self.run(row)
            row.first_call_s = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - reported as a note, see below
            if not optional:
                raise
            # torch.compile without a C++ compiler, bf16 on an old GPU, ...: tell, go on.
            self.notes.append(f"{name} failed: {type(exc).__name__}: {exc}".splitlines()[0])
            return
        self.rows.append(row)

    def run(self, row: _Row) -> np.ndarray:
        """Logits of every clip, batch by batch, as the engine returns them (a CUDA
        engine's come back to the CPU: every call is timed to its end)."""
        return np.concatenate([row.engine.logits(b, self.rois) for b in self.batches])

    def measure(self, repeats: int) -> list[ModelRow]:
        """Interleaved timed rounds; one row per backend, compared with the first (eager)."""
        clips, batch_size = sum(len(b) for b in self.batches), len(self.batches[0])
        log.info("timing %d backends x %d rounds on %d clips", len(self.rows), repeats, clips)
        times = interleaved({r.name: lambda r=r: self.run(r) for r in self.rows}, repeats)
        reference = self.rows[0]
        out = []
        for row in self.rows:
            best, median = min(times[row.name]), statistics.median(times[row.name])
            diff, agree = compare(reference.logits, row.logits, self.task)
            out.append(ModelRow(
                name=row.name, backend=row.engine.name, precision=row.engine.precision,
                device=row.device, batch_size=batch_size, clips=clips,
                ms_per_clip=round(1000 * best / clips, 3),
                ms_per_clip_median=round(1000 * median / clips, 3),
                clips_per_s=round(clips / best, 3),
                speedup=round(min(times[reference.name]) / best, 3),
                exact=row.engine.precision == "fp32", max_prob_diff=diff, top1_agreement=agree,
                setup_s=round(row.setup_s, 3), first_call_s=round(row.first_call_s, 3)))
        return out


def run_bench(
    preset: str = "k400", checkpoint: str | Path | None = None, video: str | Path | None = None,
    batch_size: int = 8, repeats: int = 3, views: str = "10x3", int8: bool = True,
    torch_variants: bool = False, device: str | Device = Device.CPU, e2e: bool = True,
    progress: bool = True,
) -> BenchReport:
    """Measure every backend available here on one video (generated when ``video`` is None).

    ``views`` is the classify protocol of the end-to-end rows; the model-only rows take the
    first whole batches of its views (more clips when it has fewer than one batch).
    ``torch_variants`` adds TorchScript freezing and ``torch.compile`` (slow to set up).
    CUDA rows are added when torch sees a GPU (``device="cuda"`` insists on one). Progress
    lines go to the ``stcli`` logger; ``progress`` shows a bar if weights are downloaded.
    """
    if batch_size < 1 or repeats < 1:
        raise UsageError("--batch-size and --repeats must be at least 1")
    spec = load_preset(preset)
    protocol = spec.protocol(Views(views))  # a bad --views fails before any work
    cuda = resolve_device(Device.parse(device)) == "cuda" or torch.cuda.is_available()
    if video is not None and not Path(video).is_file():
        raise UsageError(f"{video}: no such file (--video)")
    if is_onnx(checkpoint):
        raise UsageError(f"{checkpoint}: bench runs every backend from a torch checkpoint; "
                         "pass the .pth/.safetensors file this model was exported from")
    detection = spec.task == "detection"
    notes: list[str] = []
    missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        notes.append(f"onnxruntime rows skipped: {' and '.join(missing)} not installed "
                     "(pip install 'stcli[onnx]')")
    if detection and (int8 or e2e):
        notes.append(f"'{spec.name}' is a detection preset: model-only rows score 3 fixed boxes "
                     "per clip (sigmoid per action); int8 and end-to-end rows are for "
                     "recognition presets and were skipped")
        int8 = e2e = False
    cpu = torch.device("cpu")
    weights = resolve_weights(spec, checkpoint, progress=progress)
    sha = checkpoint_sha256(weights)

    def model(on: torch.device = cpu) -> torch.nn.Module:
        # A fresh copy per row: TorchEngine converts its module in place (channels-last).
        return load_network(spec, weights, on)

    with tempfile.TemporaryDirectory(prefix="stcli-bench-") as tmp:
        if video is None:
            log.info("generating a 10 s 340x256 30 fps test video with ffmpeg")
            source = synthetic_video(Path(tmp))
            video_name = "synthetic: ffmpeg testsrc2, 10 s, 340x256, 30 fps, H.264"
        else:
            source, video_name = Path(video), str(video)
        started = time.perf_counter()
        eager = TorchEngine(model(), cpu, channels_last=False)
        load_s = time.perf_counter() - started
        log.info("decoding the views of %s", source)
        # The protocol's views, with more clips when they fall short of one batch.
        more = replace(protocol, num_clips=max(protocol.num_clips,
                                               math.ceil(batch_size / protocol.crops)))
        clips = prepare_views(source, spec, more).clips
        clips = clips[: len(clips) // batch_size * batch_size]
        batches = [clips[i : i + batch_size] for i in range(0, len(clips), batch_size)]
        rois = _rois(batch_size, clips.shape[-1]) if detection else None
        bench = _ModelBench(batches, rois, spec.task, notes)
        bench.add(EAGER, "cpu", lambda: eager, setup_s=load_s)
        bench.add("torch", "cpu", lambda: TorchEngine(model(), cpu))
        if torch_variants:
            args = tuple(torch.from_numpy(x) for x in
                         ((batches[0],) if rois is None else (batches[0], rois)))
            bench.add("torch jit-frozen", "cpu", lambda: _torch_variant(model(), args), True)
            bench.add("torch.compile", "cpu", lambda: _torch_variant(model(), None), True)
        if not missing:
            exported = cache_path(spec, sha, input_shape(spec))
            if exported.is_file():
                notes.append("onnxruntime fp32: the ONNX export was already cached; its "
                             "setup_s excludes exporting (a few seconds, once per checkpoint)")
            bench.add("onnxruntime fp32", "cpu", lambda: OnnxEngine(
                ensure_exported(spec, weights, sha)))
            if openvino_installed():
                # bf16 where the CPU computes it natively: approximate, compared below.
                bench.add("openvino bf16", "cpu", lambda: OpenVinoEngine(
                    ensure_exported(spec, weights, sha), Precision.BF16), True)
            else:
                notes.append("openvino bf16 row skipped: pip install 'stcli[openvino]'")
            if int8:
                calibration = [c[None] for c in clips]
                bench.add("onnxruntime int8", "cpu", lambda: OnnxEngine(
                    quantize_static_int8(exported, Path(tmp) / "int8.onnx", calibration)))
                notes.append(f"onnxruntime int8 was calibrated on the {len(clips)} benchmark "
                             "clips it is compared on: its agreement here is optimistic")
        if cpu_has_bf16():  # after the exact rows: the approximate ones follow them
            bench.add("torch bf16", "cpu", lambda: TorchEngine(model(), cpu, Precision.BF16))
        if cuda:
            gpu = torch.device("cuda")
            for p in ("fp32", "fp16", "bf16"):
                bench.add(f"torch cuda {p}", "cuda",
                          lambda p=p: TorchEngine(model(gpu), gpu, p), True)
        model_rows = bench.measure(repeats)
        e2e_rows: list[EndToEndRow] = []
        if e2e:
            names = ("torch", "onnxruntime fp32", "onnxruntime int8", "openvino bf16",
                     "torch cuda fp32")
            e2e_rows = _end_to_end([r for r in bench.rows if r.name in names], spec, weights,
                                   source, protocol, batch_size, repeats)

    return BenchReport(
        preset=spec.name, task=spec.task, video=video_name, views=protocol.views,
        batch_size=batch_size, repeats=repeats, clip_shape=list(clips.shape[1:]),
        weights=str(weights), weights_sha256=sha, machine=machine_info(),
        model_rows=model_rows, e2e_rows=e2e_rows, notes=notes)


def _end_to_end(
    rows: Sequence[_Row], spec: Preset, weights: Path, video: Path, protocol: Protocol,
    batch_size: int, repeats: int,
) -> list[EndToEndRow]:
    """Time ``classify(video)`` with each row's engine (interleaved rounds)."""
    top5: dict[str, list[str]] = {}
    fns: dict[str, Callable[[], object]] = {}
    for row in rows:
        recognizer = Recognizer(row.engine, spec, row.device, weights=weights,
                                batch_size=batch_size)

        def run(r: Recognizer = recognizer, name: str = row.name) -> None:
            result = r.classify(video, views=protocol.views)[0]
            if result.status != "ok":
                raise UsageError(f"{video}: classify failed with {name}: {result.error}")
            top5[name] = [s.label for s in result.topk]

        log.info("warming up classify with %s", row.name)
        run()
        fns[row.name] = run
    log.info("timing classify with %d backends x %d rounds", len(fns), repeats)
    times = interleaved(fns, repeats)
    views = protocol.num_clips * protocol.crops
    return [EndToEndRow(
        name=row.name, backend=row.engine.describe(), views=views,
        seconds=round(min(times[row.name]), 4),
        seconds_median=round(statistics.median(times[row.name]), 4),
        ms_per_view=round(1000 * min(times[row.name]) / views, 3),
        speedup=round(min(times["torch"]) / min(times[row.name]), 3),
        top5=top5[row.name], same_top5=top5[row.name] == top5["torch"]) for row in rows]


def _torch_variant(model: torch.nn.Module, args: tuple[Tensor, ...] | None) -> TorchEngine:
    """The eager model traced with ``args``, frozen (weights folded in as constants) and
    optimized for inference; or, with no ``args``, ``torch.compile``d (it compiles on the
    first call)."""
    engine = TorchEngine(model, torch.device("cpu"), channels_last=False)
    if args is None:
        engine.model = torch.compile(engine.model)
        return engine
    with torch.no_grad(), warnings.catch_warnings():
        # Tracer warnings are about the fixed clip shape, which every batch here has.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(engine.model, args, check_trace=False)
        engine.model = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return engine
