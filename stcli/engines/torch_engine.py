"""The eager PyTorch engine (CPU or CUDA, fp32/fp16/bf16): the one module of the
inference path that imports torch, loaded only when a run uses the torch backend."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..choices import Precision
from ..errors import UsageError
from .backends import Array, Engine

DTYPES = {Precision.FP32: torch.float32, Precision.FP16: torch.float16,
          Precision.BF16: torch.bfloat16}


class TorchEngine(Engine):
    """Eager PyTorch. On the CPU the model runs channels-last (~5% faster here, same
    numbers to 2e-6); ``torch.compile`` and TorchScript freezing were measured and left out
    (see ``stcli bench --torch-variants``).

    The engine takes ownership of ``model``: it is converted in place (device, dtype,
    memory format), so give each engine its own copy.
    """

    name = "torch"

    def __init__(self, model: nn.Module, device: str | torch.device,
                 precision: Precision = Precision.FP32,
                 channels_last: bool | None = None) -> None:
        self.device = device = torch.device(device)
        self.precision = precision
        self.dtype = DTYPES[self.precision]
        if channels_last is None:
            channels_last = device.type == "cpu"
        if device.type == "cuda" and self.precision == Precision.FP32:
            # cuDNN convolutions default to TF32 on Ampere and newer: 10-bit mantissas,
            # not the fp32 that was asked for. (A process-wide switch; fp32 means fp32.)
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        model = model.to(device=device, dtype=self.dtype).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model

    def _tensor(self, x: Array) -> torch.Tensor:
        # as_tensor shares a numpy array's memory: no copy on the CPU in fp32.
        return torch.as_tensor(x).to(self.device, self.dtype, non_blocking=True)

    @staticmethod
    def _array(x: torch.Tensor) -> np.ndarray:
        return x.float().cpu().numpy()

    @torch.inference_mode()
    def logits(self, clips: Array, rois: Array | None = None) -> np.ndarray:
        if rois is None:
            return self._array(self.model(self._tensor(clips)))
        return self._array(self.model(self._tensor(clips), self._tensor(rois)))

    @torch.inference_mode()
    def features(self, clips: Array) -> np.ndarray:
        return self._array(self.model.features(self._tensor(clips)))

    def set_classifier(self, weight: np.ndarray, bias: np.ndarray) -> None:
        if not hasattr(self.model, "cls_head"):
            raise UsageError("this model has no classifier to replace")
        # skip_init: a plain constructor would draw random weights from torch's global
        # generator, changing the random state of the user's program for nothing.
        layer = torch.nn.utils.skip_init(nn.Linear, weight.shape[1], weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(weight))
            layer.bias.copy_(torch.tensor(bias))
        self.model.cls_head.fc_cls = layer.to(self.device, self.dtype)

    def describe(self) -> str:
        where = "" if self.device.type == "cpu" else f" {self.device.type}"
        return f"torch{where} {self.precision}"


