"""AVA frame-mAP on hand-made cases whose AP is worked out in the comments.

AP is the all-point interpolated area (TF object-detection API, VOC 2011+): with precision
p_k and recall r_k after the k-th detection of an action (by descending score, across
keyframes), mprec = [0, p..., 0] and mrec = [0, r..., 1]; the envelope replaces mprec[i]
by max(mprec[i:]); AP = sum over the i where mrec changes of (mrec[i] - mrec[i-1]) *
mprec[i]. Short form used below: TP/FP in rank order, then "n GT".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stcli.cli.evaluate import evaluate_app
from stcli.errors import UsageError
from stcli.evaluate.ava import (
    AvaBox,
    AvaReport,
    ava_report_to_dict,
    evaluate_ava,
    evaluate_ava_boxes,
    load_label_map,
)

EXACT = 1e-12  # for fractions such as 5/6 that binary floating point cannot hold
LABELS = {1: "bend/bow (at the waist)", 12: "stand"}
A = (0.1, 0.1, 0.5, 0.5)  # a person box
B = (0.6, 0.2, 0.9, 0.8)  # another, not overlapping A


def G(video: str, t: float, box: tuple[float, ...], action: int) -> AvaBox:
    """A ground-truth box."""
    return AvaBox(video, t, *box, action)


def D(video: str, t: float, box: tuple[float, ...], action: int, score: float) -> AvaBox:
    """A detection."""
    return AvaBox(video, t, *box, action, score)


def ap(report: AvaReport, action: int) -> float:
    return next(c.ap for c in report.classes if c.action == action)


def run(gt: list[AvaBox], det: list[AvaBox], **kwargs) -> AvaReport:
    return evaluate_ava_boxes(gt, det, LABELS, **kwargs)


# -- matching and AP ---------------------------------------------------------------------------
def test_perfect_detections_give_one_and_classes_without_gt_are_nan():
    # The same box holds two actions of one person: matched per action, both found.
    gt = [G("v1", 902, A, 1), G("v1", 902, A, 12), G("v1", 903, B, 1)]
    det = [D(b.video, b.timestamp, (b.x1, b.y1, b.x2, b.y2), b.action, 0.9 - 0.1 * k)
           for k, b in enumerate(gt)]
    report = evaluate_ava_boxes(gt, det, load_label_map())
    assert len(report.classes) == 60
    assert ap(report, 1) == ap(report, 12) == 1.0 and report.mAP == 1.0
    assert math.isnan(ap(report, 80))  # no ground truth: NaN, out of the mean
    assert (report.gt_keyframes, report.detected_keyframes) == (2, 2)


def test_one_missed_box_of_two_gives_half():
    # TP, 2 GT: precision [1], recall [1/2]; AP = 1/2 * 1 + 1/2 * 0 = 0.5.
    gt = [G("v1", 902, A, 1), G("v1", 903, A, 1)]
    assert ap(run(gt, [D("v1", 902, A, 1, 0.9)]), 1) == 0.5


def test_false_positive_ranked_first():
    # FP TP, 1 GT: precision [0, 1/2], recall [0, 1]: AP = 1 * 1/2 = 0.5.
    gt = [G("v1", 902, A, 1)]
    assert ap(run(gt, [D("v1", 902, B, 1, 0.9), D("v1", 902, A, 1, 0.8)]), 1) == 0.5
    # TP FP FP TP, 2 GT: precision [1, 1/2, 1/3, 1/2], recall [1/2, 1/2, 1/2, 1];
    # AP = 1/2 * 1 + 1/2 * 1/2 = 0.75. The FPs lie on two keyframes, one without GT.
    gt = [G("v1", 902, A, 1), G("v1", 903, A, 1)]
    det = [D("v1", 902, A, 1, 0.9), D("v1", 902, B, 1, 0.8), D("v9", 902, A, 1, 0.7),
           D("v1", 903, A, 1, 0.6)]
    report = run(gt, det)
    assert ap(report, 1) == 0.75 and report.detections_unannotated == 1


def test_mean_over_classes_with_ground_truth_only():
    # Action 1 AP 0.5 (FP first, as above), action 12 AP 1; no other class has GT.
    gt = [G("v1", 902, A, 1), G("v1", 902, B, 12)]
    det = [D("v1", 902, B, 1, 0.9), D("v1", 902, A, 1, 0.8), D("v1", 902, B, 12, 0.7)]
    report = evaluate_ava_boxes(gt, det, load_label_map())
    assert report.mAP == 0.75
    data = ava_report_to_dict(report)
    assert data["mAP"] == 0.75 and data["counts"]["classes_with_gt"] == 2
    assert next(c for c in data["classes"] if c["action_id"] == 80)["ap"] is None
    assert json.loads(json.dumps(data)) == data  # valid JSON: no NaN


def test_iou_exactly_half_matches_and_just_below_misses():
    # GT (0, 0, .5, .5), area 1/4. Detection (0, 0, .25, .5): intersection 1/8, union
    # 1/4 + 1/8 - 1/8 = 1/4, IoU 0.5 exactly: a TP. Slightly narrower: a miss.
    gt = [G("v1", 902, (0.0, 0.0, 0.5, 0.5), 1)]
    assert ap(run(gt, [D("v1", 902, (0.0, 0.0, 0.25, 0.5), 1, 0.9)]), 1) == 1.0
    assert ap(run(gt, [D("v1", 902, (0.0, 0.0, 0.2499, 0.5), 1, 0.9)]), 1) == 0.0
    assert ap(run(gt, [D("v1", 902, (0.0, 0.0, 0.2499, 0.5), 1, 0.9)], iou=0.4), 1) == 1.0


def test_a_detection_goes_to_its_best_box_even_when_taken():
    # g1 = A, g2 slightly taller. Both detections equal A: the first takes g1; the second
    # overlaps g1 best (IoU 1 > 0.16/0.2 with g2), g1 is taken: an FP, as in the reference
    # (it does not fall back to g2). TP FP, 2 GT: AP = 1/2 * 1 = 0.5.
    gt = [G("v1", 902, A, 1), G("v1", 902, (0.1, 0.1, 0.5, 0.6), 1)]
    assert ap(run(gt, [D("v1", 902, A, 1, 0.9), D("v1", 902, A, 1, 0.8)]), 1) == 0.5


def test_invalid_detection_boxes_are_dropped_not_false_positives():
    # A zero-width box and an inverted one (x2 < x1), ranked first: the TF evaluator's
    # _remove_invalid_boxes drops both. Were they FPs: FP FP TP, 1 GT, AP 1 * 1/3;
    # dropped: TP alone, AP 1.
    gt = [G("v1", 902, A, 1)]
    det = [D("v1", 902, (0.3, 0.1, 0.3, 0.5), 1, 0.95), D("v1", 902, (0.5, 0.1, 0.1, 0.5), 1, 0.9),
           D("v1", 902, A, 1, 0.8)]
    report = run(gt, det)
    assert ap(report, 1) == 1.0 and report.detections_invalid_box == 2


def test_inverted_detection_box_in_a_file_is_dropped_and_counted(files):
    # The fixture's FP (903, 0.9) rewritten with x2 < x1: dropped, not an error. Left: the
    # TP on 902, 2 GT: precision [1], recall [1/2]: AP = 1/2 * 1 = 0.5 (0.25 with the FP).
    files["pred"].write_text("v1,903,0.9,0.2,0.6,0.8,1,0.9\nv1,902.0,0.1,0.1,0.5,0.5,1,0.8\n")
    report = evaluate_ava(files["gt"], files["pred"])
    assert ap(report, 1) == 0.5 and report.detections_invalid_box == 1
    assert ava_report_to_dict(report)["counts"]["detections_invalid_box"] == 1


# Two boxes side by side and a detection over both, in binary fractions so that both
# IoUs are computed alike: each box 0.25 x 0.5 = 1/8, the detection 1/4 covering both;
# intersection 1/8, union 1/4 + 1/8 - 1/8 = 1/4: IoU 0.5 with each, an exact tie.
LEFT, RIGHT = (0.125, 0.125, 0.375, 0.625), (0.375, 0.125, 0.625, 0.625)
OVER_BOTH = (0.125, 0.125, 0.625, 0.625)


def gt_row(box: tuple[float, ...], person: int | None = None) -> str:
    return ",".join(map(str, ["v1", "0902", *box, 1] + ([person] if person is not None
                                                         else []))) + "\n"


@pytest.mark.parametrize(("rows", "expected"), [
    # Person ids: the reader sorts a keyframe's boxes by them, descending. RIGHT (person
    # 2) comes first and takes the tie: d1 over both takes RIGHT; d2 = RIGHT overlaps RIGHT
    # best (IoU 1), taken: an FP. TP FP, 2 GT: precision [1, 1/2], recall [1/2, 1/2]:
    # AP = 1/2 * 1 = 0.5.
    ([gt_row(LEFT, 1), gt_row(RIGHT, 2)], 0.5),
    # LEFT has the higher id: d1 takes LEFT, d2 takes RIGHT: TP TP: AP 1.
    ([gt_row(RIGHT, 1), gt_row(LEFT, 2)], 1.0),
    # No person ids: heap order. The tuples (1.0, 1, y1, x1, ...) differ first in x1:
    # LEFT (0.125) is the smaller and tops the heap, in either file order: d1 takes LEFT,
    # d2 takes RIGHT: AP 1.
    ([gt_row(RIGHT), gt_row(LEFT)], 1.0),
    ([gt_row(LEFT), gt_row(RIGHT)], 1.0),
])
def test_equal_iou_goes_to_the_box_the_official_reader_lists_first(
        tmp_path: Path, rows: list[str], expected: float):
    gt = tmp_path / "gt.csv"
    gt.write_text("".join(rows))
    pred = write(tmp_path / "pred.csv", [box_row("v1", "0902", OVER_BOTH, 1, 0.9),
                                         box_row("v1", "0902", RIGHT, 1, 0.8)])
    assert ap(evaluate_ava(gt, pred), 1) == expected


def test_equal_scores_rank_as_the_official_code_ranks_them():
    # The reference ranks an action's detections by scores.argsort()[::-1] over the
    # keyframes in order of first detection. Two at 0.8: NumPy leaves [0, 1], reversed
    # [1, 0]: the one on the keyframe detected later ranks first.
    # FP (903) listed first, TP (902) second: TP FP, 1 GT: AP = 1 * 1 = 1.
    # TP listed first: FP TP: precision [0, 1/2], recall [0, 1]: AP = 1 * 1/2 = 0.5.
    gt = [G("v1", 902, A, 1)]
    fp, tp = D("v1", 903, A, 1, 0.8), D("v1", 902, A, 1, 0.8)
    assert ap(run(gt, [fp, tp]), 1) == 1.0
    assert ap(run(gt, [tp, fp]), 1) == 0.5


def test_top_50_per_keyframe_across_actions():
    # 50 detections of action 12 (no GT) outrank the only TP of action 1 on its keyframe:
    # the TP is the 51st and is dropped, so action 1 has no detection: AP 0. Detections of
    # an action not evaluated (2) or on another keyframe take no place in the cap.
    gt = [G("v1", 902, A, 1)]
    det = [D("v1", 902, B, 12, 0.9) for _ in range(50)]
    det += [D("v1", 902, B, 2, 0.99)] * 5 + [D("v1", 903, B, 12, 0.99)]
    tp = D("v1", 902, A, 1, 0.1)
    report = run(gt, [*det, tp])
    assert ap(report, 1) == 0.0 and math.isnan(ap(report, 12))
    assert (report.detections_over_top_k, report.detections_other_actions) == (1, 5)
    assert ap(run(gt, [tp, *det]), 1) == 0.0  # file order does not matter
    assert ap(run(gt, [*det[1:], tp]), 1) == 1.0  # 50 on the keyframe: all kept
    assert ap(run(gt, [*det, tp], top_k=0), 1) == 1.0  # no cap


def test_classes_outside_the_label_map_are_dropped():
    # Action 2 (crawl) is not among the 60: its GT would otherwise be missed (AP 0).
    gt = [G("v1", 902, A, 1), G("v1", 902, A, 2)]
    report = evaluate_ava_boxes(gt, [D("v1", 902, A, 1, 0.9)], load_label_map())
    assert 2 not in {c.action for c in report.classes}
    assert report.mAP == 1.0 and report.gt_other_actions == 1


# -- files -------------------------------------------------------------------------------------
def write(path: Path, rows: Iterable[Iterable[object]], header: str = "") -> Path:
    path.write_text(header + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def box_row(video: str, t: str, box: tuple[float, ...], action: int, last: object) -> list:
    return [video, t, *box, action, last]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """GT on two keyframes written the official way (``0902``); detections written
    ``902.0`` / ``903``: an FP on 903 (0.9) above a TP on 902 (0.8), 2 GT: AP 0.5 * 0.5."""
    gt = write(tmp_path / "gt.csv", [box_row("v1", "0902", A, 1, 0), box_row("v1", "0903", A, 1, 0),
                                     box_row("v1", "0902", A, 2, 0)])  # crawl: not evaluated
    pred = write(tmp_path / "pred.csv", [box_row("v1", "903", B, 1, 0.9),
                                         box_row("v1", "902.0", A, 1, 0.8)],
                 header="video_id,timestamp,x1,y1,x2,y2,action_id,score\n")
    excluded = write(tmp_path / "excluded.csv", [["v1", "0903"], ["v7", "1000"]])
    return {"gt": gt, "pred": pred, "excluded": excluded}


def test_timestamps_match_as_numbers_and_exclusions_remove_keyframes(files):
    # FP TP, 2 GT: precision [0, 1/2], recall [0, 1/2]: AP = 1/2 * 1/2 = 0.25.
    report = evaluate_ava(files["gt"], files["pred"])
    assert ap(report, 1) == 0.25 and report.mAP == 0.25 and report.excluded_keyframes == 0
    assert report.gt_other_actions == 1
    # Excluding 903 removes its GT box and the FP: TP, 1 GT: AP 1.
    report = evaluate_ava(files["gt"], files["pred"], excluded_path=files["excluded"])
    assert ap(report, 1) == 1.0 and report.excluded_keyframes == 1
    assert (report.gt_keyframes, report.detected_keyframes) == (1, 1)


def test_2020_ground_truth_lists_keyframes_without_actions(tmp_path: Path):
    # The 2020 format: 0903 is annotated without actions (a two-column row), 0905 only
    # with crawl (2, not evaluated), no exclusion list. Detections by score: 0904 (0.95)
    # on a keyframe the ground truth does not list: ignored; 0903 (0.9) and 0905 (0.85):
    # listed without a box of action 1: FPs; 0902 (0.7): the TP. 1 GT.
    # 2020 (auto: the file has a two-column row): FP FP TP: precision [0, 0, 1/3],
    #   recall [0, 0, 1]: AP = 1 * 1/3 = 1/3.
    # v2.1 (forced): every keyframe counts, 0904 too: FP FP FP TP: AP = 1 * 1/4 = 0.25.
    gt = tmp_path / "ava_val_v2.2.csv"
    gt.write_text("v1,0902,0.1,0.1,0.5,0.5,1,3\nv1,0903\nv1,0905,0.1,0.1,0.5,0.5,2,3\n")
    pred = write(tmp_path / "pred.csv", [box_row("v1", "0904", A, 1, 0.95),
                                         box_row("v1", "0903", A, 1, 0.9),
                                         box_row("v1", "0905", A, 1, 0.85),
                                         box_row("v1", "0902", A, 1, 0.7)])
    report = evaluate_ava(gt, pred)
    assert report.protocol == "2020" and ap(report, 1) == pytest.approx(1 / 3, abs=EXACT)
    assert (report.detections_unlisted, report.detections_unannotated) == (1, 2)
    assert evaluate_ava(gt, pred, protocol="2020") == report
    report = evaluate_ava(gt, pred, protocol="v2.1")
    assert report.protocol == "v2.1" and ap(report, 1) == 0.25
    assert (report.detections_unlisted, report.detections_unannotated) == (0, 3)
    # A v2.1 file (no two-column row) read as 2020 on request: 0904 is then ignored.
    gt.write_text("v1,0902,0.1,0.1,0.5,0.5,1,3\nv1,0903,0.6,0.2,0.9,0.8,2,4\n")
    assert evaluate_ava(gt, pred).protocol == "v2.1"
    # 2020: 0903 (FP), 0902 (TP); 0905 unlisted: FP TP: AP = 1 * 1/2 = 0.5.
    assert ap(evaluate_ava(gt, pred, protocol="2020"), 1) == 0.5
    excluded = write(tmp_path / "excluded.csv", [["v1", "0903"]])
    with pytest.raises(UsageError, match="the 2020 protocol has no excluded timestamps"):
        evaluate_ava(gt, pred, excluded_path=excluded, protocol="2020")


def test_label_files(tmp_path: Path, files):
    shipped = load_label_map()
    assert len(shipped) == 60 and shipped[1] == "bend/bow (at the waist)" and 2 not in shipped
    pbtxt = tmp_path / "labels.pbtxt"
    pbtxt.write_text('label {\n  name: "crawl"\n  label_id: 2\n  label_type: PERSON_MOVEMENT\n'
                     '}\nitem {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\n')
    text = tmp_path / "labels.txt"
    text.write_text("# evaluated actions\n2: crawl\n\n1: bend/bow (at the waist)\n")
    for path in (pbtxt, text):
        assert load_label_map(path) == {1: "bend/bow (at the waist)", 2: "crawl"}
        # Crawl is now evaluated: its GT box is found by no detection (AP 0).
        report = evaluate_ava(files["gt"], files["pred"], labels_path=path)
        assert ap(report, 2) == 0.0 and report.mAP == (0.25 + 0.0) / 2


GT_ROW = "v1,0902,0.1,0.1,0.5,0.5,1,0\n"
DET_ROW = "v1,0902,0.1,0.1,0.5,0.5,1,0.9\n"
BAD_INPUTS = [
    # (which file, content, what the message must say after the path)
    ("gt", GT_ROW + "v1,0903,0.1,0.1,0.5,1\n", ":2: expected 2, 7 or 8 columns (video_id,"),
    ("gt", GT_ROW + "v1,0903,0.1,0.1,0.5,0.5,1,p7\n", ":2: person_id 'p7' is not a number"),
    ("gt", GT_ROW + ",0903\n", ":2: empty video_id"),
    ("gt", GT_ROW + "v1,09:03\n", ":2: timestamp '09:03' is not a number"),
    ("gt", GT_ROW + "v1,0903,0.1,zero,0.5,0.5,1,0\n", ":2: y1 'zero' is not a number"),
    ("gt", GT_ROW + "v1,09:03,0.1,0.1,0.5,0.5,1,0\n", ":2: timestamp '09:03' is not a number"),
    ("gt", GT_ROW + "v1,0903,0.1,0.1,0.5,0.5,stand,0\n", ":2: action_id 'stand' is not an int"),
    ("gt", GT_ROW + "v1,0903,0.1,0.1,0.5,0.5,1.5,0\n", ":2: action_id '1.5' is not an integer"),
    ("gt", GT_ROW + "v1,0903,12,30,250,400,1,0\n", ":2: x1 12 is outside [0, 1]"),
    ("gt", GT_ROW + "v1,0903,0.5,0.1,0.2,0.4,1,0\n", ":2: box (0.5, 0.1, 0.2, 0.4) has x2 < x1"),
    ("pred", DET_ROW + "\nv1,0903,0.1,0.1,0.5,0.5,1\n", ":3: expected 8 columns"),
    ("pred", DET_ROW + "v1,0903,0.1,0.1,0.5,0.5,1,high\n", ":2: score 'high' is not a number"),
    ("pred", DET_ROW + "v1,0903\n", ":2: expected 8 columns"),
    ("pred", DET_ROW + ",0903,0.1,0.1,0.5,0.5,1,0.9\n", ":2: empty video_id"),
    ("excluded", "v1,0902\nv1,0903,x\n", ":2: expected 2 columns (video_id,timestamp), got 3"),
    ("labels", "1: bend/bow\nstand\n", ":2: expected 'id: name', got 'stand'"),
    ("labels", 'label {\n  name: "stand"\n}\n', ':1: entry needs name: "..." and label_id: N'),
    ("gt", "", ": no ground-truth rows"),
]


@pytest.mark.parametrize(("which", "content", "message"), BAD_INPUTS)
def test_malformed_inputs_name_the_file_and_line(files, which: str, content: str,
                                                 message: str):
    path = files["gt"].parent / f"bad_{which}.csv"
    path.write_text(content)
    paths = {"gt_path": files["gt"], "pred_path": files["pred"], f"{which}_path": path}
    with pytest.raises(UsageError) as info:
        evaluate_ava(**paths)
    assert f"{path}{message}" in str(info.value)


def test_missing_files_are_named(files):
    missing = files["gt"].parent / "missing.csv"
    for key in ("gt_path", "pred_path", "excluded_path", "labels_path"):
        with pytest.raises(UsageError, match=f"{missing}: no such file"):
            evaluate_ava(**{"gt_path": files["gt"], "pred_path": files["pred"], key: missing})


def test_no_ground_truth_left_after_exclusions(tmp_path: Path, files):
    excluded = write(tmp_path / "all.csv", [["v1", "902"], ["v1", "903"]])
    with pytest.raises(UsageError, match="no ground-truth box of the 60 evaluated actions"):
        evaluate_ava(files["gt"], files["pred"], excluded_path=excluded)


# -- the command -------------------------------------------------------------------------------
@pytest.fixture
def cli(files):
    app = typer.Typer()
    app.add_typer(evaluate_app, name="evaluate")

    def invoke(*args: str):
        return CliRunner().invoke(app, ["evaluate", "ava", "--gt", str(files["gt"]),
                                        "--pred", str(files["pred"]), *args])
    return invoke


def test_cli_json_and_csv_out(cli, files, tmp_path: Path):
    out = tmp_path / "report.csv"
    result = cli("--exclude", str(files["excluded"]), "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mAP"] == 1.0 and data["iou"] == 0.5 and data["top_k"] == 50
    assert data["protocol"] == "v2.1"
    first = data["classes"][0]
    assert first == {"action_id": 1, "name": "bend/bow (at the waist)", "ap": 1.0,
                     "gt_boxes": 1, "detections": 1}
    assert data["counts"]["excluded_keyframes"] == 1
    lines = out.read_text().splitlines()
    assert lines[:2] == ["action_id,name,ap,gt_boxes,detections",
                         "1,bend/bow (at the waist),1.0,1,1"]
    assert lines[2] == "3,crouch/kneel,,0,0" and lines[-1] == "mAP,,1.0,1,1"
    assert len(lines) == 62
    assert "1 excluded keyframes removed" in result.stderr
    assert "1 ground-truth rows of actions not evaluated dropped" in result.stderr


def test_cli_table(cli):
    result = cli("--format", "table", "--iou", "0.5")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[2].strip(): line.split("│")[3].strip()
            for line in result.stdout.splitlines() if line.count("│") == 6}
    assert rows["bend/bow (at the waist)"] == "25.00" and rows["stand"] == "n/a"
    assert rows["mAP"] == "25.00"


def test_cli_protocol_and_plot(cli, tmp_path: Path):
    plots = tmp_path / "plots"
    result = cli("--format", "json", "--protocol", "2020", "--plot", str(plots))
    assert result.exit_code == 0, result.output
    # 2020: the FP on 0903 stays (0903 is listed, with a box), so AP is 0.25 as in v2.1.
    assert json.loads(result.stdout)["protocol"] == "2020"
    assert result.stderr.startswith("stcli: AVA 2020 protocol: 2 ground-truth boxes")
    # Only action 1 has ground truth: one PR curve, and the AP bars.
    assert sorted(p.name for p in plots.iterdir()) == [
        "ap_per_class.png", "pr_001_bend_bow_at_the_waist.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (("--iou", "0"), "--iou 0: not in (0, 1]"),
    (("--protocol", "2019"), "--protocol '2019': choose one of auto, v2.1, 2020"),
    (("--format", "jsonl"), "--format 'jsonl'"),
    (("--out", "report.txt"), "use a .json or .csv file"),
    (("--exclude", "missing.csv"), "missing.csv: no such file"),
])
def test_cli_usage_errors(cli, args: tuple[str, ...], message: str):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stcli: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and not result.stdout


def test_cli_malformed_file_exits_2_with_one_line(cli, files):
    files["pred"].write_text(DET_ROW + "v1,0903,0.1,0.1,0.5,0.5,one,0.9\n")
    result = cli("--format", "json")
    assert result.exit_code == 2 and not result.stdout
    assert result.stderr == (f"stcli: error: {files['pred']}:2: action_id 'one' is not an "
                             "integer; rows are video_id,timestamp,x1,y1,x2,y2,action_id,score\n")
