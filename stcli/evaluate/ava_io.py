"""Reading the AVA evaluation files: ground truth (v2.1 and 2020), detections, excluded
timestamps and label maps. Every error names the file and the line at fault.

Ground truth ``video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]``; the 2020 format
adds ``video_id,timestamp`` rows for keyframes annotated without actions. Detections
``video_id,timestamp,x1,y1,x2,y2,action_id,score``. Coordinates normalized to [0, 1].
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import NamedTuple, NoReturn

from ..errors import UsageError, reading
from ..presets import preset_root

DEFAULT_LABELS = "labels/ava_v2.1_eval60.txt"  # relative to stcli.presets.preset_root()
GT_FORM = "video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]"
DETECTION_FORM = "video_id,timestamp,x1,y1,x2,y2,action_id,score"
EXCLUDED_FORM = "video_id,timestamp"
GT_FORM_2020 = f"{GT_FORM} or video_id,timestamp"
# Normalized coordinates may overshoot the frame slightly (rounding, unclipped boxes);
# beyond this they are pixels or another box format.
_COORD_SLACK = 0.01
_CORNERS = ("x1", "y1", "x2", "y2")

KeyframeKey = tuple[str, float]


class AvaBox(NamedTuple):
    """One ground-truth box or detection on a keyframe; coordinates normalized to [0, 1].

    Ground truth has as score its person id when the file has one, else 1.0: the reference
    reads the eighth column as a score, and orders a keyframe's boxes by it (which decides
    IoU ties). A named tuple, not a dataclass: files hold millions of rows and a tuple is
    several times faster to make.
    """

    video: str
    timestamp: float
    x1: float
    y1: float
    x2: float
    y2: float
    action: int
    score: float = 1.0

    @property
    def keyframe(self) -> KeyframeKey:
        """``(video_id, timestamp)``: what ground truth and detections are matched on."""
        return (self.video, self.timestamp)


def _rows(path: str | Path, widths: tuple[int, ...],
          form: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank CSV row, an optional header skipped.

    A missing file is reported at once, a bad row when reading reaches it.
    """
    source = Path(path)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    return _iter_rows(source, widths, form)


def _iter_rows(source: Path, widths: tuple[int, ...],
               form: str) -> Iterator[tuple[int, list[str]]]:
    first = True
    with reading(source), source.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            header, first = first and row[0].strip() == "video_id", False
            if header:
                continue
            if len(row) not in widths:
                *most, last = map(str, widths)
                counts = f"{', '.join(most)} or {last}" if most else last
                raise UsageError(f"{source}:{reader.line_num}: expected {counts} columns "
                                 f"({form}), got {len(row)}")
            yield reader.line_num, row


def _float(text: str, column: str, where: str, form: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # "nan" and "inf" parse, but are no coordinate or time
        raise UsageError(f"{where}: {column} {text.strip()!r} is not a number; rows are {form}")
    return value


def _box(fields: list[str], path: str | Path, line: int, form: str, scored: bool) -> AvaBox:
    """One CSV row as a box. Every check is one expression on the good path (files hold
    millions of rows); ``_explain`` finds the words for a bad row. A detection's box may be
    inverted (the evaluation drops it, as the reference does); a ground-truth box may not."""
    try:
        timestamp, x1, y1, x2, y2 = map(float, fields[1:6])
        action, last = int(fields[6]), float(fields[7]) if len(fields) > 7 else 1.0
    except ValueError:
        _explain(fields, f"{path}:{line}", form, scored)
    low, high = -_COORD_SLACK, 1 + _COORD_SLACK
    video = fields[0].strip()
    if not (video and math.isfinite(timestamp) and math.isfinite(last)
            and low <= x1 <= high and low <= x2 <= high and low <= y1 <= high
            and low <= y2 <= high and (scored or (x1 <= x2 and y1 <= y2))):
        _explain(fields, f"{path}:{line}", form, scored)
    return AvaBox(video, timestamp, x1, y1, x2, y2, action, last)


def _explain(fields: list[str], where: str, form: str, scored: bool) -> NoReturn:
    """Raise the ``UsageError`` that says what is wrong with a row ``_box`` refused."""
    if not fields[0].strip():
        raise UsageError(f"{where}: empty video_id; rows are {form}")
    _float(fields[1], "timestamp", where, form)
    corners = [_float(fields[i], name, where, form) for i, name in enumerate(_CORNERS, 2)]
    for name, value in zip(_CORNERS, corners, strict=True):
        if not -_COORD_SLACK <= value <= 1 + _COORD_SLACK:
            raise UsageError(f"{where}: {name} {value:g} is outside [0, 1]; coordinates are "
                             "normalized by the frame width and height")
    x1, y1, x2, y2 = corners
    if not scored and (x2 < x1 or y2 < y1):
        raise UsageError(f"{where}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has x2 < x1 or "
                         "y2 < y1; corners are x1,y1,x2,y2 (not x,y,w,h)")
    try:
        int(fields[6])
    except ValueError:
        raise UsageError(f"{where}: action_id {fields[6].strip()!r} is not an integer; "
                         f"rows are {form}") from None
    if len(fields) > 7:
        _float(fields[7], "score" if scored else "person_id", where, form)
    raise UsageError(f"{where}: malformed row; rows are {form}")  # not reached


def _keyframe(fields: list[str], where: str, form: str) -> KeyframeKey:
    """A ``video_id,timestamp`` row as a keyframe."""
    if not fields[0].strip():
        raise UsageError(f"{where}: empty video_id; rows are {form}")
    return (fields[0].strip(), _float(fields[1], "timestamp", where, form))


def _gt_rows(path: str | Path) -> Iterator[AvaBox | KeyframeKey]:
    """The ground-truth rows in file order: a box, or the keyframe of a 2020 row
    ``video_id,timestamp`` (annotated, without actions)."""
    for line, fields in _rows(path, (2, 7, 8), GT_FORM_2020):
        if len(fields) == 2:
            yield _keyframe(fields, f"{path}:{line}", GT_FORM_2020)
        else:
            yield _box(fields, path, line, GT_FORM_2020, scored=False)


def read_ava_ground_truth(path: str | Path) -> Iterator[AvaBox]:
    """Ground-truth boxes from an AVA CSV (``video_id,timestamp,x1,y1,x2,y2,action_id[,
    person_id]``; 2020 ``video_id,timestamp`` rows skipped), read lazily; raises
    ``UsageError`` naming the file and line at fault."""
    _rows(path, (2, 7, 8), GT_FORM_2020)  # a missing file is reported at once
    return (row for row in _gt_rows(path) if isinstance(row, AvaBox))


@dataclass(frozen=True)
class AvaGroundTruth:
    """A ground-truth file: its boxes, every keyframe it lists, and its protocol's mark."""

    boxes: tuple[AvaBox, ...]
    keyframes: frozenset[KeyframeKey]  # with boxes or as video_id,timestamp rows
    empty_rows: int  # video_id,timestamp rows: keyframes without actions (2020 format)


def load_ava_ground_truth(path: str | Path) -> AvaGroundTruth:
    """A ground-truth CSV in the v2.1 or the 2020 format (which adds ``video_id,timestamp``
    rows for keyframes annotated without actions); ``UsageError`` at a bad line."""
    _rows(path, (2, 7, 8), GT_FORM_2020)  # a missing file is reported at once
    boxes: list[AvaBox] = []
    keyframes: set[KeyframeKey] = set()
    empty = 0
    for row in _gt_rows(path):
        if isinstance(row, AvaBox):
            boxes.append(row)
            keyframes.add(row.keyframe)
        else:
            empty += 1
            keyframes.add(row)
    return AvaGroundTruth(tuple(boxes), frozenset(keyframes), empty)


def read_ava_detections(path: str | Path) -> Iterator[AvaBox]:
    """Detections from an AVA CSV (``video_id,timestamp,x1,y1,x2,y2,action_id,score``),
    read lazily (files can hold millions of rows); raises ``UsageError`` at a bad line."""
    return (_box(fields, path, line, DETECTION_FORM, scored=True)
            for line, fields in _rows(path, (8,), DETECTION_FORM))


def load_excluded_keyframes(path: str | Path) -> set[KeyframeKey]:
    """Keyframes listed in an excluded-timestamps CSV (``video_id,timestamp`` rows)."""
    return {(fields[0].strip(), _float(fields[1], "timestamp", f"{path}:{line}", EXCLUDED_FORM))
            for line, fields in _rows(path, (2,), EXCLUDED_FORM)}


_PBTXT_ENTRY = re.compile(r"\b(?:label|item)\s*\{([^}]*)\}")
_PBTXT_NAME = re.compile(r'\bname:\s*"([^"]*)"')
_PBTXT_ID = re.compile(r"\b(?:label_id|id):\s*(\d+)")


def load_label_map(path: str | Path | None = None) -> dict[int, str]:
    """Evaluated action id -> name, sorted by id.

    Reads a pbtxt label map (``label { name: "..." label_id: N }``, or the official
    ``item { name: "..." id: N }``) or a text list of ``id: name`` lines; ``None`` reads the
    shipped list of the 60 actions AVA v2.1 evaluates.
    """
    if path is None:
        source: Traversable = preset_root() / DEFAULT_LABELS
    else:
        source = Path(path)
        if not source.is_file():
            raise UsageError(f"{source}: no such file")
    with reading(source):
        text = source.read_text(encoding="utf-8")
    labels: dict[int, str] = {}
    if "{" in text:
        for entry in _PBTXT_ENTRY.finditer(text):
            name, ident = _PBTXT_NAME.search(entry[1]), _PBTXT_ID.search(entry[1])
            if name is None or ident is None:
                line = text.count("\n", 0, entry.start()) + 1
                raise UsageError(f'{source}:{line}: entry needs name: "..." and label_id: N')
            labels[int(ident[1])] = name[1]
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ident, colon, name = line.strip().partition(":")
            if not colon or not ident.strip().isdigit() or not name.strip():
                raise UsageError(f"{source}:{number}: expected 'id: name', got {line.strip()!r}")
            labels[int(ident)] = name.strip()
    if not labels:
        raise UsageError(f'{source}: no labels; expected a pbtxt label map (label {{ name: "..." '
                         "label_id: N }) or lines 'id: name'")
    return dict(sorted(labels.items()))
