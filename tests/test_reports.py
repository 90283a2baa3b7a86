"""stcli.reports: exact JSON / JSONL / CSV text, atomic writes, report file names."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
from pathlib import Path

import pytest

from stcli import fileio, reports
from stcli.errors import UsageError
from stcli.results import ClassScore, Prediction, VideoFailure

PRED = Prediction(
    video="clips/a.mp4", frames=90, fps=25.0, duration_s=3.6, views="10x3", preset="k400",
    seconds=1.25,
    topk=[ClassScore(1, 39, "building shed", 0.5), ClassScore(2, 7, 'eating, "drinking"', 0.25)],
)
FAIL = VideoFailure("clips/bad.mp4", "empty file (0 bytes)", "k400", 0.001)

COLUMNS = ["video", "status", "error", "rank", "class_id", "label", "score", "frames", "fps",
           "duration_s", "views", "preset", "seconds"]

PRED_RECORD = {
    "video": "clips/a.mp4", "status": "ok", "error": None, "frames": 90, "fps": 25.0,
    "duration_s": 3.6, "views": "10x3", "preset": "k400", "seconds": 1.25, "decoder": None,
    "topk": [
        {"rank": 1, "class_id": 39, "label": "building shed", "score": 0.5},
        {"rank": 2, "class_id": 7, "label": 'eating, "drinking"', "score": 0.25},
    ],
}
FAIL_RECORD = {
    "video": "clips/bad.mp4", "status": "error", "error": "empty file (0 bytes)",
    "frames": None, "fps": None, "duration_s": None, "views": None, "preset": "k400",
    "seconds": 0.001, "decoder": None, "topk": [],
}

EXPECTED_JSON = """\
[
  {
    "video": "clips/a.mp4",
    "status": "ok",
    "error": null,
    "frames": 90,
    "fps": 25.0,
    "duration_s": 3.6,
    "views": "10x3",
    "preset": "k400",
    "seconds": 1.25,
    "decoder": null,
    "topk": [
      {
        "rank": 1,
        "class_id": 39,
        "label": "building shed",
        "score": 0.5
      },
      {
        "rank": 2,
        "class_id": 7,
        "label": "eating, \\"drinking\\"",
        "score": 0.25
      }
    ]
  },
  {
    "video": "clips/bad.mp4",
    "status": "error",
    "error": "empty file (0 bytes)",
    "frames": null,
    "fps": null,
    "duration_s": null,
    "views": null,
    "preset": "k400",
    "seconds": 0.001,
    "decoder": null,
    "topk": []
  }
]
"""

EXPECTED_JSONL = (
    '{"video": "clips/a.mp4", "status": "ok", "error": null, "frames": 90, "fps": 25.0, '
    '"duration_s": 3.6, "views": "10x3", "preset": "k400", "seconds": 1.25, "decoder": null, '
    '"topk": [{"rank": 1, "class_id": 39, "label": "building shed", "score": 0.5}, '
    '{"rank": 2, "class_id": 7, "label": "eating, \\"drinking\\"", "score": 0.25}]}\n'
    '{"video": "clips/bad.mp4", "status": "error", "error": "empty file (0 bytes)", '
    '"frames": null, "fps": null, "duration_s": null, "views": null, "preset": "k400", '
    '"seconds": 0.001, "decoder": null, "topk": []}\n'
)

EXPECTED_CSV = (
    "video,status,error,rank,class_id,label,score,frames,fps,duration_s,views,preset,seconds\n"
    "clips/a.mp4,ok,,1,39,building shed,0.5,90,25.0,3.6,10x3,k400,1.25\n"
    'clips/a.mp4,ok,,2,7,"eating, ""drinking""",0.25,90,25.0,3.6,10x3,k400,1.25\n'
    "clips/bad.mp4,error,empty file (0 bytes),,,,,,,,,k400,0.001\n"
)


def render(results, fmt: str) -> str:
    """The classify layout rendering records made from ``results``."""
    return reports.CLASSIFY.render([reports.record(r) for r in results], fmt)


def render_line(result, fmt: str) -> str:
    return reports.CLASSIFY.render_line(reports.record(result), fmt)


# -- records --------------------------------------------------------------------------------
def test_record_of_prediction_has_documented_keys_in_order() -> None:
    rec = reports.record(PRED)
    assert list(rec) == ["video", "status", "error", "frames", "fps", "duration_s", "views",
                         "preset", "seconds", "decoder", "topk"]
    assert rec == PRED_RECORD


def test_record_of_failure_fills_missing_keys() -> None:
    rec = reports.record(FAIL)
    assert list(rec) == list(PRED_RECORD)
    assert rec == FAIL_RECORD


# -- whole renders --------------------------------------------------------------------------
def test_render_json_exact_text() -> None:
    text = render([PRED, FAIL], "json")
    assert text == EXPECTED_JSON
    assert json.loads(text) == [PRED_RECORD, FAIL_RECORD]


def test_render_jsonl_exact_text() -> None:
    text = render([PRED, FAIL], "jsonl")
    assert text == EXPECTED_JSONL
    assert [json.loads(line) for line in text.splitlines()] == [PRED_RECORD, FAIL_RECORD]


def test_render_csv_exact_text_long_form() -> None:
    assert render([PRED, FAIL], "csv") == EXPECTED_CSV


def test_render_csv_parses_back_one_row_per_rank() -> None:
    rows = list(csv.DictReader(io.StringIO(render([PRED, FAIL], "csv"))))
    assert [list(r) for r in rows] == [COLUMNS] * 3
    assert [(r["video"], r["rank"], r["label"]) for r in rows] == [
        ("clips/a.mp4", "1", "building shed"),
        ("clips/a.mp4", "2", 'eating, "drinking"'),
        ("clips/bad.mp4", "", ""),
    ]
    assert rows[2]["error"] == "empty file (0 bytes)"
    assert rows[2]["status"] == "error"


def test_render_of_nothing() -> None:
    assert render([], "json") == "[]\n"
    assert render([], "jsonl") == ""
    assert render([], "csv") == reports.CLASSIFY.header()


@pytest.mark.parametrize("fmt", ["table", "xml", ""])
def test_render_rejects_formats_it_cannot_write(fmt: str) -> None:
    with pytest.raises(UsageError, match="format"):
        render([PRED], fmt)


def test_csv_header_is_the_documented_columns() -> None:
    assert reports.CLASSIFY.header() == ",".join(COLUMNS) + "\n"
    assert list(reports.CLASSIFY_COLUMNS) == COLUMNS


# -- streamed lines -------------------------------------------------------------------------
def test_render_line_jsonl_is_one_line() -> None:
    assert render_line(FAIL, "jsonl") == EXPECTED_JSONL.splitlines(keepends=True)[1]
    assert render_line(PRED, "jsonl") == EXPECTED_JSONL.splitlines(keepends=True)[0]


def test_render_line_csv_has_rows_without_header() -> None:
    lines = EXPECTED_CSV.splitlines(keepends=True)
    assert render_line(PRED, "csv") == "".join(lines[1:3])
    assert render_line(FAIL, "csv") == lines[3]


def test_streamed_lines_equal_the_whole_render() -> None:
    for fmt in ("jsonl", "csv"):
        head = reports.CLASSIFY.header() if fmt == "csv" else ""
        streamed = head + "".join(render_line(r, fmt) for r in (PRED, FAIL))
        assert streamed == render([PRED, FAIL], fmt)


# -- csv_rows -------------------------------------------------------------------------------
def test_csv_rows_prediction_one_row_per_rank() -> None:
    rows = reports.csv_rows(reports.record(PRED))
    assert len(rows) == 2
    assert all(set(r) == set(COLUMNS) for r in rows)
    assert rows[0] == {
        "video": "clips/a.mp4", "status": "ok", "error": None, "rank": 1, "class_id": 39,
        "label": "building shed", "score": 0.5, "frames": 90, "fps": 25.0, "duration_s": 3.6,
        "views": "10x3", "preset": "k400", "seconds": 1.25,
    }
    assert (rows[1]["rank"], rows[1]["class_id"], rows[1]["score"]) == (2, 7, 0.25)


def test_csv_rows_failure_is_one_row_with_empty_rank() -> None:
    assert reports.csv_rows(reports.record(FAIL)) == [{
        "video": "clips/bad.mp4", "status": "error", "error": "empty file (0 bytes)",
        "frames": None, "fps": None, "duration_s": None, "views": None, "preset": "k400",
        "seconds": 0.001, "rank": None, "class_id": None, "label": None, "score": None,
    }]


# -- format_from_path -----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "fmt"), [
    ("out.csv", "csv"), ("out.json", "json"), ("out.jsonl", "jsonl"), ("dir/x.y.CSV", "csv"),
    ("OUT.JSON", "json"), (Path("a/b.JsonL"), "jsonl"),
])
def test_format_from_path(name: str, fmt: str) -> None:
    assert reports.format_from_path(name) == fmt


@pytest.mark.parametrize("name", ["out.txt", "out", "out.json.bak", "csv", ".csv.tmp"])
def test_format_from_path_rejects_unknown_extensions(name: str) -> None:
    with pytest.raises(UsageError) as info:
        reports.format_from_path(name)
    assert name in str(info.value)
    assert ".csv, .json or .jsonl" in str(info.value)
    assert info.value.exit_code == 2


# -- write_atomic ---------------------------------------------------------------------------
def test_write_atomic_writes_text_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "preds.csv"
    fileio.write_atomic(target, EXPECTED_CSV)
    assert target.read_bytes() == EXPECTED_CSV.encode("utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["preds.csv"]


def test_write_atomic_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "preds.json"
    target.write_text("old contents that are longer than the new ones\n")
    fileio.write_atomic(target, "[]\n")
    assert target.read_text() == "[]\n"
    assert os.listdir(tmp_path) == ["preds.json"]


def test_write_atomic_keeps_newlines_and_unicode_exact(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    text = "a,b\r\nécole,\u52d5\u753b\n"
    fileio.write_atomic(str(target), text)
    assert target.read_bytes() == text.encode("utf-8")


def test_write_atomic_failure_keeps_old_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "preds.json"
    target.write_text("previous\n")
    # A lone surrogate cannot be encoded: the write fails half way through the text.
    with pytest.raises(UnicodeEncodeError):
        fileio.write_atomic(target, "x" * 100_000 + "\ud800" + "tail")
    assert target.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["preds.json"]


def test_write_atomic_cut_short_keeps_old_file_and_no_partial(tmp_path: Path) -> None:
    """A write that stops half way, as on a full disk, leaves the previous file whole (the
    failures above come before any byte is written, so in-place writing would pass them)."""
    resource = pytest.importorskip("resource")
    target = tmp_path / "preds.json"
    target.write_text("previous\n")
    # The file-size limit makes the 5th KiB fail with EFBIG (SIGXFSZ ignored, as Python
    # does at start: the process must not die of it), for this write only.
    signal_before = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(OSError) as info:
            fileio.write_atomic(target, "x" * 100_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, signal_before)
    # The error names the file asked for, not the hidden temporary.
    assert (info.value.errno, info.value.filename) == (errno.EFBIG, str(target))
    assert target.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["preds.json"]


def test_write_atomic_failure_creates_no_file(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    with pytest.raises(UnicodeEncodeError):
        fileio.write_atomic(target, "\ud800")
    assert os.listdir(tmp_path) == []


# -- report files ---------------------------------------------------------------------------
def test_report_names_use_stems() -> None:
    assert reports.report_names(["a/one.mp4", "b/two.avi", "three"]) == {
        "a/one.mp4": "one.json", "b/two.avi": "two.json", "three": "three.json",
    }


def test_report_names_disambiguate_equal_stems() -> None:
    videos = ["x/clip.mp4", "y/clip.mp4", "z/clip.avi", "other.mp4"]
    names = reports.report_names(videos)
    assert list(names) == videos
    assert names["other.mp4"] == "other.json"
    clashing = [names[v] for v in videos[:3]]
    assert len(set(clashing)) == 3
    for name in clashing:
        stem, ext = os.path.splitext(name)
        assert ext == ".json"
        assert stem.startswith("clip-")
        assert len(stem) == len("clip-") + 8
        int(stem[len("clip-"):], 16)  # a hex digest
    # Deterministic: the same inputs give the same names.
    assert reports.report_names(videos) == names


def test_report_names_are_distinct_for_every_listed_video() -> None:
    # Two spellings of one file still get two reports (expand_inputs also drops such twins).
    videos = ["clip.mp4", "./clip.mp4"]
    names = reports.report_names(videos)
    assert len(set(names.values())) == len(videos)


def test_write_report_writes_record_json(tmp_path: Path) -> None:
    path = reports.write_report(tmp_path / "reports", "bad.json", reports.record(FAIL))
    assert path == tmp_path / "reports" / "bad.json"
    assert json.loads(path.read_text()) == FAIL_RECORD
    assert path.read_text().endswith("}\n")
    assert os.listdir(tmp_path / "reports") == ["bad.json"]


@pytest.mark.parametrize("fmt", ["json", "table", "xml"])
def test_render_line_refuses_formats_that_cannot_stream(fmt: str) -> None:
    with pytest.raises(UsageError, match=fmt):
        render_line(PRED, fmt)
