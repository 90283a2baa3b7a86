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

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import UsageError, reading
from .settings import ONNX_LAYOUTS, DetectSettings, onnx_detector

PROPOSAL_FORMAT = "expected video_id,timestamp,x1,y1,x2,y2[,score] normalized to [0, 1]"
NMS_IOU = 0.45
# HOG scores are SVM margins: detectMultiScale already drops windows at or below 0; on
# the shared sample videos hits under 0.5 were mostly background (poles, a backboard)
# while clearly visible players scored 1 to 2.
HOG_THRESHOLD = 0.5
ONNX_THRESHOLD = 0.5
ONNX_SUPPORTED = (
    "supported outputs: (1, 4+C, N) YOLOv8/v11, (1, N, 5+C) YOLOv5/v7, "
    "(1, N, 6) or (N, 6) x1,y1,x2,y2,score,class; force one with onnx:PATH#yolov8|#yolov5|#xyxy"
)
# Keyframes are matched to proposals by timestamp rounded to the millisecond, so that
# "0902", "902" and "902.0" (and float noise from fps arithmetic) are one key.
TIMESTAMP_DECIMALS = 3
# Proposal coordinates a little outside [0, 1] are rounding noise of the tool that wrote
# them and are clipped; further out they mean pixels or a wrong column order.
_COORD_SLACK = 1e-3
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


# --- proposal files ----------------------------------------------------------------------

_Box = tuple[float, float, float, float]
# One parsed proposal: video id, timestamp key, box (None: a keyframe listed with no
# boxes, possible in JSON), score (NaN: none given), and whether duplicates are merged.
_Row = tuple[str, float, _Box | None, float, bool]


def load_proposals(path: str | Path, threshold: float | None = None) -> PersonSource:
    """Read person proposals from an AVA-style CSV or a JSON file.

    CSV rows are ``video_id,timestamp,x1,y1,x2,y2[,score]`` (normalized coordinates; an
    optional header row starting with ``video_id``; blank and ``#`` lines skipped). AVA
    ground-truth files (``...,action_id,person_id``: 8 columns) are accepted too: their
    boxes repeat once per action and are kept once per keyframe, without a score, so
    that a model can be evaluated on ground-truth boxes. JSON is either a list of
    ``{"video_id", "timestamp", "box": [x1, y1, x2, y2], "score"?}`` or a mapping
    ``{video_id: {timestamp: [[x1, y1, x2, y2(, score)], ...]}}``. ``threshold`` drops
    proposals scoring below it; boxes without a score are always kept, and a keyframe
    left with no boxes is still listed by ``timestamps``.
    """
    path = Path(path)
    with reading(path):
        # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    is_json = text.lstrip()[:1] in ("[", "{")
    rows = _json_rows(path, text) if is_json else _csv_rows(path, text)
    if not rows:
        raise UsageError(f"{path}: no proposals in the file; {PROPOSAL_FORMAT}")
    return _Proposals(f"proposals:{path}", rows, threshold)


class _Proposals:
    """Boxes grouped by video and timestamp key, in file order within a keyframe."""

    def __init__(self, name: str, rows: list[_Row], threshold: float | None) -> None:
        self.name = name
        grouped: dict[str, dict[float, list[tuple[_Box, float]]]] = {}
        for video, key, box, score, merge in rows:
            found = grouped.setdefault(video, {}).setdefault(key, [])
            if box is None or (threshold is not None and score < threshold):
                continue  # NaN < threshold is False: proposals without a score stay
            if merge and any(box == other for other, _ in found):
                continue
            found.append((box, score))
        self._boxes = {
            video: {key: _as_person_boxes(found) for key, found in per_video.items()}
            for video, per_video in grouped.items()
        }

    def timestamps(self, video_id: str) -> list[float]:
        return sorted(self._boxes.get(video_id, {}))

    def find(self, video_id: str, timestamp: float, frame: np.ndarray) -> PersonBoxes:
        found = self._boxes.get(video_id, {}).get(timestamp_key(timestamp))
        if found is None:
            return PersonBoxes.empty()
        # Copies: a caller scaling boxes in place must not change the next lookup.
        return PersonBoxes(found.boxes.copy(), found.scores.copy())


def _as_person_boxes(found: list[tuple[_Box, float]]) -> PersonBoxes:
    boxes = np.asarray([box for box, _ in found], np.float32).reshape(-1, 4)
    return PersonBoxes(boxes, np.asarray([score for _, score in found], np.float32))


def _bad(where: str, what: str) -> UsageError:
    return UsageError(f"{where}: {what}; {PROPOSAL_FORMAT}")


def _number(where: str, what: str, value: object, allow_nan: bool = False) -> float:
    # bool is an int in Python, but `true` in a JSON box is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad(where, f"{what} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise _bad(where, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number) and not (allow_nan and math.isnan(number)):
        raise _bad(where, f"{what} {value!r} is not a finite number")
    return number


def _proposal(
    where: str, video: object, timestamp: object, coords: list[Any], score: object,
    merge: bool = False,
) -> _Row:
    """One validated proposal; the single place CSV and JSON entries are checked."""
    video_id, key = _keyframe(where, video, timestamp)
    names = ("x1", "y1", "x2", "y2")
    values = [_number(where, name, value) for name, value in zip(names, coords, strict=True)]
    for name, value in zip(names, values, strict=True):
        if not -_COORD_SLACK <= value <= 1 + _COORD_SLACK:
            raise _bad(where, f"{name}={value:g} is outside [0, 1]")
    x1, y1, x2, y2 = (min(max(value, 0.0), 1.0) for value in values)
    if x2 <= x1 or y2 <= y1:
        raise _bad(where, f"empty box: x2={x2:g} <= x1={x1:g} or y2={y2:g} <= y1={y1:g}")
    # An empty score cell or JSON null means "no score", like a 6-column row.
    no_score = score is None or (isinstance(score, str) and not score.strip())
    value = math.nan if no_score else _number(where, "score", score, allow_nan=True)
    return video_id, key, (x1, y1, x2, y2), value, merge


def _keyframe(where: str, video: object, timestamp: object) -> tuple[str, float]:
    if not isinstance(video, str) or not video.strip():
        raise _bad(where, f"video_id {video!r} is not a non-empty string")
    return video.strip(), timestamp_key(_number(where, "timestamp", timestamp))


def _csv_rows(path: Path, text: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text))
    rows: list[_Row] = []
    for row in reader:
        blank = not any(field.strip() for field in row) or row[0].lstrip().startswith("#")
        if blank or (not rows and row[0].strip().lower() == "video_id"):  # header
            continue
        where = f"{path}:{reader.line_num}"
        if len(row) not in (6, 7, 8):
            raise _bad(where, f"{len(row)} columns (6, 7, or 8 for AVA ground truth)")
        score = row[6] if len(row) == 7 else None
        rows.append(_proposal(where, row[0], row[1], row[2:6], score, merge=len(row) == 8))
    return rows


def _json_rows(path: Path, text: str) -> list[_Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"{path}:{exc.lineno}", f"not valid JSON ({exc.msg})") from exc
    rows: list[_Row] = []
    if isinstance(data, list):
        for i, entry in enumerate(data):
            where = f"{path}: entry {i}"
            if not isinstance(entry, dict) or not {"video_id", "timestamp", "box"} <= set(entry):
                raise _bad(where, 'expected an object with "video_id", "timestamp", "box"')
            box = _json_box(where, entry["box"], (4,))
            rows.append(_proposal(where, entry["video_id"], entry["timestamp"], box,
                                  entry.get("score")))
        return rows
    for video, per_video in data.items():
        if not isinstance(per_video, dict):
            raise _bad(f"{path}: entry {json.dumps(video)}", "expected {timestamp: [boxes]}")
        for timestamp, boxes in per_video.items():
            where = f"{path}: entry [{json.dumps(video)}][{json.dumps(timestamp)}]"
            if not isinstance(boxes, list):
                raise _bad(where, "expected a list of [x1, y1, x2, y2(, score)] boxes")
            if not boxes:
                rows.append((*_keyframe(where, video, timestamp), None, math.nan, False))
            for j, box in enumerate(boxes):
                values = _json_box(f"{where}[{j}]", box, (4, 5))
                score = values[4] if len(values) == 5 else None
                rows.append(_proposal(f"{where}[{j}]", video, timestamp, values[:4], score))
    return rows


def _json_box(where: str, box: object, lengths: tuple[int, ...]) -> list[Any]:
    if not isinstance(box, list) or len(box) not in lengths:
        raise _bad(where, f"box {box!r} is not a list of {' or '.join(map(str, lengths))} numbers")
    return box


# --- detectors ---------------------------------------------------------------------------


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
