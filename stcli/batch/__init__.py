"""Batch runs in the library: the four batch commands (classify, localize, detect,
features) declared once each (``commands``), and one runner (``run_batch``) that expands
the inputs, takes one shard of them, resumes by fingerprint, runs the videos here or on
Ray, writes per-video reports and the ``--out`` file (with its recovery), and returns the
summary. The CLI makes the same call; ``merge`` joins a sharded run's parts back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .commands import (
    CLASSIFY,
    COMMANDS,
    DETECT,
    FEATURES,
    LOCALIZE,
    BatchCommand,
    DetectOutputs,
    FeatureOutputs,
    LocalizeOutputs,
    layout_of,
)
from .plan import Batch, BatchOptions, check_outputs, plan_batch, writable_folder
from .runner import BatchSummary, RecordSink, Run, run_batch
from .writes import write_failed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .shards import Merged

__all__ = [
    "CLASSIFY", "COMMANDS", "DETECT", "FEATURES", "LOCALIZE", "Batch", "BatchCommand",
    "BatchOptions", "BatchSummary", "DetectOutputs", "FeatureOutputs", "LocalizeOutputs",
    "RecordSink", "Run", "check_outputs", "layout_of", "merge", "plan_batch", "run_batch",
    "writable_folder", "write_failed",
]


def merge(parts: Sequence[Path]) -> Merged:
    """The parts of a sharded run (part files, sidecars or a features folder) checked and
    put back together in input order, with the layout their command wrote with."""
    from .shards import merge_parts

    return merge_parts(parts, layout_of)
