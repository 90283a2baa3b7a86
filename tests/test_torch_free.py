"""With onnxruntime and a cached export (or an ``.onnx`` checkpoint), classify, localize,
features and detect never import torch (~1 s of start-up): checked in a fresh process
after a real run, through the CLI as a user runs it. The torch backend does import it,
which shows the check can fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stcli.heads import Head, save_head
from stcli.weights import sha256_of
from tests.conftest import REPO, offline_env

pytest.importorskip("onnxruntime")

# Runs the CLI in this process, then reports its exit code and the torch modules loaded.
PROBE = """
import json, sys
from stcli.cli import app
sys.argv = ["stcli", *sys.argv[2:]]
try:
    app()
    code = 0
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
with open(OUT, "w") as f:
    json.dump({"code": code, "torch": loaded[:5]}, f)
"""


def probe(tmp_path: Path, env: dict[str, str], *args: object) -> dict:
    out = tmp_path / "probe.json"
    script = PROBE.replace("OUT", repr(str(out)))
    done = subprocess.run([sys.executable, "-c", script, "-", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, **env})
    assert out.is_file(), done.stderr
    result = json.loads(out.read_text())
    assert result["code"] == 0, done.stderr
    return result


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, reference_checkpoint) -> dict[str, str]:
    return offline_env(tmp_path_factory.mktemp("xdg"), ("k400", reference_checkpoint("k400")),
                       ("ava21", reference_checkpoint("ava")))


@pytest.mark.parametrize("command", ["classify", "localize", "features", "detect"])
def test_onnxruntime_runs_never_import_torch(command, tmp_path, env, reference_checkpoint,
                                             generated_videos) -> None:
    video = generated_videos["landscape"]
    args = {
        "classify": ["--views", "2x1"],
        "localize": ["--windows", "32"],
        "features": ["--out", tmp_path / "features", "--stride", "16"],
        "detect": ["--keyframe-interval", "1.5"],
    }[command]
    variant = "ava" if command == "detect" else "k400"
    result = probe(tmp_path, env, command, video, "-c", reference_checkpoint(variant),
                   "--backend", "auto", "-f", "json", "-q", *args)
    assert result["torch"] == []


def test_an_onnx_checkpoint_and_a_head_need_no_torch(tmp_path, env, reference_checkpoint,
                                                     generated_videos, monkeypatch) -> None:
    from stcli.engines.onnx_export import cache_path, input_shape
    from stcli.presets import load_preset

    ckpt = reference_checkpoint("k400")
    sha = sha256_of(ckpt)
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    exported = cache_path(load_preset("k400"), sha, input_shape(load_preset("k400")))
    assert exported.is_file()
    rng = np.random.default_rng(1)
    head = save_head(Head(rng.normal(0, 0.05, (2, 2048)), rng.normal(0, 0.1, 2), ["x", "y"],
                          meta={"preset": "k400", "backbone_sha256": sha}),
                     tmp_path / "mine.head")
    video = generated_videos["landscape"]
    result = probe(tmp_path, env, "classify", video, "-c", exported, "--views", "1x1", "-f",
                   "json", "-q")
    assert result["torch"] == []
    result = probe(tmp_path, env, "classify", video, "-c", ckpt, "--head", head, "--views",
                   "1x1", "-f", "json", "-q")
    assert result["torch"] == []


def test_openvino_runs_never_import_torch(tmp_path, env, reference_checkpoint,
                                          generated_videos) -> None:
    pytest.importorskip("openvino")
    result = probe(tmp_path, env, "classify", generated_videos["landscape"], "-c",
                   reference_checkpoint("k400"), "--backend", "openvino", "--precision",
                   "bf16", "--views", "1x1", "-f", "json", "-q")
    assert result["torch"] == []


def test_the_torch_backend_does_import_torch(tmp_path, env, reference_checkpoint,
                                             generated_videos) -> None:
    result = probe(tmp_path, env, "classify", generated_videos["landscape"], "-c",
                   reference_checkpoint("k400"), "--backend", "torch", "--views", "1x1",
                   "-f", "json", "-q")
    assert "torch" in result["torch"]
