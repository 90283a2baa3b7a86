"""Person detectors that look at the frame: OpenCV's HOG people detector (built in,
offline) and a user's ONNX model (YOLOv8/v11, YOLOv5/v7 or decoded layouts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..settings import ONNX_LAYOUTS
from .boxes import PersonBoxes, nms

# HOG scores are SVM margins: detectMultiScale already drops windows at or below 0; on
# the shared sample videos hits under 0.5 were mostly background (poles, a backboard)
# while clearly visible players scored 1 to 2.
HOG_THRESHOLD = 0.5


ONNX_THRESHOLD = 0.5


ONNX_SUPPORTED = (
    "supported outputs: (1, 4+C, N) YOLOv8/v11, (1, N, 5+C) YOLOv5/v7, "
    "(1, N, 6) or (N, 6) x1,y1,x2,y2,score,class; force one with onnx:PATH#yolov8|#yolov5|#xyxy"
)


# HOG working size: shorter side at least 384 px, longer side at most 640 px. The window
# is 64x128 with the person ~96 px tall inside, so 384 px finds people down to a third
# of the frame height (the usual AVA shot); the 640 px cap bounds the time per frame.
HOG_MIN_SIDE = 384


HOG_MAX_SIDE = 640


# HOG search, positional because OpenCV 4.x renamed the last one (finalThreshold ->
# groupThreshold): hit threshold 0, 8 px stride (4 px finds a few more people at ~3x the
# time), 16 px padding for people cut by the frame border, 1.05 pyramid step, and
# OpenCV's grouping of >= 3 overlapping hits, which drops isolated false hits.
_HOG_SEARCH = (0.0, (8, 8), (16, 16), 1.05, 2.0)


# The HOG window has a margin around the person (INRIA training crops); shrink it as
# OpenCV's peopledetect sample does, so boxes hug the person like AVA's boxes do.
_HOG_SHRINK = (0.1, 0.07, 0.9, 0.87)  # x1, y1, x2, y2 as fractions of the window


def _cv2() -> Any:
    # Imported on first use: OpenCV takes a noticeable time to load, and only detection
    # with a detector needs it.
    import cv2

    return cv2


def _select(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, frame: np.ndarray, suppress: bool
) -> PersonBoxes:
    """Pixel boxes on ``frame`` -> thresholded, NMS'd (if ``suppress``), normalized, best first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    keep = scores >= threshold
    boxes, scores = boxes[keep], scores[keep]
    order = nms(boxes, scores) if suppress else np.argsort(-scores, kind="stable")
    height, width = frame.shape[:2]
    boxes = np.clip(boxes[order] / [width, height, width, height], 0.0, 1.0)
    # A box entirely outside the frame clips to zero width or height: nobody to look at.
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return PersonBoxes(boxes[keep].astype(np.float32), scores[order][keep].astype(np.float32))


class _PersonDetector:
    """A person detector: it looks at every keyframe image and lists no timestamps of its own."""

    name: str

    def timestamps(self, video_id: str) -> list[float] | None:
        return None

    def find(self, video_id: str, timestamp: float, frame: np.ndarray) -> PersonBoxes:
        return self.detect(frame)

    def detect(self, frame: np.ndarray) -> PersonBoxes:
        """Persons in one ``(H, W, 3)`` uint8 RGB frame, best first."""
        raise NotImplementedError


class HogPersons(_PersonDetector):
    """OpenCV's HOG people detector; see the module docstring for what it finds."""

    name = "hog"

    def __init__(self, threshold: float | None = None) -> None:
        cv2 = _cv2()
        if not hasattr(cv2, "HOGDescriptor"):
            # OpenCV 5 moved HOG out of the main build (into opencv-contrib).
            raise UsageError(
                f"--detector hog needs OpenCV's HOG people detector, which OpenCV "
                f"{cv2.__version__} lacks: pip install 'opencv-python-headless<5' (or "
                "opencv-contrib-python-headless), or use --proposals FILE or --detector onnx:PATH"
            )
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.threshold = HOG_THRESHOLD if threshold is None else float(threshold)

    def detect(self, frame: np.ndarray) -> PersonBoxes:
        cv2 = _cv2()
        height, width = frame.shape[:2]
        scale = min(HOG_MAX_SIDE / max(height, width), max(1.0, HOG_MIN_SIDE / min(height, width)))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = np.ascontiguousarray(frame)
        if size != (width, height):
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, size, interpolation=interpolation)
        win_w, win_h = self._hog.winSize
        if size[0] < win_w or size[1] < win_h:
            return PersonBoxes.empty()
        # Channel order does not matter: HOG takes the strongest gradient over channels.
        rects, weights = self._hog.detectMultiScale(image, *_HOG_SEARCH)
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)  # x, y, w, h
        boxes = np.tile(rects[:, :2], 2) + np.tile(rects[:, 2:], 2) * _HOG_SHRINK
        return _select(boxes / scale, weights, self.threshold, frame, suppress=True)


def decode_output(output: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A detector output -> ``(K, 4)`` person boxes, ``(K,)`` scores, the layout read.

    ``layout`` is one of ``ONNX_LAYOUTS`` or ``"auto"`` (the rule in the module docstring).
    Boxes are ``x1, y1, x2, y2`` in the model's input pixels, before any threshold or
    NMS. Raises ``ValueError`` for a shape the layout cannot read.
    """
    rows = np.asarray(output, dtype=np.float32)
    if rows.ndim == 3 and rows.shape[0] == 1:
        rows = rows[0]
    if rows.ndim != 2:
        raise ValueError(f"output of shape {tuple(np.shape(output))} is not one image's boxes")
    n_rows, n_cols = rows.shape
    if layout == "auto":
        if n_cols == 6:
            layout = "xyxy"
        elif 5 <= n_rows < n_cols:
            layout = "yolov8"
        elif 7 <= n_cols < n_rows:
            layout = "yolov5"
        else:
            raise ValueError(f"cannot tell the layout of an output of shape {np.shape(output)}")
    if layout == "yolov8" and n_rows >= 5:
        return _xywh_to_xyxy(rows[:4].T), rows[4], layout
    if layout == "yolov5" and n_cols >= 6:
        return _xywh_to_xyxy(rows[:, :4]), rows[:, 4] * rows[:, 5], layout
    if layout == "xyxy" and n_cols == 6:
        person = np.round(rows[:, 5]) == 0
        return rows[person, :4], rows[person, 4], layout
    raise ValueError(f"an output of shape {np.shape(output)} is not in the {layout} layout")


def _xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    cx, cy, w, h = xywh.T
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def letterbox(frame: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, int, int]:
    """``(1, 3, height, width)`` float32 model input, resize ratio, left and top padding.

    The frame keeps its aspect ratio, centred and padded with 114 (the YOLO training
    convention), scaled to [0, 1].
    """
    frame_h, frame_w = frame.shape[:2]
    ratio = min(height / frame_h, width / frame_w)
    new_w, new_h = max(1, round(frame_w * ratio)), max(1, round(frame_h * ratio))
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas = np.full((height, width, 3), 114, dtype=np.uint8)
    resized = frame
    if (new_w, new_h) != (frame_w, frame_h):
        resized = _cv2().resize(np.ascontiguousarray(frame), (new_w, new_h))
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0, ratio, left, top


class OnnxPersons(_PersonDetector):
    """A user's ONNX person detector (YOLO-style outputs; see the module docstring)."""

    def __init__(self, path: str | Path, layout: str | None = None,
                 threshold: float | None = None) -> None:
        self.path = Path(path)
        self.name = f"onnx:{self.path}" + (f"#{layout}" if layout else "")
        self.threshold = ONNX_THRESHOLD if threshold is None else float(threshold)
        try:
            import onnxruntime  # the optional 'onnx' extra
        except ImportError as exc:
            hint = "--detector onnx:... needs onnxruntime: pip install 'stcli[onnx]'"
            raise UsageError(hint) from exc
        if not self.path.is_file():
            raise UsageError(f"--detector onnx:{self.path}: no such file")
        available = onnxruntime.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self._session = onnxruntime.InferenceSession(str(self.path), providers=providers)
        except Exception as exc:  # onnxruntime's errors share no base class but Exception
            raise self._error(f"not a usable ONNX model ({_first_line(exc)})") from exc
        first, output = self._session.get_inputs()[0], self._session.get_outputs()[0]
        shape = first.shape  # ints, or a name or None where dynamic
        nchw = len(shape) == 4 and (shape[1] == 3 or not isinstance(shape[1], int))
        if not nchw or first.type not in ("tensor(float)", "tensor(float16)"):
            raise self._error(f"input {first.type} {first.shape} is not float (1, 3, H, W)")
        self._input, self._output = first.name, output.name
        self._dtype = np.float16 if first.type == "tensor(float16)" else np.float32
        # Dynamic sizes (a name or None instead of a number): 640, what YOLO models use.
        self.input_hw = tuple(d if isinstance(d, int) and d > 0 else 640 for d in shape[2:])
        meta = self._session.get_modelmeta().custom_metadata_map.get("stcli_layout")
        self.layout = layout or (meta.strip().lower() if meta else "auto")
        if self.layout not in (*ONNX_LAYOUTS, "auto"):
            raise self._error(f"metadata stcli_layout={meta!r} is not one of {ONNX_LAYOUTS}")
        if all(isinstance(d, int) for d in output.shape):
            # A static output shape is checked now rather than on the first keyframe.
            self._decode(np.zeros(output.shape, np.float32))

    def _error(self, what: str) -> UsageError:
        return UsageError(f"{self.path}: {what}; {ONNX_SUPPORTED}")

    def _decode(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        try:
            return decode_output(output, self.layout)
        except ValueError as exc:
            raise self._error(str(exc)) from exc

    def detect(self, frame: np.ndarray) -> PersonBoxes:
        height, width = self.input_hw
        blob, ratio, left, top = letterbox(frame, height, width)
        try:
            output = self._session.run([self._output], {self._input: blob.astype(self._dtype)})[0]
        except Exception as exc:  # a model that cannot run on its own declared input
            raise self._error(f"inference failed ({_first_line(exc)})") from exc
        boxes, scores, layout = self._decode(output)
        boxes = (boxes.astype(np.float64) - [left, top, left, top]) / ratio
        # Decoded outputs come from a model that already removed its duplicates.
        return _select(boxes, scores, self.threshold, frame, suppress=layout != "xyxy")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
