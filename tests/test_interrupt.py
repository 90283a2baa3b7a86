"""Ctrl-C, SIGTERM (``timeout``, batch schedulers) and SIGHUP (a closed terminal) in the
middle of a batch keep and write what is finished; the exit code is 128 + the signal."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_writes_finished_results(tmp_path, reference_checkpoint,
                                               generated_videos, signum):
    videos = []
    for i in range(6):
        target = tmp_path / f"clip{i}.mp4"
        shutil.copyfile(generated_videos["landscape"], target)
        videos.append(str(target))
    reports, out = tmp_path / "reports", tmp_path / "preds.csv"
    exe = shutil.which("stcli")
    cmd = [exe] if exe else [sys.executable, "-m", "stcli"]
    proc = subprocess.Popen(
        [*cmd, "classify", *videos, "--checkpoint", str(reference_checkpoint("k400")),
         "--views", "3x3", "--out", str(out), "--report-dir", str(reports)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 300
    while not (reports.is_dir() and any(reports.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no video finished in time"
        time.sleep(0.1)
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
