"""SqueezeTime as a backbone: stcli features, train-head (with its feature cache), and
classify / localize with --head, on generated videos of four synthetic actions.

The actions are squares of four colours moving in four directions over a dark
background; every clip differs in start position, speed and size. The backbone is the
reference-weights network (not trained on anything), so the head has to find the actions
in generic features, as it would for a user's own classes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from stcli.tasks.classify import load_recognizer
from stcli.tasks.features import FeatureSettings, load_extractor
from stcli.video.frames import open_video
from stcli.video.transforms import crop_boxes, normalize, resize_frames, resized_size
from tests.conftest import make_video, run_stcli

FPS, SIZE, FRAMES = 25, 112, 64
# name -> (colour, dx, dy) in pixels per frame
ACTIONS = {"red_right": ("red", 1, 0), "blue_down": ("blue", 0, 1),
           "green_left": ("green", -1, 0), "yellow_up": ("yellow", 0, -1)}


def action_clip(path: Path, name: str, seed: int, frames: int = FRAMES) -> Path:
    """A square of the action's colour crossing the frame in the action's direction."""
    colour, dx, dy = ACTIONS[name]
    rng = np.random.default_rng(seed)
    side = int(rng.integers(16, 28))
    speed = float(rng.uniform(0.8, 1.6))
    x0, y0 = (int(v) for v in rng.integers(8, SIZE - side - 8, size=2))
    # Start where the motion has room: left for rightward, bottom for upward, ...
    x0 = 4 if dx > 0 else SIZE - side - 4 if dx < 0 else x0
    y0 = 4 if dy > 0 else SIZE - side - 4 if dy < 0 else y0
    x = f"{x0}+{dx * speed:.3f}*n" if dx else str(x0)
    y = f"{y0}+{dy * speed:.3f}*n" if dy else str(y0)
    subprocess.run([
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
        f"color=c=0x202020:s={SIZE}x{SIZE}:r={FPS}", "-f", "lavfi", "-i",
        f"color=c={colour}:s={side}x{side}:r={FPS}", "-filter_complex",
        f"[0][1]overlay=x='{x}':y='{y}':shortest=1", "-frames:v", str(frames),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """clips.csv (8 per action, relative paths), one extra clip, and 5 held-out per action."""
    folder = tmp_path_factory.mktemp("actions")
    rows, held_out = ["path,label"], ["path,label"]
    for a, name in enumerate(ACTIONS):
        for k in range(8):
            action_clip(folder / f"{name}_{k}.mp4", name, seed=100 * a + k)
            rows.append(f"{name}_{k}.mp4,{name}")
        for k in range(5):
            path = action_clip(folder / f"test_{name}_{k}.mp4", name, seed=100 * a + 50 + k)
            held_out.append(f"{path},{name}")
    (folder / "clips.csv").write_text("\n".join(rows) + "\n")
    action_clip(folder / "extra.mp4", "red_right", seed=999)
    (folder / "more.csv").write_text("\n".join([*rows, "extra.mp4,red_right"]) + "\n")
    (folder / "held_out.csv").write_text("\n".join(held_out) + "\n")
    return {"folder": folder, "csv": folder / "clips.csv", "more": folder / "more.csv",
            "held_out": folder / "held_out.csv"}


@pytest.fixture(scope="module")
def trained(clips, reference_checkpoint) -> dict:
    """A head trained through the CLI (cold cache), then again with one more clip."""
    folder, ckpt = clips["folder"], str(reference_checkpoint("k400"))
    cache, head = folder / "cache", folder / "actions.head"
    first = run_stcli("train-head", str(clips["csv"]), "-c", ckpt, "--out", str(head),
                      "--cache", str(cache), "--format", "json", "-q")
    assert first.returncode == 0, first.stderr
    second = run_stcli("train-head", str(clips["more"]), "-c", ckpt, "--out",
                       str(folder / "more.head"), "--cache", str(cache), "--format", "json",
                       "-q")
    assert second.returncode == 0, second.stderr
    return {"head": head, "first": json.loads(first.stdout),
            "second": json.loads(second.stdout), "checkpoint": ckpt}


def test_features_equal_the_recognizers_pooled_output(tmp_path, reference_checkpoint) -> None:
    video = make_video(tmp_path / "v.mp4", frames=90, size=(200, 150), fps=FPS)
    extractor = load_extractor(checkpoint=reference_checkpoint("k400"), device="cpu",
                               batch_size=3, progress=False, backend="torch")
    (result,) = extractor.extract(video, FeatureSettings(stride=8))
    assert result.status == "ok"
    starts = list(range(0, 90 - 61 + 1, 8))
    assert result.features.shape == (len(starts), 2048) and result.snippets == len(starts)
    np.testing.assert_allclose(result.starts_s, np.array(starts) / FPS)
    np.testing.assert_allclose(result.ends_s, (np.array(starts) + 61) / FPS)
    recognizer = load_recognizer(checkpoint=reference_checkpoint("k400"), device="cpu",
                                 progress=False, backend="torch")
    size = resized_size(200, 150, 224)
    x, y, k, _ = crop_boxes(*size, 224, 1)[0]
    with open_video(video) as source:
        for s in (0, len(starts) - 1):
            indices = starts[s] + np.arange(16) * 4
            frames = resize_frames(source.read(indices), size)[:, :, y:y + k, x:x + k]
            clip = normalize(frames, recognizer.preset.mean, recognizer.preset.std)
            with torch.inference_mode():
                want = recognizer.model.features(
                    torch.from_numpy(clip).transpose(0, 1)[None])[0].numpy()
            np.testing.assert_allclose(result.features[s], want, atol=1e-4, rtol=1e-5)


def test_features_cli_writes_npy_and_sidecar(tmp_path, reference_checkpoint) -> None:
    video = make_video(tmp_path / "clip.mp4", frames=40, size=(96, 64), fps=10)
    out = tmp_path / "feats"
    proc = run_stcli("features", str(video), str(tmp_path / "missing.mp4"), "-c",
                     str(reference_checkpoint("k400")), "--out", str(out), "--fps", "2",
                     "--dtype", "float16", "-f", "jsonl", "-q")
    assert proc.returncode == 1 and "missing.mp4" in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok", "error"]
    feats = np.load(out / "clip.npy")
    side = json.loads((out / "clip.json").read_text())
    # A 4 s video shorter than one 61-frame snippet: one snippet, from frame 0.
    assert feats.shape == (1, 2048) and feats.dtype == np.float16
    assert side["snippet_start_s"] == [0.0] and side["snippet_end_s"] == [4.0]
    # --fps replaces --stride: the sidecar records no stride rather than an unused one.
    assert side["settings"] == {"stride": None, "fps": 2.0, "dtype": "float16",
                                "start": None, "end": None}
    assert len(side["checkpoint_sha256"]) == 64 and side["frames"] == 40
    assert not (out / "missing.npy").exists()


def test_train_head_reaches_95_percent_and_caches_features(trained) -> None:
    first, second = trained["first"], trained["second"]
    assert first["features_computed"] == 32 and first["features_cached"] == 0
    # One more clip in the CSV: only that clip is computed.
    assert second["features_computed"] == 1 and second["features_cached"] == 32
    report = first["report"]
    assert report["val_accuracy"] >= 0.95
    assert sorted(report["labels"]) == sorted(ACTIONS)
    meta = json.loads((trained["head"] / "head.json").read_text())
    assert meta["labels"] == report["labels"]


def test_classify_with_the_head_on_held_out_clips(clips, trained, tmp_path) -> None:
    preds = tmp_path / "preds.csv"
    paths = [line.split(",")[0] for line in clips["held_out"].read_text().splitlines()[1:]]
    proc = run_stcli("classify", *paths, "-c", trained["checkpoint"], "--head",
                     str(trained["head"]), "--views", "3x1", "--out", str(preds), "-q")
    assert proc.returncode == 0, proc.stderr
    report = run_stcli("evaluate", "classification", "--gt", str(clips["held_out"]),
                       "--pred", str(preds), "--format", "json")
    assert report.returncode == 0, report.stderr
    scores = json.loads(report.stdout)
    assert scores["top1"] >= 0.95, scores


def test_localize_with_the_head_on_an_untrimmed_video(clips, trained, tmp_path) -> None:
    order = ["red_right", "blue_down", "green_left", "yellow_up", "blue_down", "red_right"]
    listing = tmp_path / "parts.txt"
    listing.write_text("".join(
        f"file '{action_clip(tmp_path / f'part{i}.mp4', name, seed=700 + i)}'\n"
        for i, name in enumerate(order)))
    video = tmp_path / "match.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)],
                   check=True)
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"match": {
        "subset": "test", "duration": len(order) * FRAMES / FPS, "annotations": [
            {"label": name, "segment": [i * FRAMES / FPS, (i + 1) * FRAMES / FPS]}
            for i, name in enumerate(order)]}}}))
    pred = tmp_path / "pred.json"
    proc = run_stcli("localize", str(video), "-c", trained["checkpoint"], "--head",
                     str(trained["head"]), "--out", str(pred), "-q")
    assert proc.returncode == 0, proc.stderr
    assert {s["label"] for s in json.loads(pred.read_text())["results"]["match"]} <= set(ACTIONS)
    report = run_stcli("evaluate", "localization", "--gt", str(gt), "--pred", str(pred),
                       "--format", "json")
    assert report.returncode == 0, report.stderr
    scores = json.loads(report.stdout)
    by_threshold = dict(zip(scores["tiou_thresholds"], scores["mAP"], strict=True))
    assert by_threshold[0.5] >= 0.8, scores


def test_a_head_refuses_another_checkpoint(clips, trained, tmp_path) -> None:
    state = torch.load(trained["checkpoint"], weights_only=False)
    state["state_dict"]["cls_head.fc_cls.bias"] += 1.0
    other = tmp_path / "other.pth"
    torch.save(state, other)
    video = clips["folder"] / "extra.mp4"
    proc = run_stcli("classify", str(video), "-c", str(other), "--head", str(trained["head"]))
    assert proc.returncode == 2
    assert "trained on features of checkpoint sha256" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_stcli("classify", str(video), "-p", "hmdb51", "--head", str(trained["head"]),
                     "-c", trained["checkpoint"])
    assert proc.returncode == 2


def test_train_head_needs_two_classes_and_lists_bad_clips(clips, reference_checkpoint,
                                                          tmp_path) -> None:
    folder = clips["folder"]
    csv = tmp_path / "few.csv"
    csv.write_text(f"{folder}/red_right_0.mp4,red_right\n{folder}/red_right_1.mp4,red_right\n"
                   f"{folder}/blue_down_0.mp4,blue_down\n{tmp_path}/gone.mp4,blue_down\n")
    proc = run_stcli("train-head", str(csv), "-c", str(reference_checkpoint("k400")), "--out",
                     str(tmp_path / "x.head"), "--cache", str(folder / "cache"), "-q")
    assert proc.returncode == 2
    assert "gone.mp4" in proc.stderr and "blue_down" in proc.stderr
    assert not (tmp_path / "x.head").exists()
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.mp4,x,1\n")
    proc = run_stcli("train-head", str(bad), "--out", str(tmp_path / "y.head"), "-q")
    assert proc.returncode == 2 and f"{bad}:2" in proc.stderr
