"""Evaluation of stcli outputs against ground truth.

``thumos`` scores temporal action localization (THUMOS14 / ActivityNet style): mean AP
over classes at several tIoU thresholds, matched and interpolated as ActivityNet's
``ANETdetection`` does.
"""

from __future__ import annotations

from .thumos import (
    Detection,
    GroundTruth,
    Instance,
    LocalizationReport,
    evaluate_localization,
    load_ground_truth,
    load_predictions,
    report_to_dict,
)

__all__ = [
    "Detection",
    "GroundTruth",
    "Instance",
    "LocalizationReport",
    "evaluate_localization",
    "load_ground_truth",
    "load_predictions",
    "report_to_dict",
]
