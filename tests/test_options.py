"""Options checked before any work, and progress on stderr: real ``stcli`` subprocesses.

Every refused option is run with a ``--checkpoint`` that does not exist: had the model
loaded (or been looked for) first, the error would name that file instead. Progress is
read from a stderr that is a pipe, as in a log file or CI, where no ``\\r`` may appear.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_video, run_stcli

PLAIN_LINE = re.compile(r"^stcli: (\S+) (\S+): (\d+)/(\d+) (\w+) \((\d+)%\)")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 frames: 22 windows of 32 frames, several network batches."""
    folder = tmp_path_factory.mktemp("long")
    return make_video(folder / "long.mp4", frames=200, size=(160, 120))


def refused(args: list[str], message: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``stcli ARGS`` with an absent checkpoint: exit 2, one ``stcli: error:`` line
    holding ``message``, nothing on stdout, and the checkpoint never looked at."""
    absent = tmp_path / "absent.pth"
    done = run_stcli(*args, "--checkpoint", str(absent))
    assert done.returncode == 2, (args, done.stderr)
    assert done.stdout == "", args
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stcli: error: "), (args, done.stderr)
    assert message in lines[0], (args, lines[0])
    assert "absent.pth" not in lines[0], args  # validation came before the model
    return done


# -- progress ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def localize_run(long_video: Path, generated_videos, ckpt: Path) -> subprocess.CompletedProcess:
    videos = [str(long_video), str(generated_videos["landscape"])]
    return run_stcli("localize", *videos, "-c", str(ckpt), "--backend", "torch", "--windows",
                     "32", "--batch-size", "4", "-f", "json", env={"STCLI_PROGRESS_S": "0"})


def test_plain_progress_lines_without_carriage_returns(localize_run, long_video) -> None:
    assert localize_run.returncode == 0, localize_run.stderr
    assert "\r" not in localize_run.stderr
    lines = [m.groups() for m in map(PLAIN_LINE.match, localize_run.stderr.splitlines()) if m]
    own = [(int(done), int(total)) for command, video, done, total, unit, _ in lines
           if command == "localize" and video == str(long_video) and unit == "windows"]
    assert len(own) >= 3, localize_run.stderr  # several batches of 4 windows
    assert own[-1][0] == own[-1][1] == own[0][1]  # ends with every window done
    assert [done for done, _ in own] == sorted(done for done, _ in own)
    assert re.search(r"windows \(\d+%\), [\d.]+/s, ETA \d+ s", localize_run.stderr)
    # The batch's own lines: videos done of total.
    assert "stcli: localize: 1/2 videos (50%)" in localize_run.stderr
    assert "stcli: localize: 2/2 videos (100%)" in localize_run.stderr


def test_progress_leaves_stdout_to_results(localize_run, long_video) -> None:
    doc = json.loads(localize_run.stdout)
    assert set(doc["results"]) == {"long", "landscape"}
    assert doc["stcli"]["settings"]["overlap"] == 0.75  # the default, recorded as used


def test_quiet_shows_no_progress(long_video, ckpt) -> None:
    done = run_stcli("localize", str(long_video), "-c", str(ckpt), "--backend", "torch",
                     "--windows", "32", "-f", "json", "-q", env={"STCLI_PROGRESS_S": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["results"]["long"] is not None


def test_classify_shows_views_of_one_video(long_video, ckpt) -> None:
    done = run_stcli("classify", str(long_video), "-c", str(ckpt), "--backend", "torch",
                     "--views", "5x1", "--batch-size", "2", "-f", "json",
                     env={"STCLI_PROGRESS_S": "0"})
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert f"stcli: classify {long_video}: 5/5 views (100%)" in done.stderr
    assert json.loads(done.stdout)[0]["views"] == "5x1"


def test_default_interval_writes_no_line_for_quick_work(generated_videos, ckpt) -> None:
    # Well under the default 5 s per line: a short job leaves a clean log.
    done = run_stcli("classify", str(generated_videos["landscape"]), "-c", str(ckpt),
                     "--backend", "torch", "--views", "1x1", "-f", "json",
                     env={"STCLI_PROGRESS_S": ""})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# -- bounds ------------------------------------------------------------------------------------
@pytest.mark.parametrize("views, clips, estimate", [
    ("1000000x1", "1000000 clips x crops", "about 22 h"),
    ("40x3", "120 clips x crops", "s per video"),
])
def test_huge_views_need_force(views, clips, estimate, tmp_path, generated_videos) -> None:
    done = refused(["classify", str(generated_videos["landscape"]), "--views", views],
                   "--views", tmp_path)
    assert clips in done.stderr and estimate in done.stderr and "--force" in done.stderr


def test_force_lets_huge_views_through(tmp_path, generated_videos) -> None:
    # Past the bound, on to the (absent) checkpoint.
    done = run_stcli("classify", str(generated_videos["landscape"]), "--views", "40x3",
                     "--force", "-c", str(tmp_path / "absent.pth"))
    assert done.returncode == 2 and "absent.pth" in done.stderr


def test_train_head_views_bound(tmp_path) -> None:
    clips = tmp_path / "clips.csv"
    clips.write_text("a.mp4,x\nb.mp4,y\n")
    refused(["train-head", str(clips), "-o", str(tmp_path / "h.head"), "--views", "200x1"],
            "per training clip", tmp_path)


# -- refused before the model loads --------------------------------------------------------
def test_localize_options_fail_before_the_model(tmp_path, generated_videos) -> None:
    video = str(generated_videos["landscape"])
    (tmp_path / "file").write_text("")
    for args, message in [
        (["--classes", "no such class"], "give class names such as 'abseiling'"),
        (["--classes", "abseilin"], "did you mean 'abseiling'"),
        (["--overlap", "0.5", "--stride-s", "1"], "--overlap and --stride-s conflict: give one"),
        (["--scores-out", str(tmp_path / "file" / "scores")], "is a file, not a folder"),
        (["--plot", str(tmp_path / "file" / "plots")], "is a file, not a folder"),
    ]:
        refused(["localize", video, "-f", "csv", *args], message, tmp_path)


def test_features_stride_and_fps_conflict(tmp_path, generated_videos) -> None:
    refused(["features", str(generated_videos["landscape"]), "--out", str(tmp_path / "f"),
             "--stride", "8", "--fps", "2", "-f", "json"], "--stride and --fps conflict",
            tmp_path)


def test_detect_conflicts(tmp_path, generated_videos) -> None:
    video = str(generated_videos["landscape"])
    proposals = tmp_path / "boxes.csv"
    proposals.write_text("landscape,0,0.1,0.1,0.5,0.9\n")
    for args, message in [
        (["--all-scores", "--action-threshold", "0.3"],
         "--all-scores and --action-threshold conflict"),
        (["--proposals", str(proposals), "--person-detector", "hog"],
         "--proposals and --person-detector conflict"),
    ]:
        refused(["detect", video, "-f", "json", *args], message, tmp_path)


def test_out_in_a_file_fails_before_stdout(tmp_path, generated_videos) -> None:
    (tmp_path / "file").write_text("")
    refused(["classify", str(generated_videos["landscape"]), "-f", "csv", "--out",
             str(tmp_path / "file" / "preds.csv")], "is a file, not a folder", tmp_path)


def test_train_head_checks_first(tmp_path) -> None:
    clips = tmp_path / "clips.csv"
    clips.write_text("a.mp4,walk\nb.mp4,run\n")
    head = str(tmp_path / "h.head")
    for args, message in [
        (["-o", head, "--background", "idle"], "--background 'idle' is not a label"),
        (["-o", str(clips)], "exists and is not an stcli head folder"),
        (["-o", head, "--cache", str(tmp_path / "c"), "--no-cache"],
         "--cache and --no-cache conflict"),
    ]:
        refused(["train-head", str(clips), *args], message, tmp_path)


@pytest.mark.parametrize("args", [["--calibrate", "videos"], ["--calibration-clips", "8"]])
def test_export_calibration_needs_quantize(args, tmp_path) -> None:
    refused(["export", "-o", str(tmp_path / "m.onnx"), *args], "is for --quantize int8",
            tmp_path)
