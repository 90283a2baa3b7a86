"""``--start``/``--end``: a part of a video analysed as if it had been cut out. The
reference is the part really cut out of an all-intra video with ``ffmpeg -c copy`` (the
same coded frames, so the same pixels); results must equal that file's, with every time
shifted into the original video's timeline. Also: the time syntax, the frame rule
``start <= t < end``, and the ffmpeg pipe's seek to the first wanted frame, which must
return the frames decoding from the start returns."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stcli.errors import UsageError, VideoError
from stcli.pipeline import segment_frames
from stcli.settings import (
    ClassifySettings,
    DetectSettings,
    FeatureSettings,
    LocalizeSettings,
    parse_time,
)
from stcli.tasks.classify import load_recognizer
from stcli.tasks.detect import load_detector
from stcli.tasks.features import load_extractor
from stcli.tasks.localize import load_localizer
from stcli.video.frames import DecordVideo, FfmpegVideo, VideoInfo, open_video
from tests.conftest import make_video, run_stcli
from tests.http_server import serving

START, END = 1.2, 4.4  # frames 30..109 of a 25 fps video
FIRST = 30


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ranges")
    full = make_video(folder / "full.mp4", frames=150, size=(160, 120), pattern="mandelbrot",
                      extra=["-g", "1"])
    part = folder / "part.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-ss", str(START), "-to", str(END), "-i",
                    str(full), "-c", "copy", str(part)], check=True)
    return {"full": full, "part": part, "folder": folder}


def test_time_syntax_and_checks() -> None:
    assert parse_time("12.5") == 12.5 and parse_time("02:03") == 123.0
    assert parse_time("1:02:03.25") == 3723.25 and parse_time(7) == 7.0
    for bad in ("x", "-1", "1:60", "1:2:3:4", "inf", "3:"):
        with pytest.raises(UsageError, match="--start"):
            parse_time(bad, "--start")
    assert LocalizeSettings(start="0:01.5", end=3).time_range() == (1.5, 3.0)
    with pytest.raises(UsageError, match="--end 2 must be after --start 2"):
        FeatureSettings(start=2, end="0:02")
    done = run_stcli("classify", "v.mp4", "--start", "5", "--end", "3")
    assert done.returncode == 2 and "--end 3 must be after --start 5" in done.stderr
    done = run_stcli("detect", "v.mp4", "--start", "1:75")
    assert done.returncode == 2 and "--start '1:75'" in done.stderr


def test_frames_of_a_range() -> None:
    info = VideoInfo("v.mp4", 150, 25.0, 64, 48, "ffmpeg")  # frame i at i / 25 s
    assert segment_frames("v.mp4", info, (START, END)) == (30, 110)
    assert segment_frames("v.mp4", info, (1.21, 1.25)) == (31, 32)  # 1.24 in, 1.20 out
    assert segment_frames("v.mp4", info, (None, 0.04)) == (0, 1)
    assert segment_frames("v.mp4", info, (5.95, 99)) == (149, 150)
    with pytest.raises(VideoError, match=r"after the video's last frame \(5.960 s of 6.000\)"):
        segment_frames("v.mp4", info, (5.97, None))
    with pytest.raises(VideoError, match="holds no frame"):
        segment_frames("v.mp4", info, (1.21, 1.23))
    part = info.cut(30, 110)
    assert (part.num_frames, part.first_frame, part.start_s) == (80, 30, START)
    assert part.duration_s == pytest.approx(3.2) and part.timestamps[0] == 0


def test_seeking_returns_the_frames_of_a_full_decode(tmp_path: Path) -> None:
    # B-frames and 30-frame GOPs: -ss lands between keyframes and must decode up to it.
    mp4 = make_video(tmp_path / "gop.mp4", frames=90, size=(96, 64), extra=["-g", "30"])
    mkv = tmp_path / "gop.mkv"
    ts = tmp_path / "gop.ts"
    for out in (mkv, ts):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(mp4), "-c", "copy", str(out)],
                       check=True)
    reference = DecordVideo(str(mp4)).read(range(90))
    with serving(tmp_path) as base:  # a URL: the same pipe, reading by HTTP byte ranges
        url = base + mp4.name
        for path, seeks in ((mp4, True), (mkv, True), (ts, False), (url, True)):
            video = open_video(path, sequential=True)
            assert isinstance(video, FfmpegVideo)
            # Decoding starts at the first wanted frame (MPEG-TS would overshoot: not there).
            assert (video._seek_time(45) is not None) == seeks, path
            for wanted in ([1, 2, 3], [17, 21, 25, 29, 33], [44, 45], [89]):
                np.testing.assert_array_equal(video.read(wanted), reference[wanted], str(path))


def test_ranges_equal_the_cut_file(cut: dict[str, Path], reference_checkpoint) -> None:
    checkpoint = reference_checkpoint("k400")
    short = make_video(cut["folder"] / "short.mp4", frames=20, size=(64, 48))
    # The command as a user runs it: a range of a file and of the same file by URL, and a
    # video that ends before it.
    with serving(cut["folder"]) as base:
        url = base + cut["full"].name
        done = run_stcli("classify", str(cut["full"]), url, str(short), "--start", str(START),
                         "--end", "0:04.4", "--views", "1x1", "-c", str(checkpoint),
                         "--backend", "torch", "-f", "json", "-q")
    assert done.returncode == 1, done.stderr
    ranged, by_url, failed = json.loads(done.stdout)
    assert failed["error"] == ("starts at 1.2 s, after the video's last frame (0.760 s of "
                               "0.800): give an earlier --start")
    spec = {"checkpoint": checkpoint, "device": "cpu", "backend": "torch", "progress": False}
    (whole,) = load_recognizer(**spec).classify(cut["part"], ClassifySettings(views="1x1"))
    for record in (ranged, by_url):
        assert record["frames"] == whole.frames == 80
        assert [t["class_id"] for t in record["topk"]] == [t.class_id for t in whole.topk]
        np.testing.assert_allclose([t["score"] for t in record["topk"]],
                                   [t.score for t in whole.topk], rtol=0, atol=1e-6)
    assert (ranged["decoder"], by_url["decoder"]) == ("decord", "ffmpeg")

    localizer = load_localizer(**spec)
    settings = LocalizeSettings(min_score=0.0, stride_s=0.64)
    (a,) = localizer.localize(cut["full"], LocalizeSettings(min_score=0.0, stride_s=0.64,
                                                           start=START, end=END))
    (b,) = localizer.localize(cut["part"], settings)
    np.testing.assert_allclose(a.window_scores.starts_s, b.window_scores.starts_s + START)
    np.testing.assert_allclose(a.window_scores.ends_s, b.window_scores.ends_s + START)
    np.testing.assert_allclose(a.window_scores.scores, b.window_scores.scores, atol=1e-6)
    assert [(s.label, round(s.start_s - START, 6)) for s in a.segments] == [
        (s.label, s.start_s) for s in b.segments]

    extractor = load_extractor(**spec)
    (a,) = extractor.extract(cut["full"], FeatureSettings(stride=16, start=START, end=END))
    (b,) = extractor.extract(cut["part"], FeatureSettings(stride=16))
    np.testing.assert_allclose(a.starts_s, b.starts_s + START)
    np.testing.assert_allclose(a.features, b.features, atol=1e-5)


def test_detect_range_equals_the_cut_file(cut: dict[str, Path], reference_checkpoint) -> None:
    proposals = cut["folder"] / "proposals.csv"
    rows = ["video_id,timestamp,x1,y1,x2,y2,score"]
    for t in range(4):
        rows += [f"part,{t},0.1,0.2,0.6,0.9,0.9", f"full,{t + START:g},0.1,0.2,0.6,0.9,0.9"]
    proposals.write_text("\n".join(rows) + "\n")
    detector = load_detector(checkpoint=reference_checkpoint("ava"), device="cpu",
                             backend="torch", progress=False)
    (a,) = detector.detect(cut["full"], DetectSettings(
        keyframe_interval=1.0, proposals=str(proposals), start=START, end=END))
    (b,) = detector.detect(cut["part"], DetectSettings(keyframe_interval=1.0,
                                                       proposals=str(proposals)))
    assert [k.timestamp for k in a.keyframes] == [1.2, 2.2, 3.2, 4.2]
    assert [k.frame for k in a.keyframes] == [k.frame + FIRST for k in b.keyframes]
    for x, y in zip(a.keyframes, b.keyframes, strict=True):
        assert len(x.persons) == len(y.persons) == 1
        np.testing.assert_allclose([s.score for s in x.persons[0].actions],
                                   [s.score for s in y.persons[0].actions], atol=1e-6)
