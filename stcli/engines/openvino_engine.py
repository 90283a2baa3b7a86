"""OpenVINO on the CPU: the exported ONNX model in bf16 (or fp32), the fastest CPU path
where the processor computes bf16 natively (AVX512_BF16 or AMX).

Measured side by side on a 2-core AMD EPYC (AVX512_BF16), batch 8, the k400 network:
onnxruntime fp32 1.00, OpenVINO bf16 0.46, eager torch bf16 0.67, eager torch fp32 1.45 of
onnxruntime's time per clip (``stcli bench``, best of 3). bf16 keeps 8 bits of mantissa, so its
probabilities are close to fp32's, not equal: ``stcli bench`` reports how close (largest
probability difference, top-1 agreement), and nothing calls it exact. Loaded only when a
run uses it (the optional ``openvino`` extra); imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..choices import Precision
from ..errors import UsageError
from ..weights import cache_dir
from .backends import ExportedEngine
from .onnx_meta import decode_metadata

# OpenVINO's names for the arithmetic stcli asks for.
_HINTS = {Precision.FP32: "f32", Precision.BF16: "bf16"}


@dataclass
class _Compiled:
    """One model file compiled for the CPU, with the request that runs it."""

    compiled: Any
    request: Any
    metadata: dict[str, Any]


class OpenVinoEngine(ExportedEngine):
    """An exported model run by OpenVINO on the CPU in ``precision`` (bf16 or fp32)."""

    name = "openvino"

    def __init__(self, path: str | Path, precision: Precision = Precision.BF16,
                 threads: int | None = None, export_for: Any = None) -> None:
        self.hint = precision
        if self.hint not in _HINTS:
            raise UsageError(f"--backend openvino runs fp32 or bf16, not {self.hint}")
        super().__init__(path, threads, export_for)

    def _open(self, path: Path) -> _Compiled:
        import openvino as ov  # the optional 'openvino' extra

        core = ov.Core()
        try:
            # Compiled blobs are cached by OpenVINO itself (keyed by model, device and
            # options): later starts skip compiling.
            core.set_property({"CACHE_DIR": str(cache_dir() / "openvino")})
        except Exception:  # noqa: BLE001 - an unusable cache costs start-up time only
            pass
        try:
            model = core.read_model(str(path))
            compiled = core.compile_model(model, "CPU", {
                "INFERENCE_PRECISION_HINT": _HINTS[self.hint],
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": self.threads,
            })
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own types
            raise UsageError(f"{path}: OpenVINO cannot load it "
                             f"({str(exc).splitlines()[0][:200]}); export it again with "
                             "'stcli export'") from exc
        # The ONNX file's metadata_props, as OpenVINO keeps them.
        framework = (model.get_rt_info()["framework"] if model.has_rt_info(["framework"])
                     else {})
        raw = {k: v.astype(str) if hasattr(v, "astype") else str(v)
               for k, v in dict(framework).items()}
        return _Compiled(compiled, compiled.create_infer_request(), decode_metadata(raw))

    def _metadata(self, session: _Compiled) -> dict[str, Any]:
        return session.metadata

    def _signature(self, session: _Compiled) -> tuple[list[str], list[str], list[Any]]:
        inputs = session.compiled.inputs
        shape = [d.get_length() if d.is_static else "N"
                 for d in inputs[0].get_partial_shape()]
        return ([i.get_any_name() for i in inputs],
                [o.get_any_name() for o in session.compiled.outputs], shape)

    def _precision(self, exported: str) -> str:
        if exported != "fp32":
            return exported  # an int8 export runs as it was quantized
        # What the CPU really runs: a bf16 hint on a CPU without bf16 arithmetic is f32.
        actual = str(self.session.compiled.get_property("INFERENCE_PRECISION_HINT"))
        return str(Precision.BF16) if "bfloat16" in actual else str(Precision.FP32)

    def _infer(self, session: _Compiled, output: str,
               feed: dict[str, np.ndarray]) -> np.ndarray:
        result = session.request.infer(feed)
        # The request reuses its output buffer on the next call: hand out a copy.
        return np.array(result[session.compiled.output(output)], dtype=np.float32)
