"""Evaluation of stcli outputs against ground truth, as the field's official tools score.

``localization`` scores temporal action localization (THUMOS14 / ActivityNet style):
mean AP over classes at several tIoU thresholds, matched and interpolated as ActivityNet's
``ANETdetection`` does. ``ava`` scores spatio-temporal action detection (AVA v2.1 and
the 2020 protocol): frame-level mAP at IoU 0.5, as the official AVA evaluator computes it;
``ava_io`` reads its files.
``classification`` scores video classification: top-1 / top-5 and mean class accuracy,
per-class accuracy and the top-1 confusion matrix. ``ap`` holds the average precision the
first two share. Each module also renders its report as JSON-able data and as CSV;
``plots`` draws the first two as PNGs (the optional 'plot' extra).
"""

from __future__ import annotations

from .ap import interpolated_ap
from .ava import (
    AvaBox,
    AvaClassAP,
    AvaGroundTruth,
    AvaReport,
    ava_report_csv,
    ava_report_to_dict,
    evaluate_ava,
    evaluate_ava_boxes,
    load_ava_ground_truth,
    load_excluded_keyframes,
    load_label_map,
    read_ava_detections,
    read_ava_ground_truth,
)
from .classification import (
    ClassAccuracy,
    ClassificationReport,
    classification_report_csv,
    classification_report_to_dict,
    evaluate_classification,
    evaluate_classification_labels,
    match_videos,
    read_classification_ground_truth,
    read_classification_predictions,
)
from .localization import (
    GroundTruth,
    Instance,
    LocalizationReport,
    PredictedSegment,
    evaluate_localization,
    load_ground_truth,
    load_predictions,
    localization_report_csv,
    localization_report_to_dict,
    per_video_average_map,
)

__all__ = [
    "AvaBox",
    "AvaClassAP",
    "AvaGroundTruth",
    "AvaReport",
    "ClassAccuracy",
    "ClassificationReport",
    "GroundTruth",
    "Instance",
    "LocalizationReport",
    "PredictedSegment",
    "ava_report_csv",
    "ava_report_to_dict",
    "classification_report_csv",
    "classification_report_to_dict",
    "evaluate_ava",
    "evaluate_ava_boxes",
    "evaluate_classification",
    "evaluate_classification_labels",
    "evaluate_localization",
    "interpolated_ap",
    "load_ava_ground_truth",
    "load_excluded_keyframes",
    "load_ground_truth",
    "load_label_map",
    "load_predictions",
    "localization_report_csv",
    "localization_report_to_dict",
    "match_videos",
    "per_video_average_map",
    "read_ava_detections",
    "read_ava_ground_truth",
    "read_classification_ground_truth",
    "read_classification_predictions",
]
