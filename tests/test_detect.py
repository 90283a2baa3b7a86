"""stcli detect: keyframe plans, scores equal to a direct computation, the CLI end to end
(AVA CSV, per-video JSON, rendered MP4), bad inputs, and detect -> evaluate ava."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stcli.settings import DetectSettings, parse_timestamps
from stcli.tasks.detect import load_detector
from stcli.video.frames import VideoInfo, open_video
from stcli.video.sampling import keyframe_indices, keyframe_times, release_points
from stcli.video.transforms import normalize, resize_frames
from tests.conftest import make_video, run_stcli, warm_onnx_cache

AVA = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"]
FPS, FRAMES, SIZE = 10, 50, (200, 150)  # a 5-second video: keyframes 0..4 at 1 fps
BOXES = {  # timestamp -> normalized person boxes; nobody at t = 3
    0: [(0.10, 0.20, 0.40, 0.90)],
    1: [(0.15, 0.20, 0.45, 0.95)],
    2: [(0.50, 0.10, 0.90, 0.80), (0.05, 0.05, 0.30, 0.60)],
    4: [(0.00, 0.00, 1.00, 1.00)],
}


def test_keyframe_plans() -> None:
    assert keyframe_times(5.0, 1.0).tolist() == [0, 1, 2, 3, 4]
    assert keyframe_times(4.95, 0.5).tolist() == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]
    assert VideoInfo("v.mp4", 50, 10.0, 64, 48, "decord").frame_at(
        np.array([0, 1.04, 2.5, 9.0])).tolist() == [0, 10, 25, 49]
    clips = keyframe_indices(np.array([40, 2, 48]), 50)
    # The official AVA clip: c - 31 .. c + 29 (mmaction2 adds start_index twice).
    assert clips[0].tolist() == np.minimum(np.arange(9, 73, 4), 49).tolist()
    assert clips[0, 8] == 41  # one frame after the keyframe at 40
    assert clips[1].tolist() == [0] * 8 + [3, 7, 11, 15, 19, 23, 27, 31]
    assert clips[2, -4:].tolist() == [49, 49, 49, 49]
    order, keep_from = release_points(clips)
    assert order.tolist() == [1, 0, 2] and keep_from.tolist() == [0, 9, 17]
    with pytest.raises(ValueError):
        keyframe_times(5.0, 0.0)


def test_parse_timestamps() -> None:
    assert parse_timestamps("3, 1.5,1.5") == (1.5, 3.0)
    for bad in ("1,x", "-1"):
        with pytest.raises(Exception, match="--timestamps"):
            parse_timestamps(bad)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("detect")
    video = make_video(folder / "scene.mp4", frames=FRAMES, size=SIZE, fps=FPS)
    rows = ["video_id,timestamp,x1,y1,x2,y2,score"]
    rows += [f"scene,{t},{x1},{y1},{x2},{y2},0.95"
             for t, boxes in BOXES.items() for x1, y1, x2, y2 in boxes]
    proposals = folder / "proposals.csv"
    proposals.write_text("\n".join(rows) + "\n")
    return {"folder": folder, "video": video, "proposals": proposals}


def test_scores_equal_the_network_on_the_clip_built_by_hand(scene, reference_checkpoint) -> None:
    detector = load_detector(checkpoint=reference_checkpoint("ava"), device="cpu",
                             progress=False, batch_size=3, backend="torch")
    settings = DetectSettings(keyframe_interval=1.0, proposals=str(scene["proposals"]))
    (result,) = detector.detect(scene["video"], settings)
    assert result.status == "ok" and result.persons_from.startswith("proposals:")
    assert [k.timestamp for k in result.keyframes] == [0, 1, 2, 3, 4]
    assert [len(k.persons) for k in result.keyframes] == [1, 1, 2, 0, 1]
    keyframe = result.keyframes[2]
    assert keyframe.frame == 20
    # The same keyframe, built directly: the official clip, frames 20-31 .. 20+29 every 4th
    # (clamped), each resized to 256x256 and normalized, boxes scaled to 256.
    indices = np.clip(20 + np.arange(-31, 33, 4), 0, FRAMES - 1)
    with open_video(scene["video"]) as video:
        frames = video.read(indices.tolist())
    x = normalize(resize_frames(frames, (256, 256)), detector.preset.mean, detector.preset.std)
    clip = torch.from_numpy(x).permute(1, 0, 2, 3).unsqueeze(0)
    boxes = torch.tensor(BOXES[2], dtype=torch.float32) * 256
    rois = torch.cat([torch.zeros(2, 1), boxes], dim=1)
    with torch.inference_mode():
        expected = torch.sigmoid(detector.model(clip, rois)).numpy()
    for person, want in zip(keyframe.persons, expected, strict=True):
        got = np.zeros(81)
        for action in person.actions:
            got[action.action_id] = action.score
        assert [a.score for a in person.actions] == sorted(
            (a.score for a in person.actions), reverse=True)
        assert len(person.actions) == 80 and person.actions[0].label == detector.labels[
            person.actions[0].action_id]
        np.testing.assert_allclose(got[1:], want[1:], atol=1e-5)
        assert person.person_score == pytest.approx(0.95)
    np.testing.assert_allclose(keyframe.persons[0].box, BOXES[2][0], atol=1e-6)


def _ava_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, header=None, names=AVA)


def test_cli_writes_ava_csv_json_reports_and_a_rendered_mp4(scene, reference_checkpoint) -> None:
    folder = scene["folder"]
    out, rendered, reports = folder / "det.csv", folder / "annotated.mp4", folder / "reports"
    warm_onnx_cache("ava21", reference_checkpoint("ava"))  # the export line is not at issue
    proc = run_stcli("detect", str(scene["video"]), "-c", str(reference_checkpoint("ava")),
                     "--proposals", str(scene["proposals"]), "--keyframe-interval", "1",
                     "--out", str(out), "--render", str(rendered), "--report-dir",
                     str(reports), "--action-threshold", "0.6", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    table = _ava_csv(out)
    assert len(table) > 0 and (table.video_id == "scene").all()
    assert set(table.timestamp) <= {0, 1, 2, 4}  # t = 3 has nobody
    assert table[["x1", "y1", "x2", "y2"]].stack().between(0, 1).all()
    assert table.action_id.between(1, 80).all() and (table.score >= 0.6).all()
    report = json.loads((reports / "scene.json").read_text())
    assert [k["timestamp"] for k in report["keyframes"]] == [0, 1, 2, 3, 4]
    assert report["keyframes"][3]["persons"] == []
    # The CSV is the JSON's actions, one row per (person, action).
    rows = sum(len(p["actions"]) for k in report["keyframes"] for p in k["persons"])
    assert rows == len(table)
    with open_video(rendered) as video:
        assert (video.info.num_frames, video.info.width, video.info.height) == (FRAMES, *SIZE)
    codec = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name", "-of", "csv=p=0", str(rendered)],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert codec == "h264"


def test_keyframes_follow_interval_timestamps_and_offset(scene, reference_checkpoint) -> None:
    ckpt = str(reference_checkpoint("ava"))
    proc = run_stcli("detect", str(scene["video"]), "-c", ckpt, "--keyframe-interval", "0.5",
                     "--format", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    (rec,) = json.loads(proc.stdout)["videos"]
    assert [k["timestamp"] for k in rec["keyframes"]] == [i / 2 for i in range(10)]
    assert rec["persons_from"] == "hog"
    for keyframe in rec["keyframes"]:
        for person in keyframe["persons"]:
            assert all(0 <= v <= 1 for v in person["box"])
    # Proposal times drive the keyframes when no interval is given; --time-offset shifts
    # what is reported and what is looked up.
    shifted = scene["folder"] / "shifted.csv"
    shifted.write_text(scene["proposals"].read_text().replace("scene,", "scene,90"))
    proc = run_stcli("detect", str(scene["video"]), "-c", ckpt, "--proposals", str(shifted),
                     "--time-offset", "900", "--format", "csv", "-q")
    assert proc.returncode == 0, proc.stderr
    assert sorted(set(int(line.split(",")[1]) for line in proc.stdout.splitlines())) == [
        900, 901, 902, 904]


def test_bad_inputs_fail_alone_with_one_line_each(scene, reference_checkpoint, tmp_path) -> None:
    other = make_video(tmp_path / "other.mp4", frames=20, size=(64, 48), fps=FPS)
    missing = tmp_path / "missing.mp4"
    out = tmp_path / "det.json"
    proc = run_stcli("detect", str(scene["video"]), str(other), str(missing), "-c",
                     str(reference_checkpoint("ava")), "--proposals", str(scene["proposals"]),
                     "--out", str(out), "-q")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert "other.mp4" in lines[0] and "names no box for video id 'other'" in lines[0]
    assert "missing.mp4" in lines[1]
    videos = json.loads(out.read_text())["videos"]
    assert [v["status"] for v in videos] == ["ok", "error", "error"]
    assert len(videos[0]["keyframes"]) == 4  # the proposals' timestamps 0, 1, 2, 4


@pytest.mark.parametrize(("args", "message"), [
    (["--timestamps", "100"], "lies inside the video"),
])
def test_keyframes_outside_the_video_are_a_video_error(scene, reference_checkpoint, args,
                                                       message) -> None:
    proc = run_stcli("detect", str(scene["video"]), "-c", str(reference_checkpoint("ava")),
                     *args, "--format", "csv", "-q")
    assert proc.returncode == 1 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_setup_errors_exit_2(scene, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("scene,1,0.1,0.2,0.3\n")
    cases = [
        (["detect", str(scene["video"]), "--proposals", str(bad)], f"{bad}:1"),
        (["detect", str(scene["video"]), "-p", "k400"], "is for recognition"),
        (["classify", str(scene["video"]), "-p", "ava21"], "stcli detect"),
        (["detect", str(scene["video"]), str(bad), "--render", "x.mp4"], "need a folder"),
        (["detect", str(scene["video"]), "--detector", "yolo"], "onnx:"),
    ]
    for args, message in cases:
        proc = run_stcli(*args, "--checkpoint", str(tmp_path / "unused.pth"), "-q")
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, args


def test_shared_demo_with_the_built_in_person_detector(shared_videos, reference_checkpoint,
                                                       tmp_path) -> None:
    video = shared_videos / "demo_spatiotemporal_det.mp4"
    out, rendered = tmp_path / "demo.csv", tmp_path / "demo.mp4"
    proc = run_stcli("detect", str(video), "-c", str(reference_checkpoint("ava")), "--out",
                     str(out), "--render", str(rendered), "--format", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    (rec,) = json.loads(proc.stdout)["videos"]
    with open_video(video) as source:
        info = source.info
    assert [k["timestamp"] for k in rec["keyframes"]] == list(range(int(info.duration_s) + 1))
    assert sum(len(k["persons"]) for k in rec["keyframes"]) >= 3  # HOG finds the people
    table = _ava_csv(out)
    assert len(table) > 0 and set(table.timestamp) <= set(range(10))
    assert table[["x1", "y1", "x2", "y2"]].stack().between(0, 1).all()
    with open_video(rendered) as drawn:
        assert (drawn.info.num_frames, drawn.info.width, drawn.info.height) == (
            info.num_frames, info.width, info.height)


def test_detections_feed_evaluate_ava(scene, reference_checkpoint) -> None:
    """``--all-scores`` output scored by ``stcli evaluate ava`` against ground truth made of
    the same run's confident actions: every true action outranks every false one, so each
    evaluated class with ground truth has AP 1 (checks the formats fit end to end)."""
    folder = scene["folder"]
    pred, reports = folder / "all.csv", folder / "all_reports"
    proc = run_stcli("detect", str(scene["video"]), "-c", str(reference_checkpoint("ava")),
                     "--proposals", str(scene["proposals"]), "--all-scores", "--out", str(pred),
                     "--report-dir", str(reports), "-q")
    assert proc.returncode == 0, proc.stderr
    assert _ava_csv(pred).score.min() >= 0.002
    report = json.loads((reports / "scene.json").read_text())
    gt = folder / "gt.csv"
    rows = [f"scene,{int(k['timestamp']):04d},{','.join(f'{v:.3f}' for v in p['box'])},"
            f"{a['action_id']},{n}"
            for k in report["keyframes"] for n, p in enumerate(k["persons"])
            for a in p["actions"] if a["score"] >= 0.9]
    gt.write_text("\n".join(rows) + "\n")
    proc = run_stcli("evaluate", "ava", "--gt", str(gt), "--pred", str(pred), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["counts"]["classes_with_gt"] >= 5
    assert result["mAP"] == pytest.approx(1.0)
    # The same predictions against a ground truth whose boxes moved away score zero.
    moved = folder / "moved.csv"
    moved.write_text("".join(f"{line.rsplit(',', 6)[0]},0.000,0.000,0.010,0.010,"
                             f"{','.join(line.rsplit(',', 2)[1:])}\n" for line in rows))
    proc = run_stcli("evaluate", "ava", "--gt", str(moved), "--pred", str(pred), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["mAP"] == 0.0


def test_render_never_overwrites_an_input_and_makes_its_folder(scene, reference_checkpoint,
                                                               tmp_path) -> None:
    video = tmp_path / "scene.mp4"
    shutil.copyfile(scene["video"], video)
    before = video.read_bytes()
    common = ["--proposals", str(scene["proposals"]), "-c", str(reference_checkpoint("ava")),
              "-f", "json", "-q"]
    for target in (video, tmp_path):  # the file itself, and its own folder
        proc = run_stcli("detect", str(video), "--render", str(target), *common)
        assert proc.returncode == 2 and "is one of the input videos" in proc.stderr
        assert proc.stdout == "" and video.read_bytes() == before
    drawn = tmp_path / "new" / "drawn"
    proc = run_stcli("detect", str(video), "--render", str(drawn), *common)
    assert proc.returncode == 0, proc.stderr
    with open_video(drawn / "scene.mp4") as out:
        assert out.info.num_frames == FRAMES
