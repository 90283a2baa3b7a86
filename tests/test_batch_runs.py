"""Batch runs that never lose work or lie: resume by fingerprint, outputs checked before
the work, write failures, closed pipes. Each test first reproduces what failed for a user
(issue "Batch runs that never lose work or lie"); signals are in ``test_interrupt.py``.

Runs are real: ``stcli`` subprocesses on videos ffmpeg makes, reference weights, and
one ONNX export warmed per module. Where a full disk must be shown on every machine, the
failure is injected in-process at the file writer (``ENOSPC``); a real small tmpfs is
used as well where this machine lets the test mount one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import REPO, run_stcli

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


# -- 1. resume by fingerprint ------------------------------------------------------------------
def test_resume_reuses_only_reports_whose_fingerprint_matches(tmp_path, videos, ckpt, env):
    reports = tmp_path / "reports"
    common = ["classify", *videos, "-c", ckpt, "--views", "1x1", "--report-dir", reports,
              "-f", "jsonl"]
    first = stcli(*common, env=env)
    assert first.returncode == 0, first.stderr
    fingerprint = json.loads((reports / "a.json").read_text())["fingerprint"]
    assert fingerprint["command"] == "classify" and fingerprint["preset"] == "k400"
    assert fingerprint["settings"] == {"views": "1x1", "fast": False, "top_k": 5,
                                       "start": None, "end": None}
    assert fingerprint["input"]["size"] == os.path.getsize(videos[0])
    assert len(fingerprint["checkpoint_sha256"]) == 64
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
    import stcli.cli._common as common

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
    from stcli.cli.detect import render_targets

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
