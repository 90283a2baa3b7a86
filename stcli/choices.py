"""Every fixed set of values an option takes, defined once as an Enum.

The library parses user values with :meth:`Choice.parse` (one message form for every
choice, naming the accepted values); the CLI builds its help, metavars and shell
completion from the same classes, and the static completion scripts read them back from
the command tree. Members are ``str`` subclasses: a member goes wherever the plain value
did, compares equal to it and is written to JSON as it.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from .errors import UsageError

C = TypeVar("C", bound="Choice")


class Choice(str, Enum):
    """Base of stcli's choices. ``what`` (a class keyword) names the value in messages: a
    noun ("backend": "unknown backend 'x'") or an option ("--format": "--format 'x'")."""

    _what: str

    def __init_subclass__(cls, what: str = "value", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._what = what

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> list[str]:
        """The accepted values, in declaration order."""
        return [str(member.value) for member in cls]

    @classmethod
    def parse(cls: type[C], value: str | C) -> C:
        """The member named by ``value``; a :class:`UsageError` listing the choices if none."""
        try:
            return cls(value)
        except ValueError:
            what = cls._what if cls._what.startswith("-") else f"unknown {cls._what}"
            raise UsageError(f"{what} '{value}': choose one of {', '.join(cls.values())}"
                             ) from None


class Device(Choice, what="device"):
    """Where torch runs: ``auto`` is CUDA when torch sees a GPU, else the CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Backend(Choice, what="backend"):
    """What runs the network: ``auto`` is onnxruntime on the CPU in fp32 when installed,
    OpenVINO for bf16 on a CPU with bf16 arithmetic when installed, torch otherwise."""

    AUTO = "auto"
    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"
    OPENVINO = "openvino"


class Precision(Choice, what="precision"):
    """Arithmetic of the network: fp32 (exact); bf16 on the CPU (OpenVINO where the CPU
    has bf16 arithmetic) or CUDA; fp16 for CUDA."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class OutputFormat(Choice, what="--format"):
    """Per-video results on stdout (and, by suffix, in ``--out``)."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


class WatchFormat(Choice, what="--format"):
    """What ``stcli watch`` shows on stdout: a live table, or one JSON event per line."""

    TABLE = "table"
    JSONL = "jsonl"


class ReportFormat(Choice, what="--format"):
    """Evaluation reports: one table, document or CSV."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class SummaryFormat(Choice, what="--format"):
    """One summary record (train-head, export, bench, weights list)."""

    TABLE = "table"
    JSON = "json"


class AvaProtocol(Choice, what="--protocol"):
    """Which official AVA evaluator ``evaluate ava`` follows: ``auto`` reads it from the
    ground truth (``video_id,timestamp`` rows of keyframes without actions: 2020)."""

    AUTO = "auto"
    V2_1 = "v2.1"
    V2020 = "2020"


class NmsMode(Choice, what="--nms"):
    """How overlapping segments of one class are resolved."""

    SOFT = "soft"
    HARD = "hard"
    NONE = "none"


class ScoresFormat(Choice, what="--scores-format"):
    """Files of per-window scores."""

    CSV = "csv"
    NPZ = "npz"


class FeatureDtype(Choice, what="--dtype"):
    """Element type of saved snippet features."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"


class Quantization(Choice, what="--quantize"):
    """Quantized exports."""

    INT8 = "int8"


class Executor(Choice, what="--executor"):
    """Where the per-video work runs: this process, or the workers of a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"
