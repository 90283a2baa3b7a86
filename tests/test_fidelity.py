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


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_classify_gives_the_official_probabilities(calibrated: Path, shared_videos: Path,
                                                   backend: str) -> None:
    cases = json.loads((REFERENCE / "golden_calibrated.json").read_text())["cases"]
    for case in cases:
        views = ["--fast"] if "--fast" in case["views"] else ["--views", case["views"]]
        proc = run_stcli("classify", str(shared_videos / case["video"]), "-c", str(calibrated),
                         "--backend", backend, "--top-k", "400", *views, "-f", "json", "-q")
        assert proc.returncode == 0, proc.stderr
        probs = np.zeros(400)
        for entry in json.loads(proc.stdout)[0]["topk"]:
            probs[entry["class_id"]] = entry["score"]
        worst = float(np.abs(probs - np.array(case["probs"])).max())
        assert worst <= TOLERANCE, f"{case['video']} {case['views']}: off by {worst:.2e}"
        assert list(np.argsort(-probs)[:5]) == case["top5"]
