"""Person boxes at keyframes for ``stcli detect``: a proposals file, HOG, or an ONNX model.

``make_person_source`` builds a :class:`PersonSource` from the CLI options; its
``find(video_id, timestamp, frame)`` gives a :class:`PersonBoxes` (normalized boxes, scores).

- ``proposals:<file>``: boxes listed per video and keyframe timestamp (AVA CSV, AVA
  ground truth, or JSON; see ``load_proposals``). The frame itself is not looked at.
- ``hog``: OpenCV's HOG + linear SVM people detector (Dalal & Triggs). The SVM ships with
  OpenCV, so it works offline; it finds upright, mostly whole people, scored by SVM
  margin (default threshold 0.5), not by a probability.
- ``onnx:PATH[#LAYOUT]``: a user's ONNX detector run with onnxruntime. The RGB frame is
  letterboxed (pad 114) to the model's input size (640x640 where it is dynamic), scaled
  to [0, 1], NCHW. Person is class 0 (COCO); score threshold 0.5, NMS IoU 0.45. The
  first output, boxes in model-input pixels, is read in one of three layouts:

  ``yolov8``  ``(1, 4+C, N)``: rows cx, cy, w, h, C class scores (YOLOv8/v11; no
              objectness). Score = class-0 score.
  ``yolov5``  ``(1, N, 5+C)``: cx, cy, w, h, objectness, C class scores (YOLOv5/v7).
              Score = objectness * class-0 score.
  ``xyxy``    ``(1, N, 6)`` or ``(N, 6)``: x1, y1, x2, y2, score, class, already decoded
              (end-to-end exports with NMS inside, YOLOv10): no further NMS.

  The layout is the ``#LAYOUT`` suffix if given, else the model's custom metadata
  ``stcli_layout``, else read from the output shape: 6 columns -> ``xyxy``; otherwise
  fewer rows than columns -> ``yolov8``, more -> ``yolov5`` (anchors outnumber channels).
  A single-class YOLOv5 export also has 6 columns: force it with ``#yolov5``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import UsageError
from ..settings import ONNX_LAYOUTS, DetectSettings, onnx_detector

# The parts, re-exported: what detect, evaluation and the tests use by this name.
from .boxes import NMS_IOU as NMS_IOU
from .boxes import TIMESTAMP_DECIMALS as TIMESTAMP_DECIMALS
from .boxes import PersonBoxes as PersonBoxes
from .boxes import PersonSource as PersonSource
from .boxes import box_iou as box_iou
from .boxes import nms as nms
from .boxes import timestamp_key as timestamp_key
from .detectors import HOG_THRESHOLD as HOG_THRESHOLD
from .detectors import ONNX_THRESHOLD as ONNX_THRESHOLD
from .detectors import HogPersons as HogPersons
from .detectors import OnnxPersons as OnnxPersons
from .detectors import decode_output as decode_output
from .detectors import letterbox as letterbox
from .proposals import PROPOSAL_FORMAT as PROPOSAL_FORMAT
from .proposals import load_proposals as load_proposals


def person_source(settings: DetectSettings) -> PersonSource:
    """The person source ``stcli detect``'s settings name (read or loaded now, so that a
    bad file or model fails before any video is decoded)."""
    return make_person_source(settings.proposals, settings.person_detector,
                              settings.person_threshold)


def make_person_source(
    proposals: str | Path | None = None, detector: str = "hog", threshold: float | None = None
) -> PersonSource:
    """The person source the CLI options name.

    ``proposals`` (a file) wins and ``detector`` is then ignored; otherwise ``detector``
    is ``"hog"`` or ``"onnx:PATH"``, optionally ``"onnx:PATH#yolov8"`` (or ``#yolov5``,
    ``#xyxy``) to force the output layout. ``threshold`` replaces the source's default
    (none for proposals, 0.5 for HOG margins and ONNX scores).
    """
    if threshold is not None and not math.isfinite(threshold):
        raise UsageError(f"the person score threshold must be a finite number, got {threshold}")
    if proposals is not None:
        return load_proposals(proposals, threshold)
    spec = detector.strip()
    if spec.lower() == "hog":
        return HogPersons(threshold)
    onnx = onnx_detector(spec)
    if onnx is not None and spec[5:].strip():
        path, layout = onnx
        _, sep, tail = path.rpartition("#")
        if layout is None and sep and not Path(path).exists():
            raise UsageError(
                f"--detector {detector!r}: unknown layout #{tail}; "
                f"use one of {', '.join('#' + name for name in ONNX_LAYOUTS)}"
            )
        return OnnxPersons(path, layout, threshold)
    raise UsageError(
        f"--detector must be 'hog' or 'onnx:PATH' (optionally onnx:PATH#yolov8, #yolov5 or "
        f"#xyxy), got {detector!r}"
    )
