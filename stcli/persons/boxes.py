"""Person boxes at a keyframe (normalized, scored), the ``PersonSource`` protocol every
source follows, timestamps as keys, and IoU with greedy NMS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

NMS_IOU = 0.45


# Keyframes are matched to proposals by timestamp rounded to the millisecond, so that
# "0902", "902" and "902.0" (and float noise from fps arithmetic) are one key.
TIMESTAMP_DECIMALS = 3


@dataclass(frozen=True)
class PersonBoxes:
    """Persons in one frame: ``boxes`` ``(P, 4)`` float32 ``x1, y1, x2, y2`` normalized to
    [0, 1] by the frame's width and height; ``scores`` ``(P,)`` float32, NaN where a
    proposal file gives no score."""

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> PersonBoxes:
        """Nobody: arrays of shape ``(0, 4)`` and ``(0,)``."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.scores)


class PersonSource(Protocol):
    """Where person boxes come from; ``name`` is shown in reports."""

    name: str

    def timestamps(self, video_id: str) -> list[float] | None:
        """Sorted distinct timestamps a proposal file lists for a video; None for detectors."""
        ...

    def find(self, video_id: str, timestamp: float, frame: np.ndarray) -> PersonBoxes:
        """Persons at one keyframe; ``frame`` is the ``(H, W, 3)`` uint8 RGB image."""
        ...


def timestamp_key(timestamp: float) -> float:
    """The key a keyframe timestamp is matched by (rounded to the millisecond)."""
    return round(float(timestamp), TIMESTAMP_DECIMALS)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x1, y1, x2, y2`` box with each row of ``(K, 4)`` boxes (0 for no area)."""
    box = np.asarray(box, dtype=np.float64).reshape(4)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sides = np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2])
    inter = np.prod(np.clip(sides, 0, None), axis=1)
    union = np.prod(np.clip(box[2:] - box[:2], 0, None)) + np.prod(
        np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes, best score first.

    Keeps the best remaining box and drops the others whose IoU with it is above
    ``iou_threshold`` (exactly at it is kept). Ties: earliest in input order first.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while order.size:
        kept.append(int(order[0]))
        order = order[1:][box_iou(boxes[order[0]], boxes[order[1:]]) <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)
