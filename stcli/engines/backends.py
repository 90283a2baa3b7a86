"""How a network runs: eager torch (CPU or CUDA, fp32/fp16/bf16) or onnxruntime (CPU).

Tasks never call a network directly; they call an engine's ``logits`` / ``features`` with a
normalized clip batch (and, for AVA, boxes) as numpy float32 arrays and get float32 arrays
back, whichever backend computes them. This module imports no torch: an onnxruntime run
never loads it (~1 s of start-up); the torch engine lives in ``torch_engine``.
``auto`` picks onnxruntime on the CPU when it is installed: it runs
the same fp32 network at ~73-77 ms per 16x224x224 clip on a 2-core AMD EPYC, near the
~67 ms an fp32 matrix product at full speed would need, against ~92-113 ms for eager torch
(``stcli bench``), with the same numbers to ~1e-6. On CUDA, and for half precision,
torch runs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..choices import Backend, Device, Precision
from ..errors import UsageError, extra_missing
from ..fileio import atomic_path
from ..weights import cache_dir
from .onnx_meta import read_metadata

Array = Any  # a numpy array, or anything ``np.asarray`` takes (a CPU torch tensor)


def cuda_available() -> bool:
    """Whether torch would see a CUDA GPU. Without an NVIDIA driver it cannot, and the
    answer comes without importing torch (~1 s), which ``--device auto`` runs on CPU-only
    machines would otherwise pay on every start."""
    if sys.platform == "linux" and not (Path("/proc/driver/nvidia/version").exists()
                                        or Path("/dev/nvidiactl").exists()):
        return False
    import torch  # a driver is there: only torch can tell whether it serves a GPU

    return torch.cuda.is_available()


def resolve_device(device: Device) -> str:
    """``cpu`` or ``cuda``: ``auto`` picks CUDA when torch sees a GPU, else the CPU."""
    if device == Device.AUTO:
        return "cuda" if cuda_available() else "cpu"
    if device == Device.CUDA and not cuda_available():
        raise UsageError("--device cuda was requested but torch sees no CUDA GPU; use --device cpu")
    return device.value


def onnxruntime_installed() -> bool:
    """Whether the optional ``onnx`` extra (onnxruntime, and onnx for exporting) is there."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def openvino_installed() -> bool:
    """Whether the optional ``openvino`` extra (OpenVINO, and onnx for exporting) is there."""
    return all(importlib.util.find_spec(m) is not None for m in ("openvino", "onnx"))


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512_BF16 or AMX); without it bf16 is
    emulated and slower than fp32. Read from the CPU's flags, without loading a runtime."""
    flags = set(_cpu_signature().split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_backend(backend: Backend, device: str,
                    precision: Precision = Precision.FP32) -> Backend:
    """The backend that will run: ``torch``, ``onnxruntime`` or ``openvino``.

    ``auto`` is onnxruntime on the CPU in fp32 when installed (the fastest exact backend
    measured here); OpenVINO for bf16 on a CPU with bf16 arithmetic when installed (twice
    onnxruntime fp32's speed here, not exact); torch otherwise.
    """
    on_cpu = device == "cpu"
    if backend == Backend.AUTO:
        if on_cpu and precision == Precision.FP32 and onnxruntime_installed():
            return Backend.ONNXRUNTIME
        if (on_cpu and precision == Precision.BF16 and openvino_installed()
                and cpu_has_bf16()):
            return Backend.OPENVINO
        return Backend.TORCH
    if backend in (Backend.ONNXRUNTIME, Backend.OPENVINO):
        if not on_cpu:
            raise UsageError(f"--backend {backend} runs on the CPU: use --device cpu, or "
                             "--backend torch for CUDA")
        runs = ((Precision.FP32,) if backend == Backend.ONNXRUNTIME
                else (Precision.FP32, Precision.BF16))
        if precision not in runs:
            raise UsageError(f"--precision {precision} is not for --backend {backend}: it "
                             f"runs {' or '.join(map(str, runs))} (int8: an export made by "
                             "'stcli export --quantize int8'); torch runs fp16")
        extra = "onnx" if backend == Backend.ONNXRUNTIME else "openvino"
        if not (onnxruntime_installed() if extra == "onnx" else openvino_installed()):
            raise UsageError(f"{extra_missing(f'--backend {backend}', extra)} (or use "
                             "--backend torch)")
    return backend


class Engine:
    """One way to run a loaded model. Inputs and results are float32 numpy arrays."""

    name = "engine"
    precision = "fp32"
    model: Any = None  # the torch module, for engines that have one

    def logits(self, clips: Array, rois: Array | None = None) -> np.ndarray:
        """Logits of a normalized clip batch ``(N, 3, T, H, W)``; for AVA, of every row of
        ``rois`` ``(K, 5)`` (clip index, x1, y1, x2, y2 in input pixels)."""
        raise NotImplementedError

    def features(self, clips: Array) -> np.ndarray:
        """Globally pooled backbone features ``(N, 2048)`` (recognition models)."""
        raise NotImplementedError

    def set_classifier(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Use the linear layer ``features @ weight.T + bias`` (2048 -> classes) instead of
        the checkpoint's classifier."""
        raise NotImplementedError

    def describe(self) -> str:
        """``backend precision`` as reports and benchmarks name it."""
        return f"{self.name} {self.precision}"


class ExportedEngine(Engine):
    """An exported model (``stcli.export``, ONNX) run by a CPU runtime; subclasses open a
    file (``_open``) and run one output of it (``_infer``).

    An exported model takes one clip size (T x H x W). ``export_for(shape)``, when given,
    returns a model for another size (the export cache does: ``--fast`` crops 224 pixels
    where hmdb51's test protocol crops 286); without it another size is a usage error.
    """

    def __init__(self, path: str | Path, threads: int | None = None,
                 export_for: Callable[[tuple[int, ...]], Path] | None = None) -> None:
        self.path = Path(path)
        self.threads = threads or _thread_limit or cpu_threads()
        self.export_for = export_for
        self.session = self._open(self.path)
        self.meta = self._metadata(self.session)
        self.precision = self._precision(str(self.meta.get("precision", "fp32")))
        self.inputs, self.outputs, shape = self._signature(self.session)
        self.shape = tuple(shape[2:]) if len(shape) == 5 else None
        self._sessions = {self.shape: self.session}
        self.classifier: tuple[np.ndarray, np.ndarray] | None = None

    def _open(self, path: Path) -> Any:
        """A runnable form of the model file ``path``."""
        raise NotImplementedError

    def _metadata(self, session: Any) -> dict[str, Any]:
        """The model's ``stcli.*`` metadata (``stcli.engines.onnx_meta``)."""
        raise NotImplementedError

    def _signature(self, session: Any) -> tuple[list[str], list[str], list[Any]]:
        """Input names, output names and the first input's shape (ints or symbols)."""
        raise NotImplementedError

    def _infer(self, session: Any, output: str, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The output ``output`` of ``session`` for the inputs ``feed``."""
        raise NotImplementedError

    def _precision(self, exported: str) -> str:
        """The arithmetic this engine runs a model exported in ``exported`` precision in."""
        return exported

    def _session_for(self, shape: tuple[int, ...]) -> Any:
        fixed = self.shape is not None and all(isinstance(d, int) for d in self.shape)
        if not fixed or shape == self.shape:
            return self.session
        if shape not in self._sessions:
            if self.export_for is None:
                raise UsageError(
                    f"{self.path} takes clips of {'x'.join(map(str, self.shape))} (T x H x "
                    f"W), not {'x'.join(map(str, shape))}: export it again for this input "
                    "size")
            self._sessions[shape] = self._open(self.export_for(shape))
        return self._sessions[shape]

    def _run(self, output: str, clips: Array, rois: Array | None) -> np.ndarray:
        clips = np.ascontiguousarray(clips, dtype=np.float32)
        session = self._session_for(tuple(clips.shape[2:]))
        feed: dict[str, Any] = {"clips": clips}
        if "rois" in self.inputs:
            if rois is None:
                raise UsageError(f"{self.path} is a detection model: it needs boxes")
            feed["rois"] = np.ascontiguousarray(rois, dtype=np.float32)
        if output not in self.outputs:
            raise UsageError(f"{self.path} has no '{output}' output; export it again with "
                             "'stcli export'")
        return self._infer(session, output, feed)

    def logits(self, clips: Array, rois: Array | None = None) -> np.ndarray:
        if self.classifier is not None:
            weight, bias = self.classifier
            return self.features(clips) @ weight.T + bias
        return self._run("logits", clips, rois)

    def features(self, clips: Array) -> np.ndarray:
        return self._run("features", clips, None)

    def set_classifier(self, weight: np.ndarray, bias: np.ndarray) -> None:
        if "features" not in self.outputs:
            raise UsageError(f"{self.path} has no features output to put a head on")
        self.classifier = (np.asarray(weight, np.float32), np.asarray(bias, np.float32))


class OnnxEngine(ExportedEngine):
    """An exported model run by onnxruntime on the CPU (fp32, or an int8 export)."""

    name = "onnxruntime"

    def _open(self, path: Path) -> Any:
        """An onnxruntime session of ``path``, from this machine's optimized copy when
        there is one (``optimized_copy``)."""
        import onnxruntime as ort  # the optional 'onnx' extra

        level = ort.GraphOptimizationLevel
        copy = optimized_copy(path, ort.__version__)
        if copy is not None and copy.is_file():
            try:
                return self._session(copy, level.ORT_DISABLE_ALL)
            except UsageError:
                copy.unlink(missing_ok=True)  # damaged: make it again below
        if copy is None:
            return self._session(path, level.ORT_ENABLE_ALL)
        try:
            with atomic_path(copy) as partial:
                return self._session(path, level.ORT_ENABLE_ALL, save=partial)
        except OSError:  # an unwritable cache costs start-up time, nothing else
            return self._session(path, level.ORT_ENABLE_ALL)

    def _session(self, path: Path, level: Any, save: Path | None = None) -> Any:
        import onnxruntime as ort  # the optional 'onnx' extra

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        # Decoding runs beside the network on another thread; spinning workers would take
        # its core while waiting (~3% for the network alone, nothing end to end).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        options.graph_optimization_level = level
        if save is not None:
            options.optimized_model_filepath = str(save)
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise UsageError(f"{path}: onnxruntime cannot load it "
                             f"({str(exc).splitlines()[0][:200]}); export it again with "
                             "'stcli export'") from exc

    def _metadata(self, session: Any) -> dict[str, Any]:
        return read_metadata(session)

    def _signature(self, session: Any) -> tuple[list[str], list[str], list[Any]]:
        inputs = session.get_inputs()
        return ([i.name for i in inputs], [o.name for o in session.get_outputs()],
                list(inputs[0].shape))

    def _infer(self, session: Any, output: str, feed: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = session.run([output], feed)
        return out


_thread_limit: int | None = None  # set by limit_threads (a Ray worker's share of a machine)


def limit_threads(count: int) -> None:
    """Run this process's networks on ``count`` threads: onnxruntime sessions made from
    now on, and torch. A Ray worker granted ``count`` CPUs calls it before loading its
    model: onnxruntime would otherwise take every core of the machine, as would torch
    where ``OMP_NUM_THREADS`` is not set."""
    global _thread_limit
    _thread_limit = count
    os.environ["OMP_NUM_THREADS"] = str(count)  # read by torch when it starts
    if "torch" in sys.modules:  # already started: tell it directly
        sys.modules["torch"].set_num_threads(count)


def network_threads(engine: Engine) -> int:
    """The threads ``engine`` runs its network on (intra-op threads)."""
    if isinstance(engine, OnnxEngine):
        return engine.threads
    import torch  # a torch engine: torch is loaded already

    return torch.get_num_threads()


def cpu_threads() -> int:
    """The cores this process may use (affinity aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def optimized_copy(path: Path, ort_version: str) -> Path | None:
    """Where this machine keeps ``path`` as onnxruntime optimized it, or None (no cache).

    Optimizing the graph (fusions, the blocked NCHWc layout) takes 0.1-0.3 s of every
    start, ~5x the time to open a model already optimized, and gives the same numbers
    bit for bit (measured). The optimized graph is tied to the onnxruntime version and to
    this CPU's instruction set, so both are part of its name, as is the source file's
    identity (path, size, mtime): a changed or foreign source never reuses a copy.
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    key = "|".join((str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns),
                    ort_version, _cpu_signature()))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "onnx" / "optimized" / f"{path.stem}-{digest}.onnx"


@functools.cache  # the CPU does not change under a running process
def _cpu_signature() -> str:
    """The CPU's model and instruction-set flags (Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            lines = [line for line in f if line.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
