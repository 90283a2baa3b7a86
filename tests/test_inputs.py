"""stcli.inputs.expand_inputs: folders, globs, '-' on stdin, order and duplicates."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from stcli.inputs import VIDEO_SUFFIXES, expand_inputs


def _touch(path: Path, data: bytes = b"x") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """videos/ with files at the top, in sorted subfolders, hidden ones and non-videos."""
    root = tmp_path / "videos"
    for rel in ("b.mp4", "a.MKV", "notes.txt", "clip.json", ".hidden.mp4", "sub2/z.avi",
                "sub1/y.webm", "sub1/deeper/x.mov", "sub1/readme.md", "noext"):
        _touch(root / rel)
    (root / "empty_dir").mkdir()
    return root


def test_folder_is_searched_recursively_for_videos_only(tree: Path) -> None:
    found = expand_inputs([str(tree)])
    # Files of a folder first (sorted), then its subfolders in sorted order, depth first.
    assert found == [
        str(tree / "a.MKV"),
        str(tree / "b.mp4"),
        str(tree / "sub1" / "y.webm"),
        str(tree / "sub1" / "deeper" / "x.mov"),
        str(tree / "sub2" / "z.avi"),
    ]


def test_folder_with_trailing_slash_gives_clean_paths(tree: Path) -> None:
    found = expand_inputs([str(tree) + os.sep])
    assert str(tree / "b.mp4") in found
    assert len(found) == 5


def test_empty_folder_gives_nothing(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    assert expand_inputs([str(tmp_path / "nothing")]) == []


def test_every_common_container_suffix_is_recognised() -> None:
    for suffix in (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v"):
        assert suffix in VIDEO_SUFFIXES
    assert ".txt" not in VIDEO_SUFFIXES


def test_glob_is_expanded_sorted_and_skips_directories(tmp_path: Path) -> None:
    for name in ("c.mp4", "a.mp4", "b.mov", "notes.txt"):
        _touch(tmp_path / name)
    (tmp_path / "dir.mp4").mkdir()
    assert expand_inputs([str(tmp_path / "*.mp4")]) == [
        str(tmp_path / "a.mp4"), str(tmp_path / "c.mp4"),
    ]
    # A glob is explicit: whatever it matches (that is a file) is kept, in sorted order.
    assert expand_inputs([str(tmp_path / "[bn]*")]) == [
        str(tmp_path / "b.mov"), str(tmp_path / "notes.txt"),
    ]


def test_recursive_glob(tree: Path) -> None:
    assert expand_inputs([str(tree / "**" / "*.mov")]) == [str(tree / "sub1" / "deeper" / "x.mov")]


def test_glob_matching_nothing_is_kept_for_its_error_record(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.mp4")
    assert expand_inputs([pattern]) == [pattern]


def test_existing_path_with_glob_characters_is_taken_literally(tmp_path: Path) -> None:
    literal = _touch(tmp_path / "take[1].mp4")
    _touch(tmp_path / "take1.mp4")
    assert expand_inputs([literal]) == [literal]


def test_dash_reads_paths_from_stdin(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.mp4")
    b = _touch(tmp_path / "b.mp4")
    stdin = io.StringIO(f"{b}\n\n   {a}  \n\n")
    assert expand_inputs(["-"], stdin=stdin) == [b, a]


def test_dash_takes_stdin_lines_as_given(tmp_path: Path) -> None:
    # Paths from stdin are not expanded: a missing one is kept for its error record.
    stdin = io.StringIO("missing.mp4\r\nother.avi")
    assert expand_inputs(["first.mp4", "-", "last.mp4"], stdin=stdin) == [
        "first.mp4", "missing.mp4", "other.avi", "last.mp4",
    ]


def test_duplicates_dropped_first_occurrence_kept(tree: Path) -> None:
    b = str(tree / "b.mp4")
    stdin = io.StringIO(f"{b}\n/nope.mp4\n")
    found = expand_inputs(["/nope.mp4", b, str(tree / "sub2"), "-", str(tree)], stdin=stdin)
    assert found == [
        "/nope.mp4",
        b,
        str(tree / "sub2" / "z.avi"),
        str(tree / "a.MKV"),
        str(tree / "sub1" / "y.webm"),
        str(tree / "sub1" / "deeper" / "x.mov"),
    ]


def test_order_of_arguments_is_kept(tmp_path: Path) -> None:
    names = [_touch(tmp_path / n) for n in ("z.mp4", "a.mp4", "m.mp4")]
    assert expand_inputs(names) == names


def test_nonexistent_and_non_video_explicit_paths_are_kept(tmp_path: Path) -> None:
    notes = _touch(tmp_path / "notes.txt")
    missing = str(tmp_path / "missing.mp4")
    assert expand_inputs([missing, notes]) == [missing, notes]


def test_no_arguments_gives_nothing() -> None:
    assert expand_inputs([]) == []
    assert expand_inputs(["-"], stdin=io.StringIO("")) == []


def test_two_spellings_of_one_file_are_processed_once() -> None:
    assert expand_inputs(["a.mp4", "./a.mp4", "b.mp4", "x/../a.mp4", "./b.mp4", "c.mp4"]) == [
        "a.mp4", "b.mp4", "c.mp4"
    ]
