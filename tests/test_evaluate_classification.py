"""Classification accuracy on hand-made cases whose numbers are worked out in the comments.

top-k accuracy = videos whose label is among their first k ranks / ground-truth videos;
mean class accuracy = mean over ground-truth classes of (videos of the class right at
top-1 / videos of the class); a video without a prediction, or with a failed one, is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from stcli.cli.evaluate import evaluate_app
from stcli.errors import UsageError
from stcli.evaluate.classification import (
    classification_report_to_dict,
    evaluate_classification,
    evaluate_classification_labels,
    match_videos,
    read_classification_ground_truth,
    read_classification_predictions,
)
from stcli.reports import CLASSIFY

EXACT = 1e-12  # for fractions such as 7/18 that binary floating point cannot hold
OTHERS = ["x1", "x2", "x3", "x4"]  # filler labels below the ones a test cares about


def ranked(*labels: str) -> list[str]:
    """Five labels best first: the given ones, then filler."""
    return [*labels, *OTHERS][:5]


def ok(video: str, labels: list[str]) -> dict[str, Any]:
    """A classify record, as ``stcli.reports.record`` makes it."""
    return {"video": video, "status": "ok", "error": None, "frames": 64, "fps": 25.0,
            "duration_s": 2.56, "views": "1x1", "preset": "k400", "seconds": 0.5,
            "topk": [{"rank": r, "class_id": 100 + r, "label": label, "score": 0.5 / r}
                     for r, label in enumerate(labels, 1)]}


def failure(video: str) -> dict[str, Any]:
    """A classify record of a video that could not be read."""
    return {"video": video, "status": "error", "error": "not a video", "frames": None,
            "fps": None, "duration_s": None, "views": None, "preset": "k400", "seconds": 0.0,
            "topk": []}


# -- the metric --------------------------------------------------------------------------------
def test_perfect_predictions_give_one_everywhere():
    gt = {"a.mp4": "walk", "b.mp4": "run", "c.mp4": "walk"}
    report = evaluate_classification_labels(gt, {v: ranked(c) for v, c in gt.items()})
    assert report.top1 == report.top5 == report.mean_class_accuracy == 1.0
    assert [(c.label, c.accuracy, c.support) for c in report.classes] == [
        ("walk", 1.0, 2), ("run", 1.0, 1)]
    assert report.columns == ("walk", "run") and report.confusion == ((2, 0), (0, 1))
    assert report.max_rank == 5 and report.videos == 3
    assert not (report.missing or report.failed or report.unused_predictions)


def test_wrong_at_top1_right_at_top3():
    # 4 videos, d has its label at rank 3: top-1 3/4, top-5 4/4.
    gt = {"a": "walk", "b": "walk", "c": "run", "d": "run"}
    pred = {"a": ranked("walk"), "b": ranked("walk"), "c": ranked("run"),
            "d": ranked("walk", "jump", "run")}
    report = evaluate_classification_labels(gt, pred)
    assert report.top1 == 0.75 and report.top5 == 1.0
    # walk 2/2, run 1/2: mean (1 + 1/2) / 2 = 0.75, here equal to top-1 (balanced classes).
    assert report.mean_class_accuracy == 0.75
    assert report.confusion == ((2, 0), (1, 1))


def test_mean_class_accuracy_differs_on_imbalanced_classes():
    # A: 3 videos, 2 right (one taken for B); B: 2 videos, 1 right (one taken for D, a
    # label not in the ground truth); C: 1 video, no prediction.
    # top-1 = 3/6 = 0.5; mean class accuracy = (2/3 + 1/2 + 0) / 3 = 7/18.
    gt = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}
    pred = {"a1": ranked("A"), "a2": ranked("A"), "a3": ranked("B", "A"),
            "b1": ranked("B"), "b2": ranked("D", "B")}
    report = evaluate_classification_labels(gt, pred)
    assert report.top1 == 0.5 and abs(report.mean_class_accuracy - 7 / 18) < EXACT
    assert report.top5 == 5 / 6  # all but c1
    assert [c.accuracy for c in report.classes] == [2 / 3, 0.5, 0.0]
    # Rows A, B, C; columns the classes, then D (predicted only), then (none).
    assert report.columns == ("A", "B", "C", "D", "(none)")
    assert report.confusion == ((2, 1, 0, 0, 0),
                                (0, 1, 0, 1, 0),
                                (0, 0, 0, 0, 1))
    assert report.missing == ("c1",)


def test_predicted_only_columns_follow_prediction_order():
    gt = {"x": "A", "y": "A"}
    pred = {"y": ranked("E"), "x": ranked("D")}  # y comes first in the predictions
    assert evaluate_classification_labels(gt, pred).columns == ("A", "E", "D")


def test_missing_and_failed_predictions_are_wrong_and_listed():
    # a right, b failed, c missing, d right at rank 2; e is not in the ground truth.
    # top-1 1/4, top-5 2/4; walk 1/2 and run 0/2: mean 1/4.
    gt = {"a": "walk", "b": "walk", "c": "run", "d": "run"}
    pred = {"a": ranked("walk"), "b": None, "d": ranked("walk", "run"), "e": ranked("run")}
    report = evaluate_classification_labels(gt, pred)
    assert (report.top1, report.top5, report.mean_class_accuracy) == (0.25, 0.5, 0.25)
    assert report.missing == ("c",) and report.failed == ("b",)
    assert report.unused_predictions == 1
    assert report.columns == ("walk", "run", "(none)")
    assert report.confusion == ((1, 0, 1), (1, 0, 1))
    data = classification_report_to_dict(report)
    assert data["counts"] == {"videos": 4, "classes": 2, "scored": 2, "missing": 1,
                              "failed": 1, "matched_by_stem": 0, "unused_predictions": 1}
    assert json.loads(json.dumps(data)) == data


def test_fewer_ranks_than_five_are_reported():
    gt = {"a": "walk", "b": "run"}
    report = evaluate_classification_labels(gt, {"a": ["jump", "walk"], "b": ["x", "y", "z"]})
    assert report.top5 == 0.5 and report.max_rank == 2


def test_empty_ground_truth_is_a_value_error():
    with pytest.raises(ValueError, match="empty ground truth"):
        evaluate_classification_labels({}, {"a": ["walk"]})


# -- matching ----------------------------------------------------------------------------------
def test_matching_exact_then_path_then_unique_stem(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gt = ["clips/a.mp4", str(tmp_path / "clips/b.mp4"), "./clips/../clips/c.mp4", "d",
          "e.mp4", "r/g.mp4", "s/g.mp4"]
    pred = ["clips/a.mp4", "clips/b.mp4", "clips/c.mp4", "/elsewhere/d.avi",
            "p/e.mp4", "q/e.mp4", "t/g.mp4"]
    pairs, how = match_videos(gt, pred)
    assert pairs == {"clips/a.mp4": "clips/a.mp4", gt[1]: "clips/b.mp4",
                     gt[2]: "clips/c.mp4", "d": "/elsewhere/d.avi"}
    assert [how.get(g) for g in gt] == ["exact", "path", "path", "stem", "ambiguous",
                                        "ambiguous", "ambiguous"]


def test_a_prediction_serves_one_video():
    # "a.mp4" is taken by its exact match; the other a.mp4 has no prediction of its own.
    pairs, _ = match_videos(["a.mp4", "x/a.mp4"], ["a.mp4"])
    assert pairs == {"a.mp4": "a.mp4"}


def test_relative_ground_truth_paths_resolve_from_its_folder(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "gt.csv").write_text("clips/a.mp4,walk\nclips/b.mp4,run\n")
    # classify ran from tmp_path; the ground truth names videos from its own folder.
    preds = tmp_path / "preds.jsonl"
    preds.write_text(CLASSIFY.render([ok(str(data / "clips/a.mp4"), ranked("walk")),
                                      ok("data/clips/b.mp4", ranked("run"))], "jsonl"))
    monkeypatch.chdir(tmp_path)
    report = evaluate_classification("data/gt.csv", preds)
    assert report.top1 == 1.0 and report.matched_by_stem == 0


# -- files -------------------------------------------------------------------------------------
RECORDS = [ok("v/a.mp4", ranked("walk")), ok("v/b.mp4", ranked("jump", "push, pull")),
           failure("v/c.mp4"), ok("v/d.mp4", ["run", "walk", "jump"]),
           ok("v/other.mp4", ranked("run"))]
GT_TEXT = ('path,label\nv/a.mp4,walk\n\nv/b.mp4,"push, pull"\nv/c.mp4,walk\nv/d.mp4,run\n'
           "v/e.mp4,run\nv/a.mp4,walk\n")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Ground truth of 5 videos (a walk, b push-pull, c walk, d run, e run) and classify's
    output in every format: a right, b right at rank 2, c failed, d right with 3 ranks,
    e missing; other.mp4 is not in the ground truth."""
    found = {"gt": tmp_path / "gt.csv"}
    found["gt"].write_text(GT_TEXT)
    for fmt in ("csv", "json", "jsonl"):
        text = CLASSIFY.render(RECORDS, fmt)
        found[fmt] = tmp_path / f"preds.{fmt}"
        found[fmt].write_text(text)
        found[f"{fmt}-bare"] = tmp_path / f"preds-{fmt}"  # no extension: read the content
        found[f"{fmt}-bare"].write_text(text)
    return found


def test_ground_truth_file_header_blank_lines_quotes_and_repeats(files):
    assert read_classification_ground_truth(files["gt"]) == {
        "v/a.mp4": "walk", "v/b.mp4": "push, pull", "v/c.mp4": "walk", "v/d.mp4": "run",
        "v/e.mp4": "run"}


def test_every_prediction_format_gives_the_same_report(files, monkeypatch):
    monkeypatch.chdir(files["gt"].parent)
    assert read_classification_predictions(files["csv"]) == {
        "v/a.mp4": ranked("walk"), "v/b.mp4": ranked("jump", "push, pull"), "v/c.mp4": None,
        "v/d.mp4": ["run", "walk", "jump"], "v/other.mp4": ranked("run")}
    reports = {name: evaluate_classification(files["gt"], files[name])
               for name in files if name != "gt"}
    assert len(set(reports.values())) == 1
    report = reports["csv"]
    # Right at top-1: a, d (2/5); at top-5 also b (3/5). walk 1/2, push-pull 0/1, run 1/2:
    # mean (1/2 + 0 + 1/2) / 3 = 1/3.
    assert (report.top1, report.top5) == (0.4, 0.6)
    assert abs(report.mean_class_accuracy - 1 / 3) < EXACT
    assert report.max_rank == 3  # d lists 3 ranks
    assert (report.missing, report.failed, report.unused_predictions) == (
        ("v/e.mp4",), ("v/c.mp4",), 1)


BAD_GT = [
    ("a.mp4,walk\nb.mp4,walk,extra\n", ":2: expected 2 columns (path,label), got 3"),
    ("a.mp4,walk\n\nb.mp4\n", ":3: expected 2 columns"),
    ("a.mp4,walk\nb.mp4,\n", ":2: empty label"),
    ("a.mp4,walk\nb.mp4,run\na.mp4,run\n", ":3: 'a.mp4' is labelled 'run' here and 'walk' "
                                           "on line 1"),
    ("path,label\n\n", ": no ground-truth rows"),
]


@pytest.mark.parametrize(("content", "message"), BAD_GT)
def test_malformed_ground_truth_names_the_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "gt.csv"
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        read_classification_ground_truth(path)
    assert f"{path}{message}" in str(info.value)


BAD_PRED = [
    ("p.csv", "video,status,rank,label\na.mp4,ok,one,walk\n", ":2: rank 'one' is not an int"),
    ("p.csv", "video,label\na.mp4,walk\n", ":1: CSV lacks column(s) status, rank"),
    ("p.csv", "video,status,rank,label\na,ok,1,x\nb,ok,1,y\na,ok,2,z\n",
     ":4: video 'a' is listed twice"),
    ("p.json", '{"videos": []}', ": expected a JSON list of records"),
    ("p.json", '[{"video": "a", "status": "ok", "topk": 3}]', ": record 0: 'topk' must be"),
    ("p.jsonl", '{"video": "a", "status": "ok", "topk": []}\n{oops\n', ":2: not valid JSON"),
    ("p.jsonl", '{"video": "a"}\n\n{"video": "a"}\n', ":3: video 'a' is listed twice"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_PRED)
def test_malformed_predictions_name_the_line(tmp_path: Path, name: str, content: str,
                                             message: str):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        read_classification_predictions(path)
    assert f"{path}{message}" in str(info.value)


# -- the command -------------------------------------------------------------------------------
@pytest.fixture
def cli(files, monkeypatch):
    monkeypatch.chdir(files["gt"].parent)
    app = typer.Typer()
    app.add_typer(evaluate_app, name="evaluate")

    def invoke(*args: str, pred: str = "csv"):
        return CliRunner().invoke(app, ["evaluate", "classification", "--gt", str(files["gt"]),
                                        "--pred", str(files[pred]), *args])
    return invoke


def test_cli_json(cli):
    result = cli("--format", "json", pred="jsonl")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["top1"], data["top5"], data["max_rank"]) == (0.4, 0.6, 3)
    assert data["classes"][1] == {"label": "push, pull", "accuracy": 0.0, "support": 1}
    assert data["confusion"]["columns"] == ["walk", "push, pull", "run", "jump", "(none)"]
    assert data["confusion"]["matrix"] == [[1, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 1]]
    assert data["missing"] == ["v/e.mp4"] and data["failed"] == ["v/c.mp4"]
    assert "stcli: 5 ground-truth videos in 3 classes; 3 scored; 1 without" in result.stderr
    assert "stcli: top-5 covers ranks 1-3" in result.stderr


def test_cli_csv_layout_and_out_file(cli, tmp_path: Path):
    out = tmp_path / "report.json"
    result = cli("--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "class,accuracy,support,walk,\"push, pull\",run,jump,(none)",
        "walk,0.5,2,1,0,0,0,1",
        "\"push, pull\",0.0,1,0,0,0,1,0",
        "run,0.5,2,0,0,1,0,1",
        "overall,0.4,5,1,0,1,1,2",
    ]
    assert json.loads(out.read_text())["top1"] == 0.4


def test_cli_table_shows_small_confusion(cli):
    result = cli("--format", "table")
    assert result.exit_code == 0, result.output
    assert "40.00" in result.stdout and "33.33" in result.stdout
    assert "predicted" in result.stdout  # 3 classes: the matrix is shown unasked


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "jsonl"), "--format 'jsonl'"),
    (("--out", "report.txt"), "use a .json or .csv file"),
    (("--gt", "missing.csv"), "missing.csv: no such file"),
])
def test_cli_usage_errors(cli, args: tuple[str, ...], message: str):
    result = cli(*args)
    assert result.exit_code == 2 and not result.stdout
    assert result.stderr.startswith("stcli: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_malformed_file_exits_2_with_one_line(cli, files):
    files["gt"].write_text("a.mp4,walk\nb.mp4 walk\n")
    result = cli("--format", "json")
    assert result.exit_code == 2 and not result.stdout
    assert result.stderr == (f"stcli: error: {files['gt']}:2: expected 2 columns (path,label), "
                             "got 1; quote a label that holds a comma\n")
