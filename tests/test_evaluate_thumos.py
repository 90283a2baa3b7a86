"""Temporal localization mAP on hand-made cases whose AP is worked out in the comments.

AP is the all-point interpolated area (VOC 2011+): with precision p_k and recall r_k after
the k-th prediction (by descending score), mprec = [0, p..., 0] and mrec = [0, r..., 1];
the envelope replaces each mprec[i] by max(mprec[i:]); AP = sum over the i where mrec
changes of (mrec[i] - mrec[i-1]) * mprec[i].
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stcli.cli.evaluate import evaluate_app
from stcli.errors import UsageError
from stcli.evaluate.localization import (
    GroundTruth,
    Instance,
    evaluate_localization,
    load_ground_truth,
    load_predictions,
    per_video_average_map,
)
from stcli.evaluate.localization import PredictedSegment as Detection
from stcli.evaluate.localization import localization_report_to_dict as report_to_dict

G, D = Instance, Detection  # ground truth, detection
EXACT = 1e-12  # for fractions such as 2/3 that binary floating point cannot hold


def ap_of(gt: list[Instance], pred: list[Detection], thresholds=(0.5,)) -> list[float]:
    """AP of the only class of ``gt`` at each threshold."""
    report = evaluate_localization(gt, pred, thresholds)
    assert len(report.ap) == 1
    return next(iter(report.ap.values()))


# -- single-class cases ---------------------------------------------------------------------
def test_perfect_predictions_give_one_everywhere():
    gt = [G("v1", "A", 0, 10), G("v1", "A", 20, 30), G("v2", "A", 5, 15), G("v1", "B", 40, 50)]
    pred = [D(i.video, i.label, i.start, i.end, 0.9 - 0.1 * k) for k, i in enumerate(gt)]
    report = evaluate_localization(gt, pred)
    assert report.thresholds == (0.3, 0.4, 0.5, 0.6, 0.7)
    assert report.ap == {"A": [1.0] * 5, "B": [1.0] * 5}
    assert report.mAP == [1.0] * 5 and report.average_mAP == 1.0
    assert report.gt_instances == {"A": 3, "B": 1} and report.predictions_used == 4


def test_false_positive_ranked_first_halves_ap():
    # FP then TP: precision [0, 1/2], recall [0, 1].
    # mprec [0, 0, 1/2, 0] -> envelope [1/2, 1/2, 1/2, 0]; mrec [0, 0, 1, 1]:
    # recall changes only at i=2: AP = (1 - 0) * 1/2 = 0.5.
    gt = [G("v1", "A", 0, 10)]
    pred = [D("v1", "A", 50, 60, 0.9), D("v1", "A", 0, 10, 0.8)]
    assert ap_of(gt, pred) == [0.5]


def test_duplicate_detection_of_one_segment_is_a_false_positive():
    # Two GT; the first found twice (0.9, 0.8), the second at 0.7: TP, FP, TP.
    # precision [1, 1/2, 2/3], recall [1/2, 1/2, 1]; envelope at the recall steps:
    # i=1 (0 -> 1/2) max(1, 1/2, 2/3) = 1; i=3 (1/2 -> 1) 2/3.
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6 (it would be 1 if the duplicate were a TP).
    gt = [G("v1", "A", 0, 10), G("v1", "A", 20, 30)]
    pred = [D("v1", "A", 0, 10, 0.9), D("v1", "A", 1, 10, 0.8), D("v1", "A", 20, 30, 0.7)]
    assert ap_of(gt, pred) == [pytest.approx(5 / 6, abs=EXACT)]


def test_tiou_exactly_at_threshold_counts():
    # GT [0, 4], pred [0, 2]: intersection 2, union 4 + 2 - 2 = 4, tIoU 0.5 exactly.
    # TP at 0.3, 0.4, 0.5 (>=), FP at 0.6, 0.7 (then no TP: AP 0). Mean 3/5.
    gt, pred = [G("v1", "A", 0, 4)], [D("v1", "A", 0, 2, 0.9)]
    assert ap_of(gt, pred, (0.5, 0.6)) == [1.0, 0.0]
    report = evaluate_localization(gt, pred)
    assert report.mAP == [1.0, 1.0, 1.0, 0.0, 0.0] and report.average_mAP == 0.6


def test_video_without_predictions_limits_recall():
    # Two GT in two videos, one found: precision [1], recall [1/2].
    # mprec [0, 1, 0] envelope [1, 1, 0]; mrec [0, 1/2, 1]: AP = 1/2 * 1 + 1/2 * 0 = 0.5.
    gt = [G("v1", "A", 0, 10), G("v2", "A", 0, 10)]
    assert ap_of(gt, [D("v1", "A", 0, 10, 0.9)]) == [0.5]


def test_class_without_ground_truth_is_ignored_and_one_without_predictions_scores_zero():
    gt = [G("v1", "A", 0, 10), G("v1", "B", 20, 30)]
    pred = [D("v1", "A", 0, 10, 0.5), D("v1", "Z", 0, 10, 0.99), D("v1", "Z", 20, 30, 0.98)]
    report = evaluate_localization(gt, pred, (0.5,))
    # Z is not a class; B has GT but no predictions: AP 0; mAP = (1 + 0) / 2.
    assert report.ap == {"A": [1.0], "B": [0.0]} and report.mAP == [0.5]
    assert (report.predictions_used, report.dropped_unknown_label,
            report.unknown_video_predictions) == (1, 2, 0)


def test_prediction_on_an_unknown_video_is_a_false_positive_unless_ignored():
    # The case: v9 is not in the ground truth. As ANETdetection does, its
    # prediction is an FP, here ranked first: FP TP, 1 GT: precision [0, 1/2],
    # recall [0, 1]; mprec envelope at the recall step (rank 2) is 1/2: AP = 1 * 1/2 = 0.5.
    # Ignored (--ignore-unknown-videos), only the TP is left: AP = 1 * 1 = 1.
    # Counted either way.
    gt = [G("v1", "A", 0, 10)]
    pred = [D("v9", "A", 0, 10, 0.9), D("v1", "A", 0, 10, 0.8)]
    report = evaluate_localization(gt, pred, (0.5,))
    assert report.ap == {"A": [0.5]} and report.predictions_used == 2
    assert report.unknown_video_predictions == 1 and not report.unknown_videos_ignored
    report = evaluate_localization(gt, pred, (0.5,), ignore_unknown_videos=True)
    assert report.ap == {"A": [1.0]} and report.predictions_used == 1
    assert report.unknown_video_predictions == 1 and report.unknown_videos_ignored


def test_annotated_video_without_instances_is_a_known_video():
    # v2 is covered by the ground truth but has no A: a prediction there is an FP ranked
    # first (AP 0.5, as above) with or without --ignore-unknown-videos, and not counted as
    # on an unknown video.
    gt = GroundTruth((G("v1", "A", 0, 10),), frozenset({"v1", "v2"}))
    pred = [D("v2", "A", 0, 10, 0.9), D("v1", "A", 0, 10, 0.8)]
    for ignore in (False, True):
        report = evaluate_localization(gt, pred, (0.5,), ignore_unknown_videos=ignore)
        assert report.ap == {"A": [0.5]} and report.unknown_video_predictions == 0


def test_ties_in_score_rank_the_later_listed_first():
    # ANETdetection ranks by scores.argsort()[::-1]. NumPy's default sort of [0.8, 0.8]
    # (insertion sort up to 16 elements) leaves [0, 1]; reversed, [1, 0]: the prediction
    # listed second ranks first. [fp, tp]: TP first, precision [1, 1/2], recall [1, 1]:
    # AP = 1 * 1 = 1. [tp, fp]: FP first: AP 0.5 (as above).
    gt = [G("v1", "A", 0, 10)]
    fp, tp = D("v1", "A", 50, 60, 0.8), D("v1", "A", 0, 10, 0.8)
    assert ap_of(gt, [fp, tp]) == [1.0]
    assert ap_of(gt, [tp, fp]) == [0.5]


def test_equal_tiou_takes_the_later_listed_segment():
    # g1 [0, 10], g2 [10, 20]; p1 [5, 15] (0.9) overlaps each by 5 with union
    # 10 + 10 - 5 = 15: tIoU 1/3 with both, computed alike, an exact tie. ANETdetection
    # tries segments in tiou.argsort()[::-1] order: [1, 0], so p1 takes g2 (listed last).
    # p2 [10, 20] (0.8): tIoU 1 with g2, taken; next g1, tIoU 0 < 0.3: an FP.
    # TP FP, 2 GT: precision [1, 1/2], recall [1/2, 1/2]: AP = 1/2 * 1 = 0.5.
    # With g2 listed first, p1 takes g1 and p2 takes g2: TP TP: AP = 1.
    g1, g2 = G("v1", "A", 0, 10), G("v1", "A", 10, 20)
    pred = [D("v1", "A", 5, 15, 0.9), D("v1", "A", 10, 20, 0.8)]
    assert ap_of([g1, g2], pred, (0.3,)) == [0.5]
    assert ap_of([g2, g1], pred, (0.3,)) == [1.0]


def test_match_goes_to_the_best_unmatched_segment():
    # GT g1 [0, 10], g2 [0, 12]. p1 [0, 10] (0.9): tIoU 1 with g1, 10/12 with g2 -> g1.
    # p2 [0, 10] (0.8): g1 taken, g2 tIoU 10/12 = 0.833: TP at 0.5, FP at 0.9.
    # At 0.9: precision [1, 1/2], recall [1/2, 1/2]: AP = 1/2 * 1 + 1/2 * 0 = 0.5.
    gt = [G("v1", "A", 0, 10), G("v1", "A", 0, 12)]
    pred = [D("v1", "A", 0, 10, 0.9), D("v1", "A", 0, 10, 0.8)]
    assert ap_of(gt, pred, (0.5, 0.9)) == [1.0, 0.5]


# -- one multi-video, multi-class case, used by the loader tests too --------------------------
GT = [G("v1", "A", 0, 10), G("v1", "A", 20, 30), G("v2", "A", 0, 8),
      G("v1", "B", 40, 50), G("v2", "B", 10, 20), G("v3", "C", 0, 5)]
PRED = [
    D("v1", "A", 0, 10, 0.95),   # a1: tIoU 1 with [0, 10]
    D("v2", "A", 0, 4, 0.9),     # a2: tIoU 4/8 = 0.5 with [0, 8]: TP up to 0.5
    D("v3", "A", 0, 5, 0.85),    # a3: no A in v3: FP
    D("v1", "A", 22, 30, 0.8),   # a4: tIoU 8/10 with [20, 30]: TP everywhere
    D("v1", "A", 0, 10, 0.7),    # a5: duplicate of a1: FP
    D("v2", "B", 10, 20, 0.6),   # b1: TP
    D("v1", "B", 45, 55, 0.5),   # b2: inter 5, union 15: tIoU 1/3, TP only at 0.3
    D("v9", "B", 0, 1, 0.99),    # video not in the ground truth: an FP (or ignored)
    D("v1", "Z", 0, 10, 0.99),   # label not in the ground truth: ignored
]
# A at 0.3-0.5: TP TP FP TP FP, 3 GT. precision [1, 1, 2/3, 3/4, 3/5],
#   recall [1/3, 2/3, 2/3, 1, 1]; steps at ranks 1, 2, 4 with envelope 1, 1, 3/4:
#   AP = 1/3 + 1/3 + 1/3 * 3/4 = 11/12.
# A at 0.6-0.7: TP FP FP TP FP. precision [1, 1/2, 1/3, 1/2, 2/5],
#   recall [1/3, 1/3, 1/3, 2/3, 2/3]; steps at ranks 1, 4 and the final 1 with envelope
#   1, 1/2, 0: AP = 1/3 + 1/3 * 1/2 = 1/2.
# B, v9 an FP ranked first (0.99). At 0.3: FP TP TP, 2 GT: precision [0, 1/2, 2/3],
#   recall [0, 1/2, 1]; steps at ranks 2 and 3, envelope 2/3 at both:
#   AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3. At 0.4-0.7: FP TP FP: precision [0, 1/2, 1/3],
#   recall [0, 1/2, 1/2]; one step at rank 2, envelope 1/2: AP = 1/2 * 1/2 = 1/4.
# B, v9 ignored: at 0.3 TP TP: AP 1. At 0.4-0.7: TP FP, recall stays 1/2: AP 1/2.
# C: no predictions: AP 0.
AP_A = [11 / 12] * 3 + [1 / 2] * 2
AP_B = [2 / 3] + [1 / 4] * 4
AP_B_IGNORING = [1.0] + [1 / 2] * 4
# mAP = (A + B + C) / 3: 0.3 (11/12 + 8/12) / 3 = 19/36; 0.4, 0.5 (11/12 + 3/12) / 3 = 14/36;
# 0.6, 0.7 (1/2 + 1/4) / 3 = 9/36. Average (19 + 14 + 14 + 9 + 9) / 36 / 5 = 65/180 = 13/36.
MAP = [19 / 36, 14 / 36, 14 / 36, 9 / 36, 9 / 36]
# v9 ignored: 0.3 (11/12 + 1) / 3 = 23/36; 0.4, 0.5 (11/12 + 1/2) / 3 = 17/36;
# 0.6, 0.7 (1/2 + 1/2) / 3 = 1/3. Average (23 + 17 + 17 + 12 + 12) / 36 / 5 = 81/180 = 0.45.
MAP_IGNORING = [23 / 36, 17 / 36, 17 / 36, 1 / 3, 1 / 3]


def check_multi(report, ignoring: bool = False) -> None:
    assert report.ap["A"] == pytest.approx(AP_A, abs=EXACT)
    assert report.ap["B"] == pytest.approx(AP_B_IGNORING if ignoring else AP_B, abs=EXACT)
    assert report.ap["C"] == [0.0] * 5
    assert report.mAP == pytest.approx(MAP_IGNORING if ignoring else MAP, abs=EXACT)
    assert report.average_mAP == pytest.approx(0.45 if ignoring else 13 / 36, abs=EXACT)
    assert report.gt_instances == {"A": 3, "B": 2, "C": 1} and report.gt_videos == 3
    assert (report.predictions_used, report.dropped_unknown_label,
            report.unknown_video_predictions) == (7 if ignoring else 8, 1, 1)


def test_multi_video_multi_class_case():
    check_multi(evaluate_localization(GT, PRED))
    check_multi(evaluate_localization(GT, PRED, ignore_unknown_videos=True), ignoring=True)


def test_per_video_average_map():
    # Each video scored alone (worked out in test_cli_plot_writes_...): v1 0.6, v2 0.8, v3 0.
    scores = per_video_average_map(GroundTruth.from_instances(GT), PRED)
    assert scores == pytest.approx({"v1": 0.6, "v2": 0.8, "v3": 0.0}, abs=EXACT)


def test_report_to_dict():
    data = report_to_dict(evaluate_localization(GT, PRED))
    assert data["tiou_thresholds"] == [0.3, 0.4, 0.5, 0.6, 0.7]
    assert list(data["classes"]) == ["A", "B", "C"]
    assert data["classes"]["B"]["mean"] == pytest.approx((2 / 3 + 4 / 4) / 5, abs=EXACT)
    assert data["classes"]["C"] == {"ap": [0.0] * 5, "mean": 0.0, "gt_instances": 1}
    assert data["counts"] == {"classes": 3, "gt_instances": 6, "gt_videos": 3,
                              "predictions_used": 8, "dropped_unknown_label": 1,
                              "predictions_on_unknown_videos": 1,
                              "unknown_videos": "false positives"}
    assert json.loads(json.dumps(data)) == data


# -- file formats -----------------------------------------------------------------------------
def write_gt_json(path: Path) -> Path:
    database: dict = {v: {"subset": "Test", "duration": 60.0, "fps": 30.0, "annotations": []}
                      for v in ("v1", "v2", "v3")}
    for k, i in enumerate(GT):
        database[i.video]["annotations"].append(
            {"label": i.label, "segment": [i.start, i.end], "label_id": k})
    # A validation video that would add an A instance (and lower A's recall) if kept.
    database["val1"] = {"subset": "Validation", "duration": 9.0, "fps": 30.0,
                        "annotations": [{"label": "A", "segment": [1, 2], "label_id": 0}]}
    path.write_text(json.dumps({"version": "thumos14", "database": database}))
    return path


def write_gt_folder(folder: Path) -> Path:
    folder.mkdir()
    for label in "ABC":
        lines = [f"{i.video}  {i.start:.1f} {i.end:.1f}" for i in GT if i.label == label]
        (folder / f"{label}_test.txt").write_text("\n".join(lines) + "\n")
    # Ambiguous segments are not scored (otherwise this would be an extra class).
    (folder / "Ambiguous_test.txt").write_text("v1 60.0 70.0\n")
    (folder / "A_val.txt").write_text("val1 1.0 2.0\n")  # another split: left out by subset
    (folder / "README").write_text("not an annotation file\n")
    return folder


def test_both_ground_truth_formats_load_the_same(tmp_path: Path):
    from_json = load_ground_truth(write_gt_json(tmp_path / "gt.json"), subset="test")
    from_folder = load_ground_truth(write_gt_folder(tmp_path / "annotation"), subset="test")
    assert sorted(from_json.instances, key=repr) == sorted(GT, key=repr)
    assert sorted(from_folder.instances, key=repr) == sorted(GT, key=repr)
    assert from_json.videos == from_folder.videos == {"v1", "v2", "v3"}
    check_multi(evaluate_localization(from_json, PRED))
    check_multi(evaluate_localization(from_folder, PRED))
    # Without --subset the validation video counts: A has 4 instances.
    assert load_ground_truth(tmp_path / "gt.json").videos == {"v1", "v2", "v3", "val1"}
    assert len(load_ground_truth(tmp_path / "annotation").instances) == len(GT) + 1


def write_pred_json(path: Path) -> Path:
    results: dict = {}
    for d in PRED:
        key = f"/data/thumos/{d.video}.mp4" if d.video == "v2" else d.video  # path or bare id
        results.setdefault(key, []).append(
            {"label": d.label, "segment": [d.start, d.end], "score": d.score})
    path.write_text(json.dumps({"version": "stcli", "results": results,
                                "external_data": {"used": False}}))
    return path


def write_pred_csv(path: Path) -> Path:
    rows = ["video,status,error,label,class_id,start_s,end_s,score"]
    rows += [f"/data/thumos/{d.video}.mp4,ok,,{d.label},0,{d.start},{d.end},{d.score}"
             for d in PRED]
    rows.insert(3, "/data/thumos/broken.mp4,error,cannot decode,,,,,")
    rows.insert(5, "/data/thumos/empty.mp4,ok,,,,,,")  # a video with no segment
    path.write_text("\n".join(rows) + "\n")
    return path


def test_both_prediction_formats_load_the_same(tmp_path: Path):
    for path in (write_pred_json(tmp_path / "pred.json"), write_pred_csv(tmp_path / "pred.csv")):
        loaded = load_predictions(path)
        assert sorted(loaded, key=repr) == sorted(PRED, key=repr), path
        check_multi(evaluate_localization(GT, loaded))


HEAD = "video,status,label,start_s,end_s,score\n"
BAD_INPUTS = [
    # (file name, content, what the message must name)
    ("gt.json", '{"database": {"v1": ', "gt.json: line 1: not valid JSON"),
    ("gt.json", '{"results": {}}', "no 'database' object"),
    ("gt.json", '{"database": {"v1": {"annotations": [{"label": "A"}]}}}',
     "database['v1'].annotations[0]: needs 'label' and 'segment'"),
    ("gt.json", '{"database": {"v1": {"annotations": [{"label": "A", "segment": [5, 2]}]}}}',
     "database['v1'].annotations[0].segment: end 2 is before start 5"),
    ("gt.json", '{"database": {"v1": {"annotations": []}}}', "empty ground truth"),
    ("A_test.txt", "v1 0 10\nv2 zero 10\n", "A_test.txt: line 2: expected a number"),
    ("A_test.txt", "v1 0 10 extra\n", "A_test.txt: line 1: expected 'video start end'"),
    ("pred.json", '{"version": "x"}', "pred.json: no 'results' object"),
    ("pred.json", '{"results": {"v1": [{"label": "A", "segment": [0, 1]}]}}',
     "results['v1'][0]: needs 'label', 'segment' and 'score'"),
    ("pred.csv", "video,status,label,start_s,end_s\n", "line 1: CSV lacks column(s) score"),
    ("pred.csv", f"{HEAD}v.mp4,ok,A,0,1,0.5\nv.mp4,ok,A,3,2,0.4\n",
     "pred.csv: line 3: end 2 is before start 3"),
    ("pred.csv", f"{HEAD}v.mp4,ok,A,0,1,0.5\nv.mp4,ok,A,0,x,0.4\n",
     "pred.csv: line 3: expected a number, got 'x'"),
    ("pred.csv", f"{HEAD}a/v.mp4,ok,A,0,1,.5\nb/v.mp4,ok,A,0,1,.5\n",
     "'a/v.mp4' and 'b/v.mp4' both give video id 'v'"),
    ("pred.txt", "v1 A 0 1 0.5\n", "pred.txt: predictions must be stcli's .json or .csv"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS)
def test_malformed_inputs_name_the_file(tmp_path: Path, name: str, content: str, message: str):
    if name.endswith(".txt") and name != "pred.txt":  # a THUMOS14 folder
        (tmp_path / name).write_text(content)
        path, load = tmp_path, load_ground_truth
    else:
        path = tmp_path / name
        path.write_text(content)
        load = load_ground_truth if name.startswith("gt") else load_predictions
    with pytest.raises(UsageError) as info:
        load(path)
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_subset_that_matches_nothing(tmp_path: Path):
    with pytest.raises(UsageError, match="no video has subset 'training'.*Test, Validation"):
        load_ground_truth(write_gt_json(tmp_path / "gt.json"), subset="training")
    with pytest.raises(UsageError, match="no such file or folder"):
        load_ground_truth(tmp_path / "missing.json")


# -- the command ------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path: Path):
    app = typer.Typer()
    app.add_typer(evaluate_app, name="evaluate")
    gt, pred = write_gt_json(tmp_path / "gt.json"), write_pred_csv(tmp_path / "pred.csv")

    def run(*args: str):
        return CliRunner().invoke(app, ["evaluate", "localization", "--gt", str(gt),
                                        "--pred", str(pred), "--subset", "test", *args])
    return run


def test_cli_json_and_out_file(cli, tmp_path: Path):
    result = cli("--format", "json", "--out", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == json.loads((tmp_path / "report.json").read_text())
    assert data["mAP"] == pytest.approx(MAP, abs=EXACT)
    assert data["counts"]["predictions_on_unknown_videos"] == 1
    assert "8 predictions used, 1 ignored (label not in ground truth); 1 predictions on " \
           "videos not in the ground truth, false positives" in result.stderr


def test_cli_ignore_unknown_videos(cli):
    result = cli("--format", "json", "--ignore-unknown-videos")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mAP"] == pytest.approx(MAP_IGNORING, abs=EXACT)
    assert data["counts"]["predictions_on_unknown_videos"] == 1
    assert data["counts"]["unknown_videos"] == "ignored"
    assert "1 predictions on videos not in the ground truth, ignored " \
           "(--ignore-unknown-videos)" in result.stderr


def test_cli_table_and_thresholds(cli):
    result = cli("--format", "table", "--tiou", "0.5")
    assert result.exit_code == 0, result.output
    # A 11/12 = 91.67 %, B 1/4 = 25 %, C 0 %; mAP 14/36 = 38.89 %.
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if "│" in line}
    assert lines["A"].split()[3] == "91.67" and lines["B"].split()[3] == "25.00"
    assert lines["mAP"].split()[3] == "38.89"


PNG = b"\x89PNG\r\n\x1a\n"


def test_cli_plot_writes_pr_curves_ap_bars_and_worst_timelines(cli, tmp_path: Path):
    plots = tmp_path / "plots"
    result = cli("--format", "json", "--plot", str(plots))
    assert result.exit_code == 0, result.output
    # Worst videos by average mAP scored alone (fewer than 5 videos: all three drawn):
    # v3: its only class C has no prediction: 0.
    # v1: A is TP TP FP with 2 GT at every threshold: AP 1; B (b2, tIoU 1/3) AP 1 at 0.3,
    #   0 above: mean 1/5. Average (1 + 1/5) / 2 = 0.6.
    # v2: A (a2, tIoU 0.5) AP 1 at 0.3-0.5, 0 above: mean 3/5; B (b1) 1. Average 0.8.
    assert sorted(p.name for p in plots.iterdir()) == [
        "ap_per_class.png", "pr_00_a.png", "pr_01_b.png", "pr_02_c.png",
        "timeline_1_v3.png", "timeline_2_v1.png", "timeline_3_v2.png"]
    assert all(p.read_bytes()[:8] == PNG for p in plots.iterdir())
    assert f"7 PNG files written to {plots}" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--tiou", "0.5,x"), "--tiou '0.5,x': 'x' is not a number"),
    (("--tiou", "0"), "is not in (0, 1]"),
    (("--format", "jsonl"), "--format 'jsonl'"),
    (("--out", "report.txt"), "use a .json or .csv file"),
    (("--subset", "training"), "no video has subset 'training'"),
])
def test_cli_usage_errors(cli, args: tuple[str, ...], message: str):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("stcli: error: ") and message in result.stderr
