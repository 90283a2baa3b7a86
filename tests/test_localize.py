"""stcli localize: streaming windows, segments, outputs, and the end-to-end mAP check.

The scorer is the real network with reference weights whose classifier is fitted in the
test: three lavfi sources (moving test pattern, game of life, colour bars) become three
"actions" through a nearest-class-mean head on pooled features of training clips. An
untrimmed video assembled from parts of those sources, with known boundaries, is then
localized and evaluated through the CLI.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from stcli.presets import Protocol
from stcli.tasks.classify import load_recognizer
from stcli.tasks.localize import LocalizeSettings, load_localizer
from stcli.video.frames import open_video
from stcli.video.sampling import sliding_windows
from stcli.video.transforms import crop_boxes, normalize, resize_frames, resized_size
from tests.conftest import make_video, run_stcli
from tests.reference import reference_state_dict

SOURCES = {"grid": "testsrc2", "life": "life=seed=3", "bars": "rgbtestsrc"}
PART = 64  # frames per part of the untrimmed video: one default window
FPS = 25
ORDER = ["grid", "life", "bars", "life", "grid", "bars"]


def _later(seconds: float) -> list[str]:
    # Output seeking: training clips and test parts start at different times of the
    # source, so they do not show the same frames.
    return ["-ss", f"{seconds:g}"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, reference_checkpoint):
    """A k400-shaped checkpoint whose classes 0, 1, 2 are the three sources."""
    folder = tmp_path_factory.mktemp("fitted")
    recognizer = load_recognizer(checkpoint=reference_checkpoint("k400"), device="cpu",
                                 backend="torch")
    protocol = Protocol(num_clips=5, crops=1, short_side=224, crop_size=224)
    means = []
    for name, pattern in SOURCES.items():
        clip = make_video(folder / f"train_{name}.mp4", frames=128, size=(320, 240), fps=FPS,
                          pattern=pattern, extra=_later(20.0))
        feats = recognizer.features(recognizer.prepare(clip, protocol).clips)
        means.append(torch.from_numpy(feats).mean(0))
    mu = torch.stack(means).double()
    beta = 150.0  # confident on pure windows, graded on windows that straddle two parts
    state = reference_state_dict("k400")
    weight = torch.zeros_like(state["cls_head.fc_cls.weight"])
    bias = torch.full_like(state["cls_head.fc_cls.bias"], -1e4)
    weight[:3] = (beta * mu).float()
    bias[:3] = (-beta * (mu * mu).sum(1) / 2).float()
    state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"] = weight, bias
    checkpoint = folder / "fitted_state_dict.pth"
    torch.save(state, checkpoint)  # a bare state dict: another accepted form
    label_map = folder / "map.csv"
    label_map.write_text("source_class,target_label\n0,grid\n1,life\n2,bars\n")
    return checkpoint, label_map


@pytest.fixture(scope="module")
def untrimmed(tmp_path_factory):
    """Parts of PART frames each, concatenated; ground truth in ActivityNet JSON."""
    folder = tmp_path_factory.mktemp("untrimmed")
    listing = folder / "parts.txt"
    lines = []
    for i, name in enumerate(ORDER):
        part = make_video(folder / f"part{i}.mp4", frames=PART, size=(320, 240), fps=FPS,
                          pattern=SOURCES[name], extra=_later(3.0 * i))
        lines.append(f"file '{part}'")
    listing.write_text("\n".join(lines) + "\n")
    video = folder / "match.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)],
                   check=True)
    annotations = [
        {"label": name, "segment": [i * PART / FPS, (i + 1) * PART / FPS]}
        for i, name in enumerate(ORDER)
    ]
    gt = folder / "gt.json"
    gt.write_text(json.dumps({"database": {"match": {
        "subset": "test", "duration": len(ORDER) * PART / FPS, "fps": FPS,
        "annotations": annotations}}}))
    return video, gt


def test_end_to_end_cli_reaches_map_at_0_5(tmp_path, fitted, untrimmed):
    checkpoint, label_map = fitted
    video, gt = untrimmed
    pred = tmp_path / "pred.json"
    done = run_stcli("localize", str(video), "--checkpoint", str(checkpoint),
                     "--label-map", str(label_map), "--out", str(pred), "--quiet")
    assert done.returncode == 0, done.stderr
    doc = json.loads(pred.read_text())
    assert set(doc["results"]) == {"match"}
    assert {s["label"] for s in doc["results"]["match"]} <= {"grid", "life", "bars"}
    assert doc["stcli"]["settings"]["windows"] == [64]
    report = run_stcli("evaluate", "localization", "--gt", str(gt), "--pred", str(pred),
                       "--format", "json")
    assert report.returncode == 0, report.stderr
    scores = json.loads(report.stdout)
    by_threshold = dict(zip(scores["tiou_thresholds"], scores["mAP"], strict=True))
    assert by_threshold[0.5] >= 0.9, scores


def test_window_scores_match_direct_computation(fitted, untrimmed):
    """The streaming pass scores each window exactly like decoding its 16 frames alone."""
    checkpoint, _ = fitted
    video, _ = untrimmed
    localizer = load_localizer(checkpoint=checkpoint, device="cpu", batch_size=3,
                               backend="torch")
    settings = LocalizeSettings(windows=(64, 32), overlap=0.5)
    info, ws = localizer.window_scores(video, settings)
    plan = sliding_windows(info.num_frames, (64, 32), 0.5)
    assert len(ws.starts_s) == len(plan) and ws.scores.shape == (len(plan), 400)
    np.testing.assert_allclose(ws.starts_s, plan.starts / FPS)
    np.testing.assert_allclose(ws.ends_s, (plan.starts + plan.lengths) / FPS)
    size = resized_size(info.width, info.height, 224)
    x, y, k, _ = crop_boxes(*size, 224, 1)[0]
    with open_video(video) as v:
        for w in (0, 5, len(plan) - 1):
            frames = resize_frames(v.read(plan.indices[w]), size)[:, :, y:y + k, x:x + k]
            clip = normalize(frames, localizer.preset.mean, localizer.preset.std)
            direct = localizer.probabilities([clip.transpose(1, 0, 2, 3)[None]])[0]
            np.testing.assert_allclose(ws.scores[w], direct, atol=1e-6)


def test_pure_parts_are_recognised(fitted, untrimmed):
    checkpoint, label_map = fitted
    video, _ = untrimmed
    localizer = load_localizer(checkpoint=checkpoint, device="cpu")
    _, ws = localizer.window_scores(video, LocalizeSettings(label_map=str(label_map)))
    assert ws.labels == ["grid", "life", "bars"]
    for i, name in enumerate(ORDER):
        aligned = int(np.flatnonzero(np.isclose(ws.starts_s, i * PART / FPS))[0])
        assert ws.labels[int(ws.scores[aligned].argmax())] == name


def test_csv_scores_out_plot_and_errors(tmp_path, fitted, untrimmed):
    checkpoint, label_map = fitted
    video, _ = untrimmed
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    out, scores, plots = tmp_path / "seg.csv", tmp_path / "scores", tmp_path / "plots"
    done = run_stcli("localize", str(video), str(broken), "--checkpoint", str(checkpoint),
                     "--label-map", str(label_map), "--out", str(out), "--scores-out",
                     str(scores), "--scores-format", "npz", "--plot", str(plots),
                     "--max-segments", "4", "--nms", "hard", "--min-score", "0.5")
    assert done.returncode == 1, done.stderr
    assert "broken.mp4: not a readable video" in done.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["video", "video_id", "status", "error", "label",
                                   "class_id", "start_s", "end_s", "score"]
    ok = table[table["status"] == "ok"]
    assert 1 <= len(ok) <= 4 and (ok["score"] >= 0.5).all()
    assert (ok["end_s"] > ok["start_s"]).all() and ok["score"].is_monotonic_decreasing
    assert set(ok["label"]) <= {"grid", "life", "bars"}
    failed = table[table["status"] == "error"]
    assert len(failed) == 1 and pd.isna(failed["label"]).all()
    saved = np.load(scores / "match.npz")
    assert saved["scores"].shape == (len(saved["starts_s"]), 3)
    assert list(saved["labels"]) == ["grid", "life", "bars"]
    assert not (scores / "broken.npz").exists()
    png = (plots / "match.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_skip_existing_resumes_without_recomputing(tmp_path, fitted, untrimmed):
    checkpoint, _ = fitted
    video, _ = untrimmed
    reports = tmp_path / "reports"

    def run(*extra: str) -> dict:
        done = run_stcli("localize", str(video), "--checkpoint", str(checkpoint),
                         "--report-dir", str(reports), "-f", "jsonl", "-q", *extra)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = run("--classes", "0,1,2")
    report = json.loads((reports / "match.json").read_text())
    report["seconds"] = 12345.0  # no run takes this long: seen again only if reused
    (reports / "match.json").write_text(json.dumps(report))
    again = run("--classes", "0,1,2", "--skip-existing")
    assert again["seconds"] == 12345.0 and again["segments"] == first["segments"]
    # Other classes change the result: the report must not stand for them.
    other = run("--classes", "0,1", "--skip-existing")
    assert other["seconds"] != 12345.0
    assert {s["class_id"] for s in other["segments"]} <= {0, 1}


def test_bad_options_exit_2(fitted, untrimmed):
    checkpoint, _ = fitted
    video, _ = untrimmed
    for args, message in [
        (["--windows", "0"], "--windows"),
        (["--overlap", "1"], "--overlap"),
        (["--nms", "fuzzy"], "--nms"),
        (["--classes", "no such class"], "unknown class"),
        (["--skip-existing"], "--report-dir"),
    ]:
        done = run_stcli("localize", str(video), "--checkpoint", str(checkpoint), *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr


def test_segment_options_are_checked_before_the_model_loads(untrimmed, tmp_path):
    video, _ = untrimmed
    absent = tmp_path / "absent.pth"  # loading it would fail: the option must fail first
    for args, message in [(["--sigma", "0"], "--sigma 0.0"), (["--nms-iou", "1.5"], "--nms-iou")]:
        done = run_stcli("localize", str(video), "--checkpoint", str(absent), "-f", "csv", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "absent.pth" not in done.stderr
        assert done.stdout == ""  # not even the CSV header
