"""Window scores -> segments: every expectation below is worked out by hand in comments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from stcli.errors import UsageError
from stcli.results import Segment
from stcli.segments import (
    fold_scores,
    hard_nms,
    read_label_map,
    select_classes,
    smooth_scores,
    soft_nms,
    tiou,
    windows_to_segments,
)

LABELS = ["high jump", "long jump", "triple jump", "swimming backstroke"]


# --- tIoU -----------------------------------------------------------------------------


def test_tiou_values() -> None:
    # [0,10] vs [5,15]: inter 5, union 15 -> 1/3; identical -> 1; touching -> 0;
    # contained [2,4]: inter 2, union 10 -> 0.2; disjoint -> 0.
    got = tiou(np.array([0.0, 10.0]), np.array([[5, 15], [0, 10], [10, 20], [2, 4], [20, 30]]))
    assert got == pytest.approx([1 / 3, 1.0, 0.0, 0.2, 0.0])


def test_tiou_zero_length_is_zero_not_nan() -> None:
    assert tiou(np.array([3.0, 3.0]), np.array([[3.0, 3.0], [0.0, 10.0]])).tolist() == [0.0, 0.0]


# --- Soft-NMS -------------------------------------------------------------------------

# A [0,10] .9, B [2,12] .8, C [4,14] .6.
# tIoU(A,B) = 8/12 = 2/3, tIoU(A,C) = 6/14 = 3/7, tIoU(B,C) = 8/12 = 2/3.
# Keep A; B *= exp(-(4/9)/0.5) = exp(-8/9) -> 0.8 * 0.411112 = 0.328890
#         C *= exp(-(9/49)/0.5) = exp(-18/49) -> 0.6 * 0.692569 = 0.415541
# Keep C (0.4155 > 0.3289); B *= exp(-8/9) again -> 0.8 * exp(-16/9) = 0.135211. Keep B.
CHAIN = np.array([[0.0, 10.0], [2.0, 12.0], [4.0, 14.0]])
CHAIN_SCORES = np.array([0.9, 0.8, 0.6])
C_AFTER_A = 0.6 * math.exp(-18 / 49)
B_AFTER_A_AND_C = 0.8 * math.exp(-16 / 9)


def test_soft_nms_decays_and_reorders() -> None:
    segs, scores = soft_nms(CHAIN, CHAIN_SCORES, sigma=0.5, min_score=0.001)
    assert segs.tolist() == [[0, 10], [4, 14], [2, 12]]
    assert scores == pytest.approx([0.9, C_AFTER_A, B_AFTER_A_AND_C])
    assert scores == pytest.approx([0.9, 0.415541, 0.135211], abs=1e-6)


def test_soft_nms_disjoint_segment_is_untouched() -> None:
    # B [5,15] overlaps A [0,10] by 1/3: B = 0.8 * exp(-(1/9)/0.5) = 0.8 * exp(-2/9) = 0.640590.
    # C [20,30] is disjoint from both, stays 0.7 and is taken before B.
    segs, scores = soft_nms(np.array([[0, 10], [5, 15], [20, 30]]), np.array([0.9, 0.8, 0.7]))
    assert segs.tolist() == [[0, 10], [20, 30], [5, 15]]
    assert scores == pytest.approx([0.9, 0.7, 0.8 * math.exp(-2 / 9)])
    assert scores[2] == pytest.approx(0.640590, abs=1e-6)


def test_soft_nms_min_score_drops_decayed_and_low_inputs() -> None:
    # min_score 0.2: B ends at 0.1352 < 0.2 and is dropped; C (0.4155) survives.
    segs, scores = soft_nms(CHAIN, CHAIN_SCORES, min_score=0.2)
    assert segs.tolist() == [[0, 10], [4, 14]]
    assert scores == pytest.approx([0.9, C_AFTER_A])
    # An input already below min_score never appears.
    segs, scores = soft_nms(np.array([[0, 1], [5, 6]]), np.array([0.5, 0.0005]))
    assert segs.tolist() == [[0, 1]] and scores.tolist() == [0.5]


def test_soft_nms_max_keep_and_empty() -> None:
    segs, scores = soft_nms(CHAIN, CHAIN_SCORES, max_keep=2)
    assert segs.tolist() == [[0, 10], [4, 14]]
    assert scores == pytest.approx([0.9, C_AFTER_A])
    segs, scores = soft_nms(np.zeros((0, 2)), np.zeros(0))
    assert segs.shape == (0, 2) and scores.shape == (0,)


def test_soft_nms_ties_take_input_order() -> None:
    segs, _ = soft_nms(np.array([[20, 30], [0, 10]]), np.array([0.5, 0.5]))
    assert segs.tolist() == [[20, 30], [0, 10]]


# --- hard NMS -------------------------------------------------------------------------

# A [0,3] .9, B [1,4] .8, C [2,5] .7: tIoU(A,B) = 2/4 = 0.5, tIoU(A,C) = 1/5 = 0.2,
# tIoU(B,C) = 2/4 = 0.5 (all exact in binary floating point).
STAIRS = np.array([[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]])
STAIRS_SCORES = np.array([0.9, 0.8, 0.7])


def test_hard_nms_keeps_overlap_equal_to_threshold() -> None:
    segs, scores = hard_nms(STAIRS, STAIRS_SCORES, 0.5)  # 0.5 is not > 0.5
    assert segs.tolist() == STAIRS.tolist()
    assert scores.tolist() == [0.9, 0.8, 0.7]


def test_hard_nms_suppresses_above_threshold() -> None:
    # At 0.49: A suppresses B (0.5 > 0.49) but not C (0.2); B is gone so C survives.
    segs, scores = hard_nms(STAIRS, STAIRS_SCORES, 0.49)
    assert segs.tolist() == [[0, 3], [2, 5]]
    assert scores.tolist() == [0.9, 0.7]
    # At 0.1 A also suppresses C.
    assert hard_nms(STAIRS, STAIRS_SCORES, 0.1)[0].tolist() == [[0, 3]]


def test_hard_nms_orders_by_score() -> None:
    segs, scores = hard_nms(STAIRS[::-1], STAIRS_SCORES[::-1], 0.5)
    assert segs.tolist() == STAIRS.tolist() and scores.tolist() == [0.9, 0.8, 0.7]


# --- smoothing ------------------------------------------------------------------------

CURVE = np.array([[3.0], [0.0], [6.0], [3.0], [9.0]])


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (0, [3, 0, 6, 3, 9]),
        (1, [3, 0, 6, 3, 9]),
        # 3: (3+0)/2, (3+0+6)/3, (0+6+3)/3, (6+3+9)/3, (3+9)/2 -- edges shrink, no zeros.
        (3, [1.5, 3, 3, 6, 6]),
        # 2: current and next row; the last row has no next row.
        (2, [1.5, 3, 4.5, 6, 9]),
        # 4: one before, two after: 9/3, 12/4, 18/4, 18/3, 12/2.
        (4, [3, 3, 4.5, 6, 6]),
        # Wider than the curve: every row is the mean of all five, 21/5.
        (10, [4.2] * 5),
    ],
)
def test_smooth_scores(window: int, expected: list[float]) -> None:
    got = smooth_scores(CURVE, window)
    assert got.shape == (5, 1)
    assert got[:, 0] == pytest.approx(expected)


def test_smooth_scores_columns_are_independent() -> None:
    got = smooth_scores(np.array([[3.0, 1.0], [0.0, 1.0], [6.0, 4.0]]), 3)
    assert got == pytest.approx(np.array([[1.5, 1.0], [3.0, 2.0], [3.0, 2.5]]))


def test_smooth_scores_negative_window() -> None:
    with pytest.raises(UsageError, match="--smooth"):
        smooth_scores(CURVE, -1)


# --- windows -> segments --------------------------------------------------------------


def _one_class(starts, ends, scores, **kwargs) -> list[tuple[float, float, float]]:
    segs = windows_to_segments(
        np.array(starts, dtype=float), np.array(ends, dtype=float),
        np.array(scores, dtype=float).reshape(-1, 1), ["x"], [0], **kwargs,
    )
    return [(s.start_s, s.end_s, s.score) for s in segs]


def test_smoothing_groups_window_lengths_separately() -> None:
    # 2 s windows at 0, 2, 4 score .3, 0, .6; 4 s windows at 0, 4 score .8, .2; given
    # interleaved and out of time order. Smoothed over 3 within each length:
    # 2 s: (.3+0)/2=.15, (.3+0+.6)/3=.3, (0+.6)/2=.3;  4 s: (.8+.2)/2=.5 for both.
    got = _one_class(
        [4, 0, 0, 4, 2], [6, 4, 2, 8, 4], [0.6, 0.8, 0.3, 0.2, 0.0],
        smooth=3, nms="none", min_score=0.0,
    )
    assert [g[:2] for g in got] == [(0, 4), (4, 8), (2, 4), (4, 6), (0, 2)]
    assert [g[2] for g in got] == pytest.approx([0.5, 0.5, 0.3, 0.3, 0.15])


def test_smoothing_scale_ids_keep_a_clipped_window_in_its_group() -> None:
    # The last window is clipped at the end of the video (1.5 s instead of 2 s).
    starts, ends, scores = [0, 2, 4], [2, 4, 5.5], [0.3, 0.0, 0.6]
    # By length it is alone in its group, so it keeps 0.6; the others are (.3+0)/2 twice.
    by_length = _one_class(starts, ends, scores, smooth=3, nms="none", min_score=0.0)
    assert [g[:2] for g in by_length] == [(4, 5.5), (0, 2), (2, 4)]
    assert [g[2] for g in by_length] == pytest.approx([0.6, 0.15, 0.15])
    # With scale ids all three are one curve: .15, .3, .3.
    by_id = _one_class(
        starts, ends, scores, smooth=3, nms="none", min_score=0.0, scale_ids=np.zeros(3)
    )
    assert [g[:2] for g in by_id] == [(2, 4), (4, 5.5), (0, 2)]
    assert [g[2] for g in by_id] == pytest.approx([0.3, 0.3, 0.15])


# Windows [0,2], [2,4], [4,6]; three columns naming checkpoint classes 1, 3 and 0.
STARTS, ENDS = np.array([0.0, 2.0, 4.0]), np.array([2.0, 4.0, 6.0])
SCORES = np.array([
    [0.2, 0.5, 0.2],
    [0.05, 0.0005, 0.0],
    [0.5, 0.2, 0.0],
])
COLUMNS, IDS = ["b", "d", "a"], [1, 3, 0]
# Candidates at min_score 0.001 (0.0005 and the zeros drop out), best first; 0.5 ties go
# to the earlier start, 0.2 ties at [0,2] to the lower class id (0 before 1).
RANKED = [
    Segment("d", 3, 0.0, 2.0, 0.5),
    Segment("b", 1, 4.0, 6.0, 0.5),
    Segment("a", 0, 0.0, 2.0, 0.2),
    Segment("b", 1, 0.0, 2.0, 0.2),
    Segment("d", 3, 4.0, 6.0, 0.2),
    Segment("b", 1, 2.0, 4.0, 0.05),
]


def test_windows_to_segments_min_score_columns_and_ties() -> None:
    got = windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, nms="none")
    assert got == RANKED


def test_windows_to_segments_max_segments() -> None:
    assert windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, max_segments=4) == RANKED[:4]
    assert windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, max_segments=0) == []


def test_windows_to_segments_min_score_is_inclusive() -> None:
    got = windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, nms="none", min_score=0.2)
    assert got == RANKED[:5]
    got = windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, nms="none", min_score=0.21)
    assert got == RANKED[:2]


def test_windows_to_segments_soft_and_hard_nms_per_class() -> None:
    # The CHAIN case as three windows of one class, plus a second class on the same
    # windows that must not be suppressed by the first.
    scores = np.stack([CHAIN_SCORES, [0.0, 0.0, 0.3]], axis=1)
    soft = windows_to_segments(CHAIN[:, 0], CHAIN[:, 1], scores, ["p", "q"], [5, 6])
    assert [(s.label, s.start_s, s.end_s) for s in soft] == [
        ("p", 0, 10), ("p", 4, 14), ("q", 4, 14), ("p", 2, 12)
    ]
    assert [s.score for s in soft] == pytest.approx([0.9, C_AFTER_A, 0.3, B_AFTER_A_AND_C])
    # Hard NMS at 0.5: A suppresses B (2/3) but not C (3/7); B is gone so C stays.
    hard = windows_to_segments(
        CHAIN[:, 0], CHAIN[:, 1], scores, ["p", "q"], [5, 6], nms="hard", nms_iou=0.5
    )
    assert [(s.label, s.start_s, s.score) for s in hard] == [
        ("p", 0, 0.9), ("p", 4, 0.6), ("q", 4, 0.3)
    ]


@pytest.mark.parametrize("nms", ["soft", "hard", "none"])
def test_windows_to_segments_max_segments_equals_truncating_the_full_list(nms: str) -> None:
    # The per-class pruning that max_segments allows must not change the answer: compare
    # with the unlimited list cut afterwards. Scores rounded to 0.05 make many ties.
    rng = np.random.default_rng(7)
    starts = np.concatenate([np.arange(40) * 0.5, np.arange(20) * 1.0])
    ends = starts + np.repeat([2.0, 4.0], [40, 20])
    scores = np.round(rng.random((60, 6)) * rng.random(6) / 0.05) * 0.05
    names, ids = list("abcdef"), [9, 4, 7, 1, 3, 0]
    full = windows_to_segments(starts, ends, scores, names, ids, nms=nms, max_segments=None)
    assert len(full) > 30
    for cap in (1, 5, 12, 30):
        capped = windows_to_segments(starts, ends, scores, names, ids, nms=nms, max_segments=cap)
        assert capped == full[:cap]


def test_windows_to_segments_rejects_bad_options() -> None:
    with pytest.raises(UsageError, match="--nms"):
        windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, nms="fast")
    with pytest.raises(UsageError, match="--smooth"):
        windows_to_segments(STARTS, ENDS, SCORES, COLUMNS, IDS, smooth=-2)
    with pytest.raises(ValueError):
        windows_to_segments(STARTS, ENDS, SCORES, COLUMNS[:2], IDS[:2])


def test_windows_to_segments_no_windows() -> None:
    empty = np.zeros(0)
    assert windows_to_segments(empty, empty, np.zeros((0, 2)), ["a", "b"], [0, 1]) == []


# --- class subset ---------------------------------------------------------------------


def test_select_classes_by_name_case_and_whitespace_insensitive() -> None:
    assert select_classes(" High Jump ,LONG jump", LABELS) == [0, 1]
    # The label list's own case does not matter either.
    assert select_classes("longjump,HIGHJUMP", ["HighJump", "LongJump"]) == [1, 0]


def test_select_classes_by_id_and_mixed_in_given_order() -> None:
    assert select_classes("3,1", LABELS) == [3, 1]
    assert select_classes("swimming backstroke, 0", LABELS) == [3, 0]
    assert select_classes("0,high jump", LABELS) == [0]  # one class named twice


def test_select_classes_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UsageError, match=r"unknown class 'hihg jump'.*'high jump'") as info:
        select_classes("long jump,hihg jump", LABELS)
    assert "\n" not in str(info.value)


def test_select_classes_bad_ids_and_empty_pieces() -> None:
    with pytest.raises(UsageError, match=r"out of range \(ids run 0\.\.3\)"):
        select_classes("4", LABELS)
    with pytest.raises(UsageError, match="empty class name"):
        select_classes("0,,1", LABELS)


def test_select_classes_names_containing_commas() -> None:
    labels = ["climb (e.g., a mountain)", "close (e.g., a door, a box)", "stand"]
    assert select_classes("stand,Close (e.g., a door, a box)", labels) == [2, 1]


# --- label map ------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_label_map_names_and_ids(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "source_class,target_label\n"
        "High Jump,jumping\n"
        "\n"
        "# comments and blank lines are skipped\n"
        "3,swim\n"
        "1,jumping\n",
    )
    targets, matrix = read_label_map(path, LABELS)
    assert targets == ["jumping", "swim"]
    # triple jump (2) is not listed: its row stays zero.
    assert matrix.tolist() == [[1, 0], [1, 0], [0, 0], [0, 1]]


def test_fold_scores_sums_probabilities(tmp_path: Path) -> None:
    path = _write(tmp_path, "source_class,target_label\n0,jumping\n1,jumping\n3,swim\n")
    _, matrix = read_label_map(path, LABELS)
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.25, 0.125, 0.125]])
    # jumping = p0 + p1, swim = p3; triple jump's mass is dropped.
    assert fold_scores(probs, matrix) == pytest.approx(np.array([[0.3, 0.4], [0.75, 0.125]]))
    with pytest.raises(ValueError):
        fold_scores(probs[:, :3], matrix)


def test_read_label_map_malformed_line_names_its_number(tmp_path: Path) -> None:
    path = _write(tmp_path, "source_class,target_label\n0,jumping\n\n1,jumping,extra\n")
    with pytest.raises(UsageError, match=r"map\.csv:4: expected 'source_class,target_label'"):
        read_label_map(path, LABELS)
    path = _write(tmp_path, "source_class,target_label\n0,\n")
    with pytest.raises(UsageError, match=r"map\.csv:2:"):
        read_label_map(path, LABELS)


def test_read_label_map_unknown_source_class(tmp_path: Path) -> None:
    path = _write(tmp_path, "source_class,target_label\n0,jumping\npole vault,jumping\n")
    with pytest.raises(UsageError, match=r"map\.csv:3: unknown class 'pole vault'"):
        read_label_map(path, LABELS)
    path = _write(tmp_path, "source_class,target_label\n7,jumping\n")
    with pytest.raises(UsageError, match=r"map\.csv:2: class id 7 is out of range"):
        read_label_map(path, LABELS)


def test_read_label_map_header_duplicates_and_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"map\.csv:1: expected the header"):
        read_label_map(_write(tmp_path, "class,label\n0,jumping\n"), LABELS)
    with pytest.raises(UsageError, match=r"map\.csv:3: .*'high jump' is already mapped on line 2"):
        read_label_map(_write(tmp_path, "source_class,target_label\n0,a\nhigh jump,b\n"), LABELS)
    with pytest.raises(UsageError, match="no mappings"):
        read_label_map(_write(tmp_path, "source_class,target_label\n"), LABELS)
    with pytest.raises(UsageError, match="cannot read"):
        read_label_map(tmp_path / "missing.csv", LABELS)
