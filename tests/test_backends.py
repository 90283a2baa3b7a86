"""Backends: which one runs, and that onnxruntime and half precision give the torch answers
through every task (classify, localize, features, detect, a trained head)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from stcli.choices import Precision
from stcli.engines import backends
from stcli.engines.onnx_export import cache_path, input_shape
from stcli.engines.torch_engine import DTYPES, TorchEngine
from stcli.errors import UsageError
from stcli.heads import Head
from stcli.loader import softmax
from stcli.network.build import load_network as load_model
from stcli.presets import load_preset
from stcli.tasks.classify import load_recognizer
from stcli.tasks.detect import DetectSettings, load_detector
from stcli.tasks.features import FeatureSettings, load_extractor
from stcli.tasks.localize import LocalizeSettings, load_localizer
from stcli.weights import sha256_of
from tests.conftest import choose, run_stcli
from tests.reference import reference_input

pytest.importorskip("onnxruntime")
CPU, CUDA = "cpu", "cuda"



# -- choosing ---------------------------------------------------------------------------
def test_auto_is_onnxruntime_on_cpu_fp32_and_torch_otherwise() -> None:
    assert choose("auto", CPU) == "onnxruntime"
    assert choose("auto", CUDA) == "torch"
    assert choose("auto", CPU, "fp16") == "torch"
    assert choose("torch", CPU, "fp16") == "torch"
    assert choose("onnxruntime", CPU) == "onnxruntime"


def test_without_onnxruntime_auto_falls_back_and_explicit_asks_to_install(monkeypatch) -> None:
    monkeypatch.setattr(backends, "onnxruntime_installed", lambda: False)
    assert choose("auto", CPU) == "torch"
    with pytest.raises(UsageError, match=r"pip install 'stcli\[onnx\]'"):
        choose("onnxruntime", CPU)


@pytest.mark.parametrize(("args", "message"), [
    (("onnxruntime", CUDA, "fp32"), "runs on the CPU"),
    (("onnxruntime", CPU, "fp16"), "--precision fp16 is not for --backend onnxruntime"),
    (("tensorrt", CPU, "fp32"), "unknown backend 'tensorrt'"),
    (("torch", CPU, "int8"), "unknown precision 'int8'"),
])
def test_impossible_combinations_are_usage_errors(args, message) -> None:
    with pytest.raises(UsageError, match=message):
        choose(*args)


def test_cli_rejects_a_bad_backend_before_touching_videos(tmp_path) -> None:
    proc = run_stcli("classify", str(tmp_path / "absent.mp4"), "--backend", "tensorrt")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("stcli: error: unknown backend 'tensorrt': choose one of "
                                   "auto, torch, onnxruntime, openvino")


# -- the same answers ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def recognizers(reference_checkpoint) -> dict:
    ckpt = reference_checkpoint("k400")
    return {b: load_recognizer("k400", ckpt, backend=b, progress=False)
            for b in ("torch", "onnxruntime")}


def test_onnxruntime_classifies_like_torch(recognizers, generated_videos) -> None:
    video = generated_videos["portrait"]
    got = {b: r.classify(video, views="3x3")[0] for b, r in recognizers.items()}
    assert recognizers["onnxruntime"].backend == "onnxruntime fp32"
    assert recognizers["onnxruntime"].model is None  # no torch model is even built
    assert [c.class_id for c in got["onnxruntime"].topk] == [c.class_id for c in got["torch"].topk]
    np.testing.assert_allclose([c.score for c in got["onnxruntime"].topk],
                               [c.score for c in got["torch"].topk], atol=1e-5)


def test_onnxruntime_gives_the_same_top5_on_the_real_videos(recognizers, shared_videos) -> None:
    for video in sorted(shared_videos.glob("*.mp4")):
        got = {b: r.classify(video)[0] for b, r in recognizers.items()}  # 10x3
        assert [c.label for c in got["onnxruntime"].topk] == \
            [c.label for c in got["torch"].topk], video.name
        np.testing.assert_allclose([c.score for c in got["onnxruntime"].topk],
                                   [c.score for c in got["torch"].topk], atol=1e-5)


def test_the_export_is_cached_by_checkpoint_hash_and_input_shape(
    recognizers, reference_checkpoint
) -> None:
    ckpt = reference_checkpoint("k400")
    preset = load_preset("k400")
    path = cache_path(preset, sha256_of(ckpt), input_shape(preset))
    assert recognizers["onnxruntime"].engine.path == path and path.is_file()
    assert path.name == f"k400-{sha256_of(ckpt)[:16]}-16x224x224.onnx"
    # A broken cache file is ours to repair: made again, not reported to the user.
    path.write_bytes(b"truncated")
    again = load_recognizer("k400", ckpt, backend="onnxruntime", progress=False)
    assert path.stat().st_size > 10**7 and again.engine.path == path


def test_a_protocol_with_another_crop_size_gets_its_own_export(reference_checkpoint,
                                                               generated_videos) -> None:
    # hmdb51 tests on 286-pixel crops, --fast takes 224: one cached export per input size.
    ckpt = reference_checkpoint("hmdb51")
    runners = {b: load_recognizer("hmdb51", ckpt, backend=b, progress=False)
               for b in ("torch", "onnxruntime")}
    video = generated_videos["landscape"]
    for fast in (False, True):
        got = {b: r.classify(video, fast=fast)[0] for b, r in runners.items()}
        assert got["torch"].status == "ok", got["torch"]
        assert [c.class_id for c in got["onnxruntime"].topk] == \
            [c.class_id for c in got["torch"].topk]
        np.testing.assert_allclose([c.score for c in got["onnxruntime"].topk],
                                   [c.score for c in got["torch"].topk], atol=1e-5)
    preset = load_preset("hmdb51")
    for size in (286, 224):
        assert cache_path(preset, sha256_of(ckpt), (16, size, size)).is_file()


def test_a_trained_head_runs_on_onnxruntime_features(recognizers, generated_videos) -> None:
    rng = np.random.default_rng(0)
    head = Head(rng.normal(0, 0.05, (3, 2048)), rng.normal(0, 0.1, 3), ["a", "b", "c"])
    video = generated_videos["landscape"]
    got = {}
    for name in ("torch", "onnxruntime"):
        runner = load_recognizer("k400", recognizers[name].weights, backend=name, progress=False)
        runner.use_head(head)
        got[name] = runner.classify(video, views="2x1", top_k=3)[0].topk
    assert [c.label for c in got["onnxruntime"]] == [c.label for c in got["torch"]]
    np.testing.assert_allclose([c.score for c in got["onnxruntime"]],
                               [c.score for c in got["torch"]], atol=1e-5)


def test_features_and_localize_match_torch(reference_checkpoint, generated_videos) -> None:
    ckpt = reference_checkpoint("k400")
    video = generated_videos["landscape"]
    feats = {b: load_extractor("k400", ckpt, backend=b, progress=False, batch_size=3)
             .extract(video, FeatureSettings(stride=16))[0].features
             for b in ("torch", "onnxruntime")}
    assert feats["torch"].shape == feats["onnxruntime"].shape and len(feats["torch"]) > 1
    np.testing.assert_allclose(feats["onnxruntime"], feats["torch"], atol=1e-4, rtol=0)
    settings = LocalizeSettings(windows=(32,), overlap=0.5)
    scores = {b: load_localizer("k400", ckpt, backend=b, progress=False)
              .window_scores(video, settings)[1].scores for b in ("torch", "onnxruntime")}
    np.testing.assert_allclose(scores["onnxruntime"], scores["torch"], atol=1e-5, rtol=0)


def test_detect_on_onnxruntime_matches_torch(reference_checkpoint, generated_videos,
                                             tmp_path) -> None:
    ckpt = reference_checkpoint("ava")
    proposals = tmp_path / "p.csv"
    proposals.write_text("landscape,0,0.1,0.1,0.5,0.9\nlandscape,0,0.4,0.2,0.95,0.8\n"
                         "landscape,1,0.0,0.0,1.0,1.0\n")
    settings = DetectSettings(proposals=str(proposals), timestamps=(0.0, 1.0))
    got = {b: load_detector("ava21", ckpt, backend=b, progress=False)
           .detect(generated_videos["landscape"], settings)[0] for b in ("torch", "onnxruntime")}
    persons = {b: [p for k in d.keyframes for p in k.persons] for b, d in got.items()}
    assert len(persons["torch"]) == len(persons["onnxruntime"]) == 3
    for a, b in zip(persons["torch"], persons["onnxruntime"], strict=True):
        np.testing.assert_allclose([s.score for s in b.actions], [s.score for s in a.actions],
                                   atol=1e-5)
        assert [s.action_id for s in b.actions] == [s.action_id for s in a.actions]


def test_cli_default_backend_is_onnxruntime_and_agrees_with_torch(reference_checkpoint,
                                                                   generated_videos) -> None:
    ckpt = str(reference_checkpoint("k400"))
    video = str(generated_videos["short"])
    out = {b: run_stcli("classify", video, "-c", ckpt, "--backend", b, "--fast", "-f", "json")
           for b in ("auto", "torch")}
    for proc in out.values():
        assert proc.returncode == 0, proc.stderr
    auto, torch_ = (json.loads(out[b].stdout)[0]["topk"] for b in ("auto", "torch"))
    assert [t["class_id"] for t in auto] == [t["class_id"] for t in torch_]
    np.testing.assert_allclose([t["score"] for t in auto], [t["score"] for t in torch_],
                               atol=1e-5)


def test_onnx_checkpoint_for_another_preset_or_with_torch_is_refused(tmp_path) -> None:
    from stcli.engines.onnx_export import export_onnx

    preset = load_preset("hmdb51")
    model = load_model(preset, _hmdb(tmp_path), CPU)
    path = export_onnx(model, preset, tmp_path / "hmdb.onnx")
    proc = run_stcli("classify", "x.mp4", "-c", str(path))
    assert proc.returncode == 2
    assert f"{path} was exported for preset 'hmdb51', not 'k400': pass --preset hmdb51" \
        in proc.stderr
    proc = run_stcli("classify", "x.mp4", "-c", str(path), "-p", "hmdb51", "--backend", "torch")
    assert proc.returncode == 2 and "is an ONNX model: run it with --backend" in proc.stderr


def _hmdb(tmp_path):
    from tests.reference import write_reference_checkpoint

    return write_reference_checkpoint("hmdb51", tmp_path / "hmdb51.pth")


# -- torch settings and precision (CPU-side cover for --device cuda --precision ...) -------
@pytest.fixture(scope="module")
def k400_model(reference_checkpoint):
    return lambda: load_model(load_preset("k400"), reference_checkpoint("k400"), CPU)


def test_channels_last_changes_nothing_but_the_layout(k400_model) -> None:
    x = torch.from_numpy(reference_input(1, [1, 3, 16, 224, 224]))
    plain = TorchEngine(k400_model(), CPU, channels_last=False)
    fast = TorchEngine(k400_model(), CPU)
    # 1x1 kernels are contiguous in both layouts; the 5x5 stem kernel tells them apart.
    assert fast.model.backbone.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.model.backbone.net.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    np.testing.assert_allclose(fast.logits(x), plain.logits(x), atol=2e-5)


@pytest.mark.parametrize(("precision", "prob_atol"), [("fp16", 1e-3), ("bf16", 5e-3)])
def test_half_precision_runs_in_that_dtype_and_stays_close(k400_model, precision,
                                                            prob_atol) -> None:
    x = torch.from_numpy(reference_input(1, [1, 3, 16, 224, 224]))
    ref = TorchEngine(k400_model(), CPU).logits(x)
    engine = TorchEngine(k400_model(), CPU, Precision.parse(precision))
    assert next(engine.model.parameters()).dtype == DTYPES[precision]
    got = engine.logits(x)
    assert got.dtype == np.float32  # callers always get float32 arrays
    assert not np.array_equal(got, ref)  # really computed in half precision
    np.testing.assert_allclose(softmax(got), softmax(ref), atol=prob_atol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_precisions_match_cpu(k400_model, precision) -> None:
    x = torch.from_numpy(reference_input(1, [2, 3, 16, 224, 224]))
    ref = TorchEngine(k400_model(), CPU).logits(x)
    got = TorchEngine(k400_model(), CUDA, Precision.parse(precision)).logits(x)
    atol = {"fp32": 1e-3, "fp16": 2e-3, "bf16": 1e-2}[precision]
    np.testing.assert_allclose(softmax(got), softmax(ref), atol=atol)


def test_cuda_request_without_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = run_stcli("classify", "x.mp4", "--device", "cuda", "--precision", "fp16",
                     env={"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")})
    assert proc.returncode == 2 and "torch sees no CUDA GPU" in proc.stderr


def test_half_precision_on_the_cpu_runs_and_warns(reference_checkpoint, generated_videos) -> None:
    proc = run_stcli("classify", str(generated_videos["short"]), "-c",
                     str(reference_checkpoint("k400")), "--precision", "fp16", "--device", "cpu",
                     "--fast", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert "warning: --precision fp16 on this CPU is much slower than fp32" in proc.stderr
    assert json.loads(proc.stdout)[0]["status"] == "ok"
