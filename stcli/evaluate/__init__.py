"""Evaluation of stcli outputs against ground truth.

``thumos`` scores temporal action localization (THUMOS14 / ActivityNet style): mean AP
over classes at several tIoU thresholds, matched and interpolated as ActivityNet's
``ANETdetection`` does. ``ava`` scores spatio-temporal action detection (AVA v2.1):
frame-level mAP at IoU 0.5, as the official AVA evaluator computes it.
"""

from __future__ import annotations

from .ava import (
    AvaBox,
    AvaClassAP,
    AvaReport,
    ava_report_to_dict,
    evaluate_ava,
    evaluate_ava_boxes,
    load_excluded_keyframes,
    load_label_map,
    read_ava_detections,
    read_ava_ground_truth,
)
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
    "AvaBox",
    "AvaClassAP",
    "AvaReport",
    "Detection",
    "GroundTruth",
    "Instance",
    "LocalizationReport",
    "ava_report_to_dict",
    "evaluate_ava",
    "evaluate_ava_boxes",
    "evaluate_localization",
    "load_excluded_keyframes",
    "load_ground_truth",
    "load_label_map",
    "load_predictions",
    "read_ava_detections",
    "read_ava_ground_truth",
    "report_to_dict",
]
