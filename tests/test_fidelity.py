"""The official pipeline's answers on real videos: with the ``k400-calibrated`` reference
weights (whose outputs respond to their input, unlike the plain reference weights),
``stcli classify`` gives ``golden_calibrated.json``'s averaged probabilities, made by
mmaction2 1.2.0 with decord and OpenCV, within the file's tolerance, with either backend.

Reads ``../shared/reference`` and ``../shared/videos``; skips without them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, run_stcli

REFERENCE = REPO.parent / "shared" / "reference"
TOLERANCE = 5e-4  # per probability, golden_calibrated.json's own


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = REFERENCE / "make_reference.py"
    if not (script.is_file() and (REFERENCE / "golden_calibrated.json").is_file()):
        pytest.skip("../shared/reference is not present")
    out = tmp_path_factory.mktemp("calibrated") / "k400_calibrated.pth"
    subprocess.run([sys.executable, str(script), "k400-calibrated", str(out)], check=True,
                   capture_output=True, timeout=300)
    return out


def classify_probs(video: Path, checkpoint: Path, views: str, *options: str) -> np.ndarray:
    """The 400 averaged probabilities ``stcli classify`` prints for ``video``."""
    view_args = ["--fast"] if "--fast" in views else ["--views", views]
    proc = run_stcli("classify", str(video), "-c", str(checkpoint), *options, "--top-k", "400",
                     *view_args, "-f", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    probs = np.zeros(400)
    for entry in json.loads(proc.stdout)[0]["topk"]:
        probs[entry["class_id"]] = entry["score"]
    return probs


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "openvino"])
def test_classify_gives_the_official_probabilities(calibrated: Path, shared_videos: Path,
                                                   backend: str) -> None:
    if backend == "openvino":
        pytest.importorskip("openvino")
    cases = json.loads((REFERENCE / "golden_calibrated.json").read_text())["cases"]
    for case in cases:
        probs = classify_probs(shared_videos / case["video"], calibrated, case["views"],
                               "--backend", backend)
        worst = float(np.abs(probs - np.array(case["probs"])).max())
        assert worst <= TOLERANCE, f"{case['video']} {case['views']}: off by {worst:.2e}"
        assert list(np.argsort(-probs)[:5]) == case["top5"]


def test_bf16_keeps_the_official_top1_of_the_averaged_views(calibrated: Path,
                                                            shared_videos: Path) -> None:
    """bf16 (OpenVINO where the CPU has it, else torch) is approximate: on these weights a
    single clip's probabilities move by up to ~0.3 (``stcli bench`` reports it), but the
    protocol's 30-view average keeps the official top-1. Not exact, and not claimed to be."""
    cases = json.loads((REFERENCE / "golden_calibrated.json").read_text())["cases"]
    for case in (c for c in cases if c["views"] == "10x3"):
        probs = classify_probs(shared_videos / case["video"], calibrated, case["views"],
                               "--precision", "bf16", "--device", "cpu")
        assert int(np.argmax(probs)) == case["top5"][0], case["video"]
        assert float(np.abs(probs - np.array(case["probs"])).max()) > 0  # really bf16
