"""Person boxes read from a proposals file: AVA CSV ``video_id,timestamp,x1,y1,x2,y2[,score]``
(normalized; AVA ground truth too) or JSON, matched to keyframes by timestamp."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError, reading
from .boxes import PersonBoxes, PersonSource, timestamp_key

PROPOSAL_FORMAT = "expected video_id,timestamp,x1,y1,x2,y2[,score] normalized to [0, 1]"


# Proposal coordinates a little outside [0, 1] are rounding noise of the tool that wrote
# them and are clipped; further out they mean pixels or a wrong column order.
_COORD_SLACK = 1e-3


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
