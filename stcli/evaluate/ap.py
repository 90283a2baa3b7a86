"""Average precision as the field's evaluators compute it (shared by localization and AVA)."""

from __future__ import annotations

import numpy as np


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-point interpolated AP (VOC 2011+): area under the precision envelope. The same
    area as ActivityNet's ``interpolated_prec_rec`` and TF object detection's
    ``compute_average_precision`` (the official AVA evaluator)."""
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]  # best precision at any higher recall
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mprec[steps]))
