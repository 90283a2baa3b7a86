"""From per-window class scores to temporal action segments (``stcli localize``).

Pure numpy and no I/O besides reading a label-map file, so that every step can be tested
on hand-made arrays and re-run on saved window scores without the model. Order of use:
``select_classes`` or ``read_label_map`` + ``fold_scores`` choose the columns, then
``windows_to_segments`` smooths, thresholds, runs per-class NMS and keeps the best.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from .errors import UsageError
from .results import Segment

_ID = re.compile(r"[+-]?\d+")
LABEL_MAP_HEADER = ("source_class", "target_label")


class _ClassIndex:
    """Resolves a user's class token (a name, any case, or a 0-based id) to a column."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.by_name: dict[str, int] = {}
        for i, name in enumerate(self.labels):
            # First occurrence wins, so a duplicated name resolves deterministically.
            self.by_name.setdefault(name.strip().lower(), i)
        self.has_commas = any("," in name for name in self.labels)

    def find(self, token: str) -> int | None:
        return self.by_name.get(token.strip().lower())

    def resolve(self, token: str, where: str) -> int:
        """The column for ``token``; ``where`` prefixes the one-line error message."""
        token = token.strip()
        if not token:
            raise UsageError(f"{where}: empty class name")
        # A name wins over an id so that a label that happens to be a number stays usable.
        found = self.find(token)
        if found is not None:
            return found
        if _ID.fullmatch(token):
            class_id = int(token)
            if 0 <= class_id < len(self.labels):
                return class_id
            raise UsageError(
                f"{where}: class id {class_id} is out of range (ids run 0..{len(self.labels) - 1})"
            )
        close = difflib.get_close_matches(token.lower(), list(self.by_name), n=3, cutoff=0.6)
        names = ", ".join(repr(self.labels[self.by_name[c]]) for c in close)
        examples = ", ".join(repr(name) for name in self.labels[:3] if name)
        hint = (f"did you mean {names}?" if close else
                f"give class names such as {examples}, or ids 0..{len(self.labels) - 1}")
        raise UsageError(f"{where}: unknown class {token!r}; {hint}")


def select_classes(spec: str, labels: list[str]) -> list[int]:
    """Columns named by ``--classes``: comma-separated names (any case) and/or 0-based ids.

    Returned in the order given, without duplicates. Some label lists (AVA) have commas
    inside names, so consecutive pieces are re-joined when together they name a class.
    """
    index = _ClassIndex(labels)
    pieces = spec.split(",")
    chosen: list[int] = []
    i = 0
    while i < len(pieces):
        step, found = 1, None
        if index.has_commas:
            # Longest re-joined run first: "climb (e.g., a mountain)" is one class.
            for j in range(len(pieces), i + 1, -1):
                found = index.find(",".join(pieces[i:j]))
                if found is not None:
                    step = j - i
                    break
        if found is None:
            found = index.resolve(pieces[i], f"--classes {spec!r}")
        if found not in chosen:
            chosen.append(found)
        i += step
    return chosen


def read_label_map(path: str | Path, labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Read a ``source_class,target_label`` CSV into target labels and a folding matrix.

    ``source_class`` is a checkpoint label (any case) or its 0-based id. The matrix has
    shape ``(len(labels), len(targets))`` with a 1 where a source class folds into a
    target; targets keep their order of first appearance. Source classes not listed are
    dropped. Blank lines and lines starting with ``#`` are skipped.
    """
    index = _ClassIndex(labels)
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = _numbered_rows(handle)
    except OSError as exc:
        raise UsageError(f"label map {path}: cannot read it ({exc.strerror or exc})") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UsageError(f"label map {path}: not a UTF-8 CSV file ({exc})") from exc
    line, header = rows[0] if rows else (1, [])
    if tuple(field.strip().lower() for field in header) != LABEL_MAP_HEADER:
        raise UsageError(
            f"{path}:{line}: expected the header 'source_class,target_label', "
            f"got {','.join(header)!r}"
        )
    targets: list[str] = []
    pairs: list[tuple[int, int]] = []
    seen: dict[int, int] = {}  # source column -> line that mapped it
    for line, row in rows[1:]:
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise UsageError(
                f"{path}:{line}: expected 'source_class,target_label', got {','.join(row)!r}"
            )
        source = index.resolve(row[0], f"{path}:{line}")
        # A class folded into two targets would be counted twice and the folded scores
        # would no longer sum to at most 1, so a repeated source is an error.
        if source in seen:
            raise UsageError(
                f"{path}:{line}: source class {labels[source]!r} is already mapped "
                f"on line {seen[source]}"
            )
        seen[source] = line
        target = row[1].strip()
        if target not in targets:
            targets.append(target)
        pairs.append((source, targets.index(target)))
    if not pairs:
        raise UsageError(f"{path}: no mappings after the header source_class,target_label")
    matrix = np.zeros((len(labels), len(targets)), dtype=np.float64)
    for source, target in pairs:
        matrix[source, target] = 1.0
    return targets, matrix


def _numbered_rows(handle: TextIO) -> list[tuple[int, list[str]]]:
    """Non-blank, non-comment CSV rows with the line number each one ends on."""
    reader = csv.reader(handle)
    out = []
    for row in reader:
        if not any(field.strip() for field in row) or row[0].lstrip().startswith("#"):
            continue
        out.append((reader.line_num, row))
    return out


def fold_scores(probs: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(W, C_src)`` probabilities -> ``(W, C_target)``: each target sums its sources."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != matrix.shape[0]:
        raise ValueError(f"scores of shape {probs.shape} do not fit a {matrix.shape} label map")
    return probs @ matrix


def smooth_scores(scores: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average over ``window`` consecutive rows, per column.

    At the edges the average covers only the rows that exist (a shrinking window), so an
    action at the very start of a video is not diluted by imaginary zero scores. For an
    even ``window`` the extra row is taken after the current one. ``window`` 0 or 1
    returns the scores unchanged.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if window < 0:
        raise UsageError(f"--smooth must be 0 or more windows, got {window}")
    if window <= 1 or scores.shape[0] == 0:
        return scores.copy()
    n = scores.shape[0]
    before = min((window - 1) // 2, n - 1)
    after = min(window - 1 - (window - 1) // 2, n - 1)
    # Shifted sums rather than a cumulative sum: no cancellation error on long videos,
    # and equal neighbourhoods give equal floats, so ties stay ties.
    total = np.zeros_like(scores)
    count = np.zeros(n)
    for shift in range(-before, after + 1):
        lo, hi = max(0, -shift), min(n, n - shift)
        total[lo:hi] += scores[lo + shift : hi + shift]
        count[lo:hi] += 1
    return total / count.reshape(-1, *([1] * (scores.ndim - 1)))


def tiou(segment: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Temporal IoU of one ``[start, end]`` interval with each row of ``(K, 2)`` segments."""
    segment = np.asarray(segment, dtype=np.float64)
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(
        np.minimum(segment[1], segments[:, 1]) - np.maximum(segment[0], segments[:, 0]), 0, None
    )
    union = (segment[1] - segment[0]) + (segments[:, 1] - segments[:, 0]) - inter
    # Two zero-length intervals have no overlap to speak of: 0 rather than 0/0.
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def soft_nms(
    segments: np.ndarray, scores: np.ndarray, sigma: float = 0.5, min_score: float = 0.001,
    max_keep: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian Soft-NMS (ActionFormer/OpenTAD): returns kept ``(K', 2)`` segments, scores.

    Repeatedly keeps the highest remaining score (ties: earliest in input order), then
    multiplies every other remaining score by ``exp(-tiou**2 / sigma)`` and drops those
    below ``min_score`` (inputs below it are dropped up front). Output is in selection
    order, which is also descending score, since kept scores are never decayed again.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    segs, live = _as_candidates(segments, scores)
    keep = live >= min_score
    segs, live = segs[keep], live[keep]
    kept: list[int] = []
    kept_scores: list[float] = []
    order = np.arange(len(live))  # positions in segs; rows are removed as they go
    while order.size and (max_keep is None or len(kept) < max_keep):
        best = int(np.argmax(live))
        top = order[best]
        kept.append(int(top))
        kept_scores.append(float(live[best]))
        rest = np.arange(order.size) != best
        order, live = order[rest], live[rest]
        live = live * np.exp(-(tiou(segs[top], segs[order]) ** 2) / sigma)
        alive = live >= min_score
        order, live = order[alive], live[alive]
    return segs[kept].reshape(-1, 2), np.asarray(kept_scores, dtype=np.float64)


def hard_nms(
    segments: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMS: keep the best, suppress the others whose tIoU with it is > threshold.

    A tIoU exactly at the threshold is kept. Ties: earliest in input order first.
    """
    segs, values = _as_candidates(segments, scores)
    order = np.argsort(-values, kind="stable")
    kept: list[int] = []
    while order.size and (max_keep is None or len(kept) < max_keep):
        top = int(order[0])
        kept.append(top)
        order = order[1:]
        order = order[tiou(segs[top], segs[order]) <= iou_threshold]
    return segs[kept].reshape(-1, 2), values[kept]


def _as_candidates(segments: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(segs) != len(values):
        raise ValueError(f"{len(segs)} segments but {len(values)} scores")
    return segs, values


def windows_to_segments(
    starts_s: np.ndarray, ends_s: np.ndarray, scores: np.ndarray,
    labels: list[str], class_ids: list[int], *,
    min_score: float = 0.001, smooth: int = 1, nms: str = "soft", nms_iou: float = 0.4,
    sigma: float = 0.5, max_segments: int | None = 200, scale_ids: np.ndarray | None = None,
) -> list[Segment]:
    """Segments of one video from its window scores, best first.

    ``scores[w, k]`` is window ``w``'s score for column ``k``, named ``labels[k]`` with
    checkpoint id ``class_ids[k]``. Smoothing runs before the ``min_score`` threshold, on
    each window length separately (``scale_ids`` if given, else the length rounded to the
    millisecond), in start order: windows of different lengths are not neighbours in time.
    Ties in the final order: earlier start, then lower class id, then earlier end.
    """
    starts = np.asarray(starts_s, dtype=np.float64).reshape(-1)
    ends = np.asarray(ends_s, dtype=np.float64).reshape(-1)
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 2 or not (len(starts) == len(ends) == values.shape[0]) or not (
        len(labels) == len(class_ids) == values.shape[1]
    ):
        raise ValueError(
            f"{len(starts)} starts, {len(ends)} ends, {len(labels)} labels, "
            f"{len(class_ids)} ids do not fit scores of shape {values.shape}"
        )
    if nms not in ("soft", "hard", "none"):
        raise UsageError(f"--nms must be soft, hard or none, got {nms!r}")
    if max_segments is not None and max_segments < 0:
        raise UsageError(f"--max-segments must be 0 or more, got {max_segments}")
    if sigma <= 0:
        raise UsageError(f"Soft-NMS sigma must be positive, got {sigma}")
    if smooth < 0:
        raise UsageError(f"--smooth must be 0 or more windows, got {smooth}")

    if smooth > 1:
        groups = np.round(ends - starts, 3) if scale_ids is None else np.asarray(scale_ids)
        smoothed = np.empty_like(values)
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            rows = rows[np.argsort(starts[rows], kind="stable")]
            smoothed[rows] = smooth_scores(values[rows], smooth)
        values = smoothed

    # Candidates in (start, end) order so that NMS ties go to the earlier window.
    by_time = np.lexsort((ends, starts))
    segs_all, scores_all, columns = [np.zeros((0, 2))], [np.zeros(0)], [np.zeros(0, int)]
    # Speed-up that changes nothing: once max_segments segments are kept, a score below
    # the worst of the best max_segments so far cannot reach the final list, and under
    # both NMS kinds a dropped low candidate never affects a higher one (it is only
    # selected after them). Strong classes first raise that floor early.
    floor, best = min_score, np.zeros(0)
    for k in np.argsort(-values.max(axis=0, initial=-np.inf), kind="stable"):
        rows = by_time[values[by_time, k] >= floor]
        segs = np.stack([starts[rows], ends[rows]], axis=1)
        col = values[rows, k]
        if nms == "soft":
            segs, col = soft_nms(segs, col, sigma=sigma, min_score=floor, max_keep=max_segments)
        elif nms == "hard":
            segs, col = hard_nms(segs, col, nms_iou, max_keep=max_segments)
        segs_all.append(segs)
        scores_all.append(col)
        columns.append(np.full(len(col), k))
        if max_segments is not None and max_segments > 0:
            best = np.concatenate([best, col])
            if len(best) >= max_segments:
                best = np.partition(best, -max_segments)[-max_segments:]
                floor = max(floor, float(best.min()))
    segs, col = np.concatenate(segs_all), np.concatenate(scores_all)
    column = np.concatenate(columns)
    ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)[column]
    # np.lexsort: the last key is the primary one.
    order = np.lexsort((segs[:, 1], ids, segs[:, 0], -col))[:max_segments]
    return [
        Segment(labels[column[i]], int(ids[i]), float(segs[i, 0]), float(segs[i, 1]), float(col[i]))
        for i in order
    ]
