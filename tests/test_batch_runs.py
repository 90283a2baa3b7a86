"""Batch runs that never lose work or lie: resume by fingerprint, outputs checked before
the work, write failures, closed pipes. Each test first reproduces what failed for a user
(issue "Batch runs that never lose work or lie"); signals are in ``test_interrupt.py``.

Runs are real: ``stcli`` subprocesses on videos ffmpeg makes, reference weights, and
ONNX exports warmed per module (k400; AVA for the detect cases). Where a full disk must be
shown on every machine, the failure is injected in-process at the file writer
(``ENOSPC``), or the ``stcli`` process runs under a file-size limit (``RLIMIT_FSIZE``),
which stops its writes half way; a real small tmpfs is used as well where this machine
lets the test mount one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stcli.heads import Head, save_head
from stcli.version import __version__
from tests.conftest import REPO, run_stcli, warm_onnx_cache
from tests.test_persons import constant_model

MARK = 12345.0  # a ``seconds`` no run takes: a report carrying it was reused, not recomputed


@pytest.fixture
def videos(tmp_path: Path, generated_videos) -> list[str]:
    """Three videos (one per content, so their results differ) in a folder of their own."""
    folder = tmp_path / "in"
    folder.mkdir()
    made = []
    for name, source in (("a", "landscape"), ("b", "portrait"), ("c", "landscape")):
        target = folder / f"{name}.mp4"
        shutil.copyfile(generated_videos[source], target)
        made.append(str(target))
    return made


def stcli(*args: object, env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return run_stcli(*[str(a) for a in args], env=env, **kw)


def jsonl(text: str) -> dict[str, dict]:
    return {rec["video"]: rec for rec in map(json.loads, text.splitlines())}


def mark_reports(folder: Path) -> None:
    """Stamp every report's ``seconds`` with MARK, keeping its fingerprint."""
    for path in folder.glob("*.json"):
        rec = json.loads(path.read_text())
        rec["seconds"] = MARK
        path.write_text(json.dumps(rec))


def without_timing(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "seconds"}


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, computed here: what a report must name as its checkpoint."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stamp(path: str | Path) -> dict[str, int]:
    """A file's size and mtime, as the README says a fingerprint records them."""
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


# -- 1. resume by fingerprint ------------------------------------------------------------------
def test_resume_reuses_only_reports_whose_fingerprint_matches(tmp_path, videos, ckpt, env):
    reports = tmp_path / "reports"
    common = ["classify", *videos, "-c", ckpt, "--views", "1x1", "--report-dir", reports,
              "-f", "jsonl"]
    first = stcli(*common, env=env)
    assert first.returncode == 0, first.stderr
    fingerprint = json.loads((reports / "a.json").read_text())["fingerprint"]
    assert fingerprint == {
        "command": "classify", "stcli": __version__, "preset": "k400",
        "checkpoint_sha256": sha256_file(ckpt), "head_sha256": None,
        "engine": "onnxruntime fp32",
        "settings": {"views": "1x1", "fast": False, "top_k": 5, "start": None, "end": None},
        "files": {}, "input": stamp(videos[0])}
    mark_reports(reports)
    (reports / "b.json").write_text('{"video": "half-written')  # a crash mid-write
    os.utime(videos[2], ns=(1, 1))  # c.mp4 changed since its report (new mtime)

    second = stcli(*common, "--skip-existing", env=env)
    assert second.returncode == 0, second.stderr
    got = jsonl(second.stdout)
    assert got[videos[0]]["seconds"] == MARK  # reused
    assert got[videos[1]]["seconds"] != MARK and got[videos[2]]["seconds"] != MARK
    assert (f"3 videos: 3 ok, 0 failed; 1 reused from {reports}, 2 computed (2 of them had "
            "a stale or unusable report)") in second.stderr
    # Resume and recompute agree: the reused record is the first run's, timing aside.
    assert [without_timing(r) for r in got.values()] == \
        [without_timing(r) for r in jsonl(first.stdout).values()]

    # Another setting that changes the result: nothing may be reused.
    mark_reports(reports)
    other = stcli(*common, "--skip-existing", "--top-k", "2", env=env)
    assert other.returncode == 0, other.stderr
    assert all(r["seconds"] != MARK and len(r["topk"]) == 2
               for r in jsonl(other.stdout).values())
    assert "0 reused" in other.stderr


def test_resume_never_trusts_a_report_of_another_command(tmp_path, videos, ckpt, env):
    """detect once returned a classify record as ok; localize crashed (KeyError)."""
    reports = tmp_path / "reports"
    first = stcli("classify", videos[0], "-c", ckpt, "--views", "1x1", "--report-dir",
                  reports, "-f", "json", env=env)
    assert first.returncode == 0, first.stderr
    mark_reports(reports)
    again = stcli("localize", videos[0], "-c", ckpt, "--classes", "0,1", "--report-dir",
                  reports, "--skip-existing", "-f", "jsonl", env=env)
    assert again.returncode == 0, again.stderr
    rec = json.loads(again.stdout)
    assert rec["status"] == "ok" and "segments" in rec and rec["seconds"] != MARK
    assert "internal error" not in again.stderr
    assert json.loads((reports / "a.json").read_text())["fingerprint"]["command"] == "localize"


def test_features_resume_recomputes_a_video_whose_output_is_gone(tmp_path, videos, ckpt, env):
    reports, out = tmp_path / "reports", tmp_path / "features"
    common = ["features", *videos[:2], "-c", ckpt, "--out", out, "--report-dir", reports,
              "--stride", "16", "-f", "jsonl"]
    assert stcli(*common, env=env).returncode == 0
    mark_reports(reports)
    (out / "a.npy").unlink()
    again = stcli(*common, "--skip-existing", env=env)
    assert again.returncode == 0, again.stderr
    got = jsonl(again.stdout)
    assert got[videos[0]]["seconds"] != MARK and (out / "a.npy").is_file()
    assert got[videos[1]]["seconds"] == MARK
    same = stcli("features", videos[0], "-c", "missing.pth", "--out", out, "--report-dir",
                 out, env=env)
    assert same.returncode == 2 and "--report-dir" in same.stderr


# -- 1. resume: every ingredient of the fingerprint ---------------------------------------------
# Each case runs the user's resume command (the same command with --skip-existing): to fill
# the report folder; unchanged, when every report must be reused (the control); then after
# each step that changes one ingredient, when every video must be computed again. Without
# the control, a fingerprint that never matched would pass as well.
@dataclass
class Step:
    """One ingredient changed: ``change`` alters what it must (a file) and returns the
    next run's arguments; ``key`` is the one fingerprint entry that may change with it;
    ``check`` takes the new fingerprint and the run's records and holds their values."""

    key: str
    change: Callable[[], list]
    check: Callable[[dict, dict[str, dict]], None]


@dataclass
class Ingredient:
    """A case: the environment and videos of its runs, the first run's arguments, and
    the steps that each change one ingredient."""

    env: dict[str, str]
    videos: list[str]
    args: list
    steps: list[Step]


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory: pytest.TempPathFactory, ckpt: Path) -> Path:
    """The k400 reference checkpoint with one tensor changed: class 7's bias raised so far
    that class 7 wins on every video, so a result shows which weights made it."""
    import torch

    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["state_dict"]["cls_head.fc_cls.bias"][7] += 10.0
    path = tmp_path_factory.mktemp("other") / "k400_other.pth"
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def ava_env(env: dict[str, str], reference_checkpoint) -> dict[str, str]:
    """``env`` holding the AVA reference checkpoint's export too: detect runs on
    onnxruntime then, about three times faster than on torch."""
    warm_onnx_cache("ava21", reference_checkpoint("ava"), env["XDG_CACHE_HOME"])
    return env


def model_case(request, tmp_path: Path, videos: list[str]) -> Ingredient:
    ckpt, other = request.getfixturevalue("ckpt"), request.getfixturevalue("other_ckpt")
    videos = videos[:2]  # torch runs cost the most: two videos are enough
    args = ["classify", *videos, "--views", "1x1"]

    def engine(name: str) -> Callable[[dict, dict], None]:
        def check(fingerprint: dict, got: dict[str, dict]) -> None:
            assert fingerprint["engine"] == name
        return check

    def other_weights(fingerprint: dict, got: dict[str, dict]) -> None:
        assert fingerprint["checkpoint_sha256"] == sha256_file(other)
        assert [r["topk"][0]["class_id"] for r in got.values()] == [7] * len(videos)

    # From onnxruntime fp32 (the default here) to torch; there the other checkpoint (torch
    # runs it at once, onnxruntime would first export it); then bf16 arithmetic.
    return Ingredient(request.getfixturevalue("env"), videos, [*args, "-c", ckpt], [
        Step("engine", lambda: [*args, "-c", ckpt, "--backend", "torch"], engine("torch fp32")),
        Step("checkpoint_sha256", lambda: [*args, "-c", other, "--backend", "torch"],
             other_weights),
        Step("engine", lambda: [*args, "-c", other, "--backend", "torch", "--precision",
                                "bf16"], engine("torch bf16"))])


def head_case(request, tmp_path: Path, videos: list[str]) -> Ingredient:
    ckpt = request.getfixturevalue("ckpt")
    head = tmp_path / "mine.head"

    def train(favourite: str) -> None:
        # Zero weights: the head says ``favourite`` whatever the video, so a result shows
        # which head made it. Saved where the last one was, as a head trained again is.
        labels = ["x", "y", "z"]
        bias = [5.0 if label == favourite else 0.0 for label in labels]
        save_head(Head(np.zeros((3, 2048)), bias, labels,
                       meta={"preset": "k400", "backbone_sha256": sha256_file(ckpt)}), head)

    def change() -> list:
        train("y")
        return args

    def check(fingerprint: dict, got: dict[str, dict]) -> None:
        assert fingerprint["head_sha256"] is not None
        assert [r["topk"][0]["label"] for r in got.values()] == ["y"] * len(videos)

    train("x")
    args = ["classify", *videos, "-c", ckpt, "--views", "1x1", "--head", head]
    return Ingredient(request.getfixturevalue("env"), videos, args,
                      [Step("head_sha256", change, check)])


def label_map_case(request, tmp_path: Path, videos: list[str]) -> Ingredient:
    label_map = tmp_path / "map.csv"
    # Classes 39 and 143 score highest on these videos with the reference weights.
    label_map.write_text("source_class,target_label\n39,shed\n143,golf\n")
    args = ["localize", *videos, "-c", request.getfixturevalue("ckpt"), "--label-map",
            label_map]

    def change() -> list:
        label_map.write_text("source_class,target_label\n39,building\n143,golf\n")
        return args

    def check(fingerprint: dict, got: dict[str, dict]) -> None:
        assert fingerprint["files"] == {str(label_map): stamp(label_map)}
        for rec in got.values():
            assert {s["label"] for s in rec["segments"]} == {"building", "golf"}

    return Ingredient(request.getfixturevalue("env"), videos, args,
                      [Step("files", change, check)])


def proposals_case(request, tmp_path: Path, videos: list[str]) -> Ingredient:
    proposals, videos = tmp_path / "boxes.csv", landscape(videos)

    def write(box: str) -> None:
        proposals.write_text("".join(f"{Path(v).stem},1,{box},0.9\n" for v in videos))

    def change() -> list:
        write("0.3,0.2,0.7,0.9")
        return args

    def check(fingerprint: dict, got: dict[str, dict]) -> None:
        assert fingerprint["files"] == {str(proposals): stamp(proposals)}
        for rec in got.values():
            (person,) = rec["keyframes"][0]["persons"]
            assert person["box"] == pytest.approx([0.3, 0.2, 0.7, 0.9])

    write("0.1,0.2,0.5,0.9")
    args = ["detect", *videos, "-c", request.getfixturevalue("reference_checkpoint")("ava"),
            "--timestamps", "1", "--proposals", proposals]
    return Ingredient(request.getfixturevalue("ava_env"), videos, args,
                      [Step("files", change, check)])


def landscape(videos: list[str]) -> list[str]:
    """The two 320x240 videos (detect runs cost more than classify runs)."""
    return [videos[0], videos[2]]


# An ONNX person detector (one box, model input 64x64) and the box it gives on a 320x240
# frame: letterboxed to 64x48 (ratio 0.2) below 8 rows of padding.
DETECTOR_BOXES = {(16, 24, 48, 56): [0.25, 1 / 3, 0.75, 1.0],
                  (0, 8, 32, 40): [0.0, 0.0, 0.5, 2 / 3]}


def detector_case(request, tmp_path: Path, videos: list[str]) -> Ingredient:
    model, ava = tmp_path / "persons.onnx", request.getfixturevalue("reference_checkpoint")("ava")
    first, second, videos = *DETECTOR_BOXES, landscape(videos)

    def args(layout: str = "") -> list:
        return ["detect", *videos, "-c", ava, "--timestamps", "1", "--detector",
                f"onnx:{model}{layout}"]

    def model_finding(box: tuple[int, ...], layout: str = "") -> Callable[[], list]:
        def change() -> list:
            constant_model(model, np.array([[[*box, 0.9, 0.0]]], np.float32))
            return args(layout)
        return change

    def finds(box: tuple[int, ...]) -> Callable[[dict, dict], None]:
        def check(fingerprint: dict, got: dict[str, dict]) -> None:
            assert fingerprint["files"] == {str(model): stamp(model)}
            for rec in got.values():
                (person,) = rec["keyframes"][0]["persons"]
                assert person["box"] == pytest.approx(DETECTOR_BOXES[box])
        return check

    def forced(fingerprint: dict, got: dict[str, dict]) -> None:
        assert fingerprint["settings"]["person_detector"] == f"onnx:{model}#xyxy"

    # The model file changes; then its layout is forced (a setting), and the file changes
    # again: the file that onnx:PATH#LAYOUT names is PATH.
    return Ingredient(request.getfixturevalue("ava_env"), videos, model_finding(first)(), [
        Step("files", model_finding(second), finds(second)),
        Step("settings", lambda: args("#xyxy"), forced),
        Step("files", model_finding(first, "#xyxy"), finds(first))])


INGREDIENTS = {"backend-checkpoint-precision": model_case, "head": head_case,
               "label-map": label_map_case, "proposals": proposals_case,
               "detector": detector_case}


@pytest.mark.parametrize("ingredient", list(INGREDIENTS))
def test_resume_recomputes_every_video_when_an_ingredient_changes(ingredient, request,
                                                                  tmp_path, videos):
    case = INGREDIENTS[ingredient](request, tmp_path, videos)
    videos, reports, count = case.videos, tmp_path / "reports", len(case.videos)

    def resume(args: list) -> tuple[dict[str, dict], str]:
        done = stcli(*args, "--report-dir", reports, "--skip-existing", "-f", "jsonl",
                     env=case.env)
        assert done.returncode == 0, done.stderr
        return jsonl(done.stdout), done.stderr

    def fingerprints() -> dict[str, dict]:
        return {video: json.loads((reports / f"{Path(video).stem}.json").read_text())
                ["fingerprint"] for video in videos}

    resume(case.args)
    mark_reports(reports)
    got, stderr = resume(case.args)
    assert [r["seconds"] for r in got.values()] == [MARK] * count
    assert f"; {count} reused from {reports}, 0 computed" in stderr
    for step in case.steps:
        before = fingerprints()
        mark_reports(reports)
        got, stderr = resume(step.change())
        assert list(got) == videos and all(r["seconds"] != MARK for r in got.values()), step
        assert (f"; 0 reused from {reports}, {count} computed ({count} of them had a stale "
                "or unusable report)") in stderr, step
        after = fingerprints()
        for video in videos:  # the run changed this one ingredient, nothing else
            assert {k for k in after[video] if after[video][k] != before[video][k]} == \
                {step.key}, (step, before[video], after[video])
        step.check(after[videos[0]], got)


# -- 3. outputs checked before any work ----------------------------------------------------------
def _refusals(tmp_path: Path, video: str) -> list[tuple[list[str], str]]:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file, not a folder\n")
    cases = [
        (["classify", video, "--out", blocker / "x.csv"], "--out"),
        (["classify", video, "--out", tmp_path], "--out"),
        (["classify", video, "--report-dir", blocker / "reports"], "--report-dir"),
        (["localize", video, "--scores-out", blocker / "s"], "--scores-out"),
        (["features", video, "--out", blocker / "f"], "--out"),
        (["detect", video, "--render", blocker / "drawn"], "--render"),
    ]
    if Path("/proc/self").is_dir():
        cases.append((["classify", video, "--out", "/proc/stcli-x.csv"], "--out"))
    # An output that is one of the inputs (a video named like a report).
    twin = tmp_path / "clip.json"
    shutil.copyfile(video, twin)
    cases.append((["classify", twin, "--out", twin.with_name("clip.json")], "--out"))
    return cases


def test_outputs_are_checked_before_the_model_loads(tmp_path, videos, env):
    for args, flag in _refusals(tmp_path, videos[0]):
        # The checkpoint does not exist: had the model been loaded first, the error
        # would be about it.
        done = stcli(*args, "-c", tmp_path / "missing.pth", env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith(f"stcli: error: {flag}") or f" {flag}" in done.stderr, \
            (args, done.stderr)
        assert "missing.pth" not in done.stderr and "internal error" not in done.stderr
        assert done.stdout == "" and len(done.stderr.splitlines()) == 1, (args, done.stderr)


# -- 3. a failed write: the video's error row, or a recovery file --------------------------------
def invoke(*args: object):
    from stcli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def enospc_for(name: str, real):
    """A file writer that fails as a full disk does for files called ``name``."""
    def write(path, data):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)
    return write


def test_a_report_that_cannot_be_written_is_that_videos_error(tmp_path, videos, ckpt, env,
                                                              monkeypatch):
    import stcli.reports

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(stcli.reports, "write_atomic",
                        enospc_for("b.json", stcli.reports.write_atomic))
    out, reports = tmp_path / "all.csv", tmp_path / "reports"
    result = invoke("classify", *videos, "-c", ckpt, "--views", "1x1", "--out", out,
                    "--report-dir", reports)
    assert result.exit_code == 1, result.output
    table = pd.read_csv(out)
    assert set(table["video"]) == set(videos)
    failed = table[table["video"] == videos[1]].iloc[0]
    assert failed["status"] == "error"
    assert failed["error"] == (f"--report-dir: cannot write {reports / 'b.json'} "
                               "(No space left on device)")
    assert (table[table["video"] != videos[1]]["status"] == "ok").all()
    assert sorted(p.name for p in reports.iterdir()) == ["a.json", "c.json"]


def test_an_out_that_cannot_be_written_is_saved_to_a_recovery_file(tmp_path, videos, ckpt,
                                                                   env, monkeypatch):
    import stcli.batch.writes as common

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(common, "write_atomic", enospc_for("all.jsonl", common.write_atomic))
    out = tmp_path / "all.jsonl"
    result = invoke("classify", *videos, "-c", ckpt, "--views", "1x1", "--out", out)
    assert result.exit_code == 3, result.output
    assert f"--out: cannot write {out} (No space left on device)" in result.stderr
    assert "internal error" not in result.stderr and not out.exists()
    recovered = list(tmp_path.glob("all.recovered-*.jsonl"))
    assert len(recovered) == 1
    assert f"saved to {recovered[0]}" in result.stderr
    records = [json.loads(line) for line in recovered[0].read_text().splitlines()]
    assert [r["video"] for r in records] == videos and all(r["status"] == "ok" for r in records)


def file_size_limit(size: int) -> list[str]:
    """A command prefix that runs a program allowed to write files of at most ``size``
    bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a longer write fails with EFBIG half
    way), as a disk filling up or a quota would, on any machine and without root."""
    code = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, "
            f"({size}, {size})); os.execvp(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", code]


def test_a_write_cut_short_leaves_the_earlier_files_whole(tmp_path, videos, ckpt, env):
    """Reports and --out go to a temporary file renamed into place: a run whose writes stop
    half way leaves the earlier run's files as they were, and nothing else behind."""
    out, reports = tmp_path / "all.json", tmp_path / "reports"
    args = ["classify", *videos, "-c", ckpt, "--views", "1x1", "--out", out, "--report-dir",
            reports]
    assert stcli(*args, env=env).returncode == 0
    earlier = {path: path.read_bytes() for path in (out, *reports.iterdir())}
    # Where a recovery file would go after the --out folder and the report folder.
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    # 256 bytes: less than any report (~1.3 KB) or --out of three videos.
    done = run_stcli(*map(str, args), "--top-k", "1", env={**env, "TMPDIR": str(tmp)}, cwd=cwd,
                     prefix=file_size_limit(256))
    assert done.returncode == 3, done.stderr
    assert f"--out: cannot write {out} (File too large)" in done.stderr
    assert f"{videos[0]}: --report-dir: cannot write {reports / 'a.json'} (File too large)" \
        in done.stderr
    assert "the results could not be saved anywhere" in done.stderr
    assert {path: path.read_bytes() for path in (out, *reports.iterdir())} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.json", "cwd", "in", "reports",
                                                           "tmp"]
    # No half-written recovery file (all.recovered-*.json) nor temporary of one; the folders
    # may hold others' files (a native library leaves a session file in $TMPDIR).
    assert [p for p in (*cwd.iterdir(), *tmp.iterdir()) if "all" in p.name] == []


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A 64 KiB tmpfs, where this machine lets the test mount one."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and a permissive container)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_loses_nothing(tmp_path, tiny_tmpfs, videos, ckpt, env):
    (tiny_tmpfs / "filler").write_bytes(b"\0" * (60 << 10))  # leaves ~4 KiB
    reports, out = tiny_tmpfs / "reports", tiny_tmpfs / "all.json"
    done = stcli("classify", *videos, "-c", ckpt, "--views", "1x1", "--out", out,
                 "--report-dir", reports, cwd=tmp_path, env=env)
    assert done.returncode == 3, done.stderr
    assert "No space left on device" in done.stderr and "internal error" not in done.stderr
    recovered = list(tmp_path.glob("all.recovered-*.json"))  # the working folder
    assert len(recovered) == 1, done.stderr
    records = json.loads(recovered[0].read_text())
    assert [r["video"] for r in records] == videos
    assert any("--report-dir: cannot write" in (r["error"] or "") for r in records)


# -- 4. a closed stdout ---------------------------------------------------------------------------
def test_a_closed_pipe_ends_quietly_and_out_is_still_written(tmp_path, videos, ckpt, env):
    out = tmp_path / "all.csv"
    exe = shutil.which("stcli") or f"{sys.executable} -m stcli"
    line = (f"{exe} classify {' '.join(videos)} -c {ckpt} --views 3x1 -f jsonl --out {out} "
            "| head -1; echo \"rc=${PIPESTATUS[0]}\" >&2")
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=REPO, timeout=300)
    assert json.loads(done.stdout)["video"] == videos[0]
    assert done.stderr.rstrip().endswith("rc=0"), done.stderr
    assert "rror" not in done.stderr and "Exception ignored" not in done.stderr
    assert set(pd.read_csv(out)["video"]) == set(videos)  # the file has every video
    # No file wanted: the run ends when its reader goes, still quietly.
    line = (f"{exe} classify {' '.join(videos)} -c {ckpt} --views 3x1 -f jsonl -q | head -1;"
            " echo \"rc=${PIPESTATUS[0]}\" >&2")
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=REPO, timeout=300)
    assert done.stderr == "rc=0\n"


# -- 5. render targets -------------------------------------------------------------------------
def test_render_targets_of_many_inputs_never_collide(tmp_path):
    from stcli.batch.commands import render_targets

    names = [tmp_path / "a" / "x.mp4", tmp_path / "b" / "x.mp4", tmp_path / "x.mov",
             tmp_path / "y.mp4"]
    targets = render_targets(tmp_path / "drawn", [str(n) for n in names])
    assert len(set(targets.values())) == len(names)
    assert all(t.parent == tmp_path / "drawn" and t.suffix == ".mp4" for t in targets.values())
    assert (tmp_path / "drawn").is_dir()


# -- 9. text is never markup -------------------------------------------------------------------
def test_help_is_plain_text_brackets_and_all():
    """Rich markup once swallowed "[plot]" from "pip install 'stcli[plot]'" in --help."""
    assert "'stcli[plot]'" in run_stcli("localize", "--help").stdout
    assert "'stcli[onnx]'" in run_stcli("detect", "--help").stdout
    assert "'stcli[plot]'" in run_stcli("evaluate", "ava", "--help").stdout
