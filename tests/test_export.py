"""ONNX export: the exported models reproduce the official goldens through onnxruntime,
carry their metadata, take any batch; int8 quantization and ``stcli export`` as run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stcli.deploy.quantize import (
    Agreement,
    QuantReport,
    agreement,
    split_heldout,
)
from stcli.engines.onnx_export import export_onnx
from stcli.engines.onnx_meta import read_metadata
from stcli.errors import UsageError
from stcli.network.build import load_network as load_model
from stcli.presets import load_preset
from tests.conftest import make_video, run_stcli
from tests.reference import FIXTURES, reference_input

ort = pytest.importorskip("onnxruntime")
ATOL = 1e-4  # the acceptance tolerance for exported models


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def k400(reference_checkpoint) -> dict:
    """The reference k400 model, and its exports at both golden input sizes."""
    ckpt = reference_checkpoint("k400")
    preset = load_preset("k400")
    model = load_model(preset, ckpt, torch.device("cpu"))
    folder = ckpt.parent / "onnx"
    paths = {shape: export_onnx(model, preset, folder / f"k400_{'x'.join(map(str, shape))}.onnx",
                                weights_sha256="f" * 64, shape=shape)
             for shape in [(16, 224, 224), (16, 256, 320)]}
    return {"ckpt": ckpt, "preset": preset, "model": model, "paths": paths}


@pytest.fixture(scope="module")
def ava(reference_checkpoint) -> dict:
    ckpt = reference_checkpoint("ava")
    preset = load_preset("ava21")
    model = load_model(preset, ckpt, torch.device("cpu"))
    path = export_onnx(model, preset, ckpt.parent / "onnx" / "ava.onnx")
    return {"ckpt": ckpt, "model": model, "path": path}


@pytest.mark.parametrize("case", [0, 1])
def test_exported_k400_reproduces_the_golden_logits_and_features(k400, case: int) -> None:
    golden = json.loads((FIXTURES / "golden_k400.json").read_text())["cases"][case]
    x = reference_input(golden["seed"], golden["shape"])
    session = _session(k400["paths"][tuple(golden["shape"][2:])])
    logits, features = session.run(["logits", "features"], {"clips": x})
    np.testing.assert_allclose(logits, golden["logits"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(features[:, :8], golden["pooled_first8"], atol=ATOL, rtol=0)


def test_batch_axis_is_dynamic_and_rows_are_independent(k400) -> None:
    session = _session(k400["paths"][(16, 224, 224)])
    x = reference_input(5, [3, 3, 16, 224, 224])
    together = session.run(["logits"], {"clips": x})[0]
    alone = np.concatenate([session.run(["logits"], {"clips": x[i : i + 1]})[0] for i in range(3)])
    assert together.shape == (3, 400)
    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=0)
    with torch.inference_mode():
        eager = k400["model"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(together, eager, atol=ATOL, rtol=0)


def test_metadata_says_how_to_feed_the_model(k400) -> None:
    session = _session(k400["paths"][(16, 224, 224)])
    meta = read_metadata(session)
    preset = k400["preset"]
    assert meta["preset"] == "k400" and meta["task"] == "recognition"
    assert meta["labels"] == preset.labels and len(meta["labels"]) == 400
    assert meta["mean"] == [123.675, 116.28, 103.53] and meta["std"] == [58.395, 57.12, 57.375]
    assert meta["inputs"] == {"clips": ["N", 3, 16, 224, 224]}
    assert meta["clip_len"] == 16 and meta["frame_interval"] == 4
    assert meta["protocol"]["test"] == {"num_clips": 10, "crops": 3, "short_side": 224,
                                        "crop_size": 224, "keep_ratio": True}
    assert meta["precision"] == "fp32" and meta["weights_sha256"] == "f" * 64
    assert [i.name for i in session.get_inputs()] == ["clips"]
    assert [o.name for o in session.get_outputs()] == ["logits", "features"]
    assert session.get_inputs()[0].shape == ["N", 3, 16, 224, 224]


def test_exported_ava_reproduces_the_golden_scores(ava) -> None:
    golden = json.loads((FIXTURES / "golden_ava.json").read_text())
    session = _session(ava["path"])
    assert [i.name for i in session.get_inputs()] == ["clips", "rois"]
    x = reference_input(3, [1, 3, 16, 256, 256])
    rois = np.array([[0.0, *b] for b in golden["boxes"]], dtype=np.float32)
    logits = session.run(["logits"], {"clips": x, "rois": rois})[0]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), golden["scores"], atol=ATOL, rtol=0)
    assert read_metadata(session)["inputs"] == {"clips": ["N", 3, 16, 256, 256],
                                                "rois": ["K", 5]}


def test_exported_ava_roi_align_matches_torch_on_awkward_boxes_and_clip_indices(ava) -> None:
    # The ONNX RoiAlign keeps the adaptive sampling grid data-dependent: boxes larger than
    # the map, outside it, of zero width, and on the second clip must all agree.
    x = reference_input(4, [2, 3, 16, 256, 256])
    rois = np.array([[0, -50, -40, 300, 290], [1, 100, 100, 100, 150], [1, 250, 250, 400, 400],
                     [0, -10, 5, 3, 20], [1, 10.3, 20.7, 120.2, 240.9]], dtype=np.float32)
    got = _session(ava["path"]).run(["logits"], {"clips": x, "rois": rois})[0]
    with torch.inference_mode():
        want = ava["model"](torch.from_numpy(x), torch.from_numpy(rois)).numpy()
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


# -- int8 ---------------------------------------------------------------------------------
def test_agreement_counts_top1_matches_and_probability_differences() -> None:
    fp32 = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    int8 = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.5, 0.0, 1.0]])
    a = agreement(fp32, int8)
    assert a.clips == 3 and a.top1_agreement == pytest.approx(2 / 3, abs=1e-6)
    p = np.exp([0.0, 0.0, 1.0]) / np.exp([0.0, 0.0, 1.0]).sum()
    q = np.exp([1.5, 0.0, 1.0]) / np.exp([1.5, 0.0, 1.0]).sum()
    assert a.max_prob_diff == pytest.approx(np.abs(p - q).max(), abs=1e-6)
    assert a.mean_top1_prob_diff == pytest.approx(abs(p[2] - q[2]) / 3, abs=1e-6)


def test_heldout_split_keeps_whole_videos_out() -> None:
    assert split_heldout(["a"]) == (["a"], [])
    assert split_heldout(["a", "b"]) == (["a"], ["b"])
    videos = [f"v{i}" for i in range(9)]
    calibration, held = split_heldout(videos)
    assert held == ["v3", "v7"] and sorted(calibration + held) == sorted(videos)


def test_int8_is_equivalent_only_at_95_percent_agreement_everywhere() -> None:
    def report(cal: float, held: float | None) -> QuantReport:
        return QuantReport("m.onnx", ["a"], ["b"], [], Agreement(20, cal, 0.01, 0.001),
                           None if held is None else Agreement(5, held, 0.01, 0.001), 80.0, 40.0)

    assert report(1.0, 0.96).equivalent and report(0.95, None).equivalent
    assert not report(1.0, 0.94).equivalent and not report(0.9, 1.0).equivalent
    assert report(1.0, 1.0).speedup == pytest.approx(2.0)
    assert report(1.0, 0.8).to_dict()["equivalent"] is False


def test_export_int8_cli_reports_agreement_and_the_model_classifies(
    tmp_path, reference_checkpoint, generated_videos
) -> None:
    ckpt = reference_checkpoint("k400")
    videos = tmp_path / "calib"
    videos.mkdir()
    for i, pattern in enumerate(["testsrc2", "mandelbrot", "smptebars"]):
        make_video(videos / f"v{i}.mp4", frames=48, size=(224, 168), pattern=pattern)
    (videos / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "k400_int8.onnx"
    proc = run_stcli("export", "--preset", "k400", "-c", str(ckpt), "--quantize", "int8",
                     "--calibrate", str(videos), "--calibration-clips", "12", "--out", str(out),
                     "-f", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "broken.mp4" in proc.stderr  # skipped with its reason, the rest went on
    record = json.loads(proc.stdout)
    assert record["precision"] == "int8" and Path(record["path"]) == out and out.is_file()
    report = record["int8"]
    assert report["skipped"] == [str(videos / "broken.mp4")]
    assert report["heldout_videos"] == [str(videos / "v2.mp4")]  # every fourth, at least one
    assert report["calibration"]["clips"] == 6 and report["heldout"]["clips"] == 3
    for name in ("calibration", "heldout"):
        assert 0.0 <= report[name]["top1_agreement"] <= 1.0
        assert 0.0 <= report[name]["max_prob_diff"] < 0.5
    worst = min(report["calibration"]["top1_agreement"], report["heldout"]["top1_agreement"])
    assert report["equivalent"] == (worst >= 0.95)
    assert ("NOT equivalent" in proc.stderr) == (not report["equivalent"])
    assert report["fp32_ms_per_clip"] > 0 and report["int8_ms_per_clip"] > 0
    meta = read_metadata(_session(out))
    assert meta["precision"] == "int8" and meta["preset"] == "k400"
    assert meta["int8_report"]["calibration"] == report["calibration"]
    # The int8 file is a model stcli runs: same record layout as any classify.
    done = run_stcli("classify", str(generated_videos["landscape"]), "-c", str(out), "--fast",
                     "-f", "json", "-q")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["status"] == "ok"


# -- stcli export, as a user runs it ------------------------------------------------------
def test_export_cli_fp32_then_classify_with_it_matches_torch(
    tmp_path, reference_checkpoint, generated_videos
) -> None:
    ckpt = reference_checkpoint("k400")
    out = tmp_path / "k400.onnx"
    proc = run_stcli("export", "--preset", "k400", "--checkpoint", str(ckpt), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)  # not a terminal: JSON
    assert record["precision"] == "fp32" and record["input_shape"] == [16, 224, 224]
    assert record["size_bytes"] == out.stat().st_size and record["int8"] is None
    video = str(generated_videos["landscape"])
    runs = {name: run_stcli("classify", video, *args, "--views", "2x3", "-f", "json", "-q")
            for name, args in [("onnx", ["-c", str(out)]), ("torch", ["-c", str(ckpt),
                                                                      "--backend", "torch"])]}
    tops = {}
    for name, done in runs.items():
        assert done.returncode == 0, done.stderr
        tops[name] = json.loads(done.stdout)[0]["topk"]
    assert [t["class_id"] for t in tops["onnx"]] == [t["class_id"] for t in tops["torch"]]
    np.testing.assert_allclose([t["score"] for t in tops["onnx"]],
                               [t["score"] for t in tops["torch"]], atol=1e-5)


@pytest.mark.parametrize(("args", "message"), [
    (["--quantize", "int8"], "--quantize int8 needs calibration videos"),
    (["--quantize", "int4", "--calibrate", "x"], "--quantize 'int4'"),
    (["--format", "tflite"], "--format 'tflite'"),
    (["--preset", "ava21", "--quantize", "int8", "--calibrate", "x"],
     "--quantize is for recognition presets"),
])
def test_export_cli_refuses_bad_options_in_one_line(tmp_path, args, message) -> None:
    proc = run_stcli("export", "--out", str(tmp_path / "m.onnx"), *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("stcli: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "m.onnx").exists()


def test_export_cli_wants_an_onnx_file_name(tmp_path) -> None:
    proc = run_stcli("export", "--out", str(tmp_path / "model.pth"))
    assert proc.returncode == 2 and "name the file NAME.onnx" in proc.stderr


def test_export_without_onnx_installed_says_what_to_install(monkeypatch, tmp_path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    from stcli.deploy.export import export_model as export

    with pytest.raises(UsageError, match=r"pip install 'stcli\[onnx\]'"):
        export("k400", tmp_path / "m.onnx")
