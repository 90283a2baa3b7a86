"""The OpenVINO backend: bf16 on a CPU with bf16 arithmetic (the fast, approximate path)
and fp32 (the exact one, agreeing with onnxruntime); chosen by ``--precision bf16`` when
installed, torch-free, and never presented as exact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stcli.engines import backends as engines
from stcli.engines.backends import cpu_has_bf16
from stcli.errors import UsageError
from stcli.loader import softmax
from stcli.tasks.classify import load_recognizer
from tests.conftest import choose, run_stcli
from tests.reference import FIXTURES, reference_input

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")
CPU = "cpu"

needs_bf16 = pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 arithmetic")


def test_bf16_on_the_cpu_picks_openvino_where_the_cpu_computes_bf16(monkeypatch) -> None:
    monkeypatch.setattr(engines, "cpu_has_bf16", lambda: True)
    assert choose("auto", CPU, "bf16") == "openvino"
    assert choose("auto", CPU, "fp32") == "onnxruntime"  # exact stays the default
    assert choose("auto", "cuda", "bf16") == "torch"
    monkeypatch.setattr(engines, "cpu_has_bf16", lambda: False)  # emulated bf16: torch
    assert choose("auto", CPU, "bf16") == "torch"
    monkeypatch.setattr(engines, "openvino_installed", lambda: False)
    with pytest.raises(UsageError, match=r"pip install 'stcli\[openvino\]'"):
        choose("openvino", CPU, "bf16")


@pytest.mark.parametrize(("args", "message"), [
    (("openvino", "cuda", "bf16"), "--backend openvino runs on the CPU"),
    (("openvino", CPU, "fp16"), "--precision fp16 is not for --backend openvino: it runs "
                                "fp32 or bf16"),
    (("onnxruntime", CPU, "bf16"), "--precision bf16 is not for --backend onnxruntime"),
])
def test_impossible_combinations_are_usage_errors(args, message) -> None:
    with pytest.raises(UsageError, match=message):
        choose(*args)


@pytest.fixture(scope="module")
def recognizers(reference_checkpoint) -> dict:
    ckpt = reference_checkpoint("k400")
    return {name: load_recognizer("k400", ckpt, backend=backend, precision=precision,
                                  progress=False)
            for name, backend, precision in (("onnxruntime", "onnxruntime", "fp32"),
                                             ("openvino fp32", "openvino", "fp32"),
                                             ("openvino bf16", "openvino", "bf16"))}


def test_openvino_fp32_classifies_like_onnxruntime(recognizers, generated_videos) -> None:
    video = generated_videos["landscape"]
    got = {n: recognizers[n].classify(video, views="2x3")[0]
           for n in ("onnxruntime", "openvino fp32")}
    assert recognizers["openvino fp32"].backend == "openvino fp32"
    assert recognizers["openvino fp32"].model is None  # no torch model is built
    assert [c.class_id for c in got["openvino fp32"].topk] == \
        [c.class_id for c in got["onnxruntime"].topk]
    np.testing.assert_allclose([c.score for c in got["openvino fp32"].topk],
                               [c.score for c in got["onnxruntime"].topk], atol=1e-5)


@needs_bf16
def test_bf16_really_computes_in_bf16_and_stays_close(recognizers) -> None:
    """Against the official logits for the reference weights (``golden_k400.json``, seed-1
    input): fp32 agrees to float32 noise (measured 2-3e-6 for both runtimes), bf16 (8 bits
    of mantissa) differs by far more than that noise and by far less than the logits'
    spread (measured 0.0147 of logits within +-4.0; probabilities 5.3e-4)."""
    bf16 = recognizers["openvino bf16"]
    # What the compiled model runs, read back from OpenVINO (INFERENCE_PRECISION_HINT):
    # a CPU without bf16 arithmetic would run the bf16 hint as f32 and say so here.
    assert bf16.backend == "openvino bf16"
    assert recognizers["openvino fp32"].backend == "openvino fp32"
    case = json.loads((FIXTURES / "golden_k400.json").read_text())["cases"][0]
    clips = reference_input(case["seed"], case["shape"])
    official = np.array(case["logits"], dtype=np.float64)
    for name in ("onnxruntime", "openvino fp32"):  # the noise floor: golden's own tolerance
        fp32 = recognizers[name].engine.logits(clips)
        assert np.abs(fp32 - official).max() <= 5e-5, name
    got = bf16.engine.logits(clips)
    worst = float(np.abs(got - official).max())
    assert 1e-3 <= worst <= 0.05, f"bf16 logits off by {worst:.3g}"  # 20x the noise bound
    probs = float(np.abs(softmax(got) - softmax(official)).max())
    assert 1e-5 <= probs <= 2e-3, f"bf16 probabilities off by {probs:.3g}"
    assert int(np.argmax(got)) == int(np.argmax(official))
    # What was returned is ours: the next call of the same shape (which may reuse the
    # runtime's output buffer) leaves it untouched.
    kept = got.copy()
    other = bf16.engine.logits(-clips)
    assert not np.array_equal(other, kept)
    np.testing.assert_array_equal(got, kept)


@needs_bf16
def test_cli_bf16_says_it_is_approximate(reference_checkpoint,
                                                                  generated_videos) -> None:
    proc = run_stcli("classify", str(generated_videos["short"]), "-c",
                     str(reference_checkpoint("k400")), "--precision", "bf16", "--fast",
                     "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert "openvino bf16: bf16 arithmetic gives probabilities close to fp32's, not equal" \
        in proc.stderr
    assert json.loads(proc.stdout)[0]["status"] == "ok"
