"""Ctrl-C, SIGTERM (``timeout``, batch schedulers) and SIGHUP (a closed terminal) in the
middle of a batch keep and write what is finished; the exit code is 128 + the signal. A
signal the run started with ignored (``nohup``) stays ignored."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import as_a_foreground_job, start_stcli


def start_batch(tmp_path: Path, checkpoint: Path, video: Path, count: int,
                preexec_fn=as_a_foreground_job) -> tuple[subprocess.Popen, list[str], Path,
                                                          Path]:
    """``stcli classify`` of ``count`` copies of ``video`` with per-video reports, started;
    returns the process, the videos, the report folder and the ``--out`` CSV."""
    videos = []
    for i in range(count):
        target = tmp_path / f"clip{i}.mp4"
        shutil.copyfile(video, target)
        videos.append(str(target))
    reports, out = tmp_path / "reports", tmp_path / "preds.csv"
    proc = start_stcli("classify", *videos, "--checkpoint", str(checkpoint), "--views", "3x3",
                       "--out", str(out), "--report-dir", str(reports), preexec_fn=preexec_fn)
    return proc, videos, reports, out


def wait_for_a_report(proc: subprocess.Popen, reports: Path) -> None:
    """Until the first video is finished (its report is written)."""
    deadline = time.monotonic() + 300
    while not (reports.is_dir() and any(reports.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no video finished in time"
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_writes_finished_results(tmp_path, reference_checkpoint,
                                               generated_videos, signum):
    proc, videos, reports, out = start_batch(tmp_path, reference_checkpoint("k400"),
                                             generated_videos["landscape"], 6)
    wait_for_a_report(proc, reports)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    assert f"interrupted ({signal.Signals(signum).name})" in stderr
    assert "Traceback" not in stderr
    table = pd.read_csv(out)
    done = sorted(set(table["video"]))
    assert 1 <= len(done) < len(videos)
    assert (table["status"] == "ok").all()
    # Every finished video has its per-video report, and the CSV agrees with it.
    for video in done:
        report = json.loads((reports / (os.path.basename(video)[:-4] + ".json")).read_text())
        assert report["status"] == "ok" and report["views"] == "3x3"
        top1 = table[(table["video"] == video) & (table["rank"] == 1)].iloc[0]
        assert top1["label"] == report["topk"][0]["label"]


def ignore_hangups() -> None:
    """``preexec_fn``: what ``nohup`` does before it runs a command."""
    as_a_foreground_job()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_nohup_outlives_its_terminal(tmp_path, reference_checkpoint, generated_videos):
    """Started with SIGHUP ignored, a closed terminal does not stop the batch."""
    proc, videos, reports, out = start_batch(tmp_path, reference_checkpoint("k400"),
                                             generated_videos["short"], 3, ignore_hangups)
    wait_for_a_report(proc, reports)
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "interrupted" not in stderr
    table = pd.read_csv(out)
    assert sorted(set(table["video"])) == videos and (table["status"] == "ok").all()
