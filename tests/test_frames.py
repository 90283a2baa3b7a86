"""One frame model for every decoder and command, on a corpus the suite makes with ffmpeg:
rotation by tag and by display matrix, flips, variable frame rate, anamorphic pixels,
stills, odd sizes, 1 and 3 frames, 10-bit, AV1/VP9/HEVC, interlaced.

Where pixels are compared the videos are lossless (H.264 4:4:4, QP 0), so that a file
whose display matrix turns it must give exactly the frames of the same content turned
before encoding, and ffmpeg's own (auto-rotated) decode is the reference.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stcli.render import render_detections
from stcli.results import ActionScore, Detection, Keyframe, PersonActions
from stcli.settings import DetectSettings, FeatureSettings, LocalizeSettings
from stcli.tasks.classify import load_recognizer
from stcli.tasks.detect import load_detector
from stcli.tasks.features import load_extractor
from stcli.tasks.localize import load_localizer
from stcli.video.decoding import ffmpeg_version, parse_ffmpeg_version, passthrough
from stcli.video.frames import DecordVideo, FfmpegVideo, open_video
from tests.conftest import run_stcli
from tests.test_fidelity import make_calibrated

SIZE, FRAMES = (96, 64), 24
LOSSLESS = ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"]
# name -> (how the file is tagged: a rotate tag or a display matrix (a, b, c, d)), the
# ffmpeg filter that turns the content the same way before encoding). Angles are the
# display matrix's (counter-clockwise, as ffprobe reports them): a phone held upright
# writes (0, 1, -1, 0), "rotation -90", turned clockwise for display.
ORIENTED = {
    "tag90": ("90", "transpose=2"),
    "tag180": ("180", "hflip,vflip"),
    "tag270": ("270", "transpose=1"),
    "matrix90": ((0, -1, 1, 0), "transpose=2"),
    "matrix180": ((-1, 0, 0, -1), "hflip,vflip"),
    "matrix270": ((0, 1, -1, 0), "transpose=1"),
    "hflip": ((-1, 0, 0, 1), "hflip"),
    "vflip": ((1, 0, 0, -1), "vflip"),
    "transpose": ((0, 1, 1, 0), "transpose=0"),
    "antitranspose": ((0, -1, -1, 0), "transpose=3"),
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=300)


def set_display_matrix(source: Path, target: Path, m: tuple[int, int, int, int]) -> Path:
    """A copy of an MP4 whose video track header carries the display matrix ``m``."""
    data = bytearray(source.read_bytes())

    def boxes(start: int, end: int):
        while start + 8 <= end:
            size, kind = struct.unpack(">I4s", data[start:start + 8])
            yield kind, start + 8, start + size
            start += size

    a, b, c, d = (v * 65536 for v in m)
    for kind, payload, end in boxes(0, len(data)):
        for trak, t_payload, t_end in (boxes(payload, end) if kind == b"moov" else ()):
            for tkhd, h_payload, _ in (boxes(t_payload, t_end) if trak == b"trak" else ()):
                if tkhd == b"tkhd":
                    at = h_payload + (52 if data[h_payload] == 1 else 40)
                    data[at:at + 36] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 1 << 30)
    target.write_bytes(bytes(data))
    return target


def ffmpeg_frames(path: Path) -> np.ndarray:
    """ffmpeg's own decode (auto-rotated, flips included) as ``(n, H, W, 3)`` RGB."""
    stream = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json",
         str(path)], capture_output=True, text=True, check=True).stdout)["streams"][0]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:"], capture_output=True, check=True).stdout
    w, h = stream["width"], stream["height"]
    side = [s for s in stream.get("side_data_list", []) if "rotation" in s]
    if side and abs(side[0]["rotation"]) % 180 == 90:
        w, h = h, w
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def all_frames(path: Path, sequential: bool = False) -> np.ndarray:
    with open_video(path, sequential=sequential) as video:
        return video.read(range(video.info.num_frames))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frames")
    w, h = SIZE
    src = f"testsrc2=size={w}x{h}:rate=25"
    files = {"base": folder / "base.mp4"}
    ffmpeg("-f", "lavfi", "-i", src, "-frames:v", str(FRAMES), *LOSSLESS, str(files["base"]))
    for name, (tag, turn) in ORIENTED.items():
        tagged = folder / f"{name}.mp4"
        if isinstance(tag, str):
            ffmpeg("-i", str(files["base"]), "-c", "copy", "-metadata:s:v:0", f"rotate={tag}",
                   str(tagged))
        else:
            set_display_matrix(files["base"], tagged, tag)
        files[name] = tagged
        files[f"{name}-physical"] = folder / f"{name}-physical.mp4"
        ffmpeg("-i", str(files["base"]), "-vf", turn, *LOSSLESS, str(files[f"{name}-physical"]))
    files["anamorphic"] = folder / "anamorphic.mp4"
    ffmpeg("-i", str(files["base"]), "-vf", "setsar=2/1", *LOSSLESS, str(files["anamorphic"]))
    # Variable rate: 2 s at 10 fps, then 2 s at 30 fps, one track (timescale shared).
    parts = []
    for rate in (10, 30):
        parts.append(folder / f"part{rate}.mp4")
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={rate}", "-t", "2",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-video_track_timescale", "30000",
               str(parts[-1]))
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    files["vfr"] = folder / "vfr.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(files["vfr"]))
    return files


# -- orientation -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ORIENTED))
def test_both_decoders_show_the_frames_upright(corpus, name: str) -> None:
    tagged, physical = corpus[name], corpus[f"{name}-physical"]
    upright = all_frames(physical)
    assert upright.shape[1:3] != (0, 0)
    for sequential in (False, True):
        with open_video(tagged, sequential=sequential) as video:
            assert (video.info.height, video.info.width) == upright.shape[1:3]
            frames = video.read(range(video.info.num_frames))
        assert np.array_equal(frames, upright), f"sequential={sequential}"
    assert np.array_equal(ffmpeg_frames(tagged), upright)  # ffmpeg's own reading agrees


def test_random_and_sequential_reads_agree_on_scattered_indices(corpus) -> None:
    indices = [23, 0, 7, 7, 12, 3]
    for name in ("base", "tag90", "hflip", "transpose", "vfr"):
        a = DecordVideo(str(corpus[name]), open_video(corpus[name]).info.orientation)
        b = open_video(corpus[name], sequential=True)
        assert np.array_equal(a.read(indices), b.read(indices)), name
        assert np.allclose(a.info.timestamps, b.info.timestamps, atol=1e-6), name


@pytest.fixture(scope="module")
def models(reference_checkpoint) -> dict:
    ckpt = reference_checkpoint("k400")
    common = {"device": "cpu", "backend": "torch", "progress": False}
    return {"recognizer": load_recognizer("k400", ckpt, **common),
            "extractor": load_extractor("k400", ckpt, **common),
            "localizer": load_localizer("k400", ckpt, **common)}


@pytest.mark.parametrize("name", sorted(ORIENTED))
def test_a_turned_file_gives_the_features_and_scores_of_turned_content(corpus, models,
                                                                       name: str) -> None:
    tagged, physical = corpus[name], corpus[f"{name}-physical"]
    feats = [models["extractor"].extract(p, FeatureSettings(stride=4))[0] for p in
             (tagged, physical)]
    assert feats[0].status == feats[1].status == "ok"
    np.testing.assert_allclose(feats[0].features, feats[1].features, atol=1e-4)
    preds = [models["recognizer"].classify(p, views="1x3", top_k=400)[0] for p in
             (tagged, physical)]
    scores = [sorted((c.class_id, c.score) for c in p.topk) for p in preds]
    np.testing.assert_allclose(np.array(scores[0]), np.array(scores[1]), atol=1e-4)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The k400-calibrated reference weights: unlike the plain ones (a mirrored clip moves
    their window scores by 3e-4), they respond to their input."""
    return make_calibrated(tmp_path_factory.mktemp("calibrated"))


WINDOWS = LocalizeSettings(windows=(16,), overlap=0.5)


@pytest.fixture(scope="module")
def calibrated_localizer(calibrated: Path, corpus):
    """``(localizer, window scores of the content as stored)``, on the calibrated weights."""
    localizer = load_localizer("k400", calibrated, device="cpu", backend="torch",
                               progress=False)
    return localizer, localizer.window_scores(corpus["base"], WINDOWS)[1].scores


@pytest.mark.parametrize("name", ["tag90", "hflip"])
def test_localize_windows_see_upright_frames(corpus, calibrated_localizer, name: str) -> None:
    # Sequential reads (the ffmpeg pipe, turned by stcli): the same pixels as the content
    # turned before encoding, so the same scores; the content as stored, not turned, is
    # 0.13 (hflip) and 0.95 (tag90) away, as a missing mirror or turn would be.
    localizer, stored = calibrated_localizer
    turned, upright = (localizer.window_scores(corpus[n], WINDOWS)[1].scores
                       for n in (name, f"{name}-physical"))
    assert turned.shape == (2, 400)
    np.testing.assert_allclose(turned, upright, rtol=0, atol=1e-5)
    assert np.abs(stored - upright).max() > 0.05  # what the equality is worth


def test_cli_features_of_a_rotated_phone_video(corpus, calibrated, tmp_path: Path) -> None:
    """What only the command shows, in one process (the library checks above cover every
    orientation): ``stcli features`` on a phone video writes the features of the upright
    content, not those of the frames as stored (89 apart here), and says which decoder
    read it."""
    names = ("tag90", "tag90-physical", "base")
    done = run_stcli("features", *(str(corpus[n]) for n in names), "-c", str(calibrated),
                     "--backend", "torch", "--out", str(tmp_path), "-f", "json", "-q")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)["videos"]
    assert [(r["video_id"], r["status"], r["decoder"]) for r in records] == [
        (corpus[n].stem, "ok", "ffmpeg") for n in names]
    turned, upright, stored = (np.load(r["output"]) for r in records)
    assert turned.shape == (1, 2048)
    np.testing.assert_allclose(turned, upright, rtol=0, atol=1e-4)
    assert np.abs(stored - upright).max() > 10


def test_render_draws_on_upright_frames(corpus, tmp_path: Path) -> None:
    h, w = SIZE  # a quarter turn swaps the sides
    person = PersonActions((0.2, 0.1, 0.7, 0.9), 0.9, (ActionScore(11, "sit", 0.8),))
    detection = Detection("v", "v", FRAMES, 25.0, FRAMES / 25, w, h, "ava21", "test", 0.0,
                          keyframes=[Keyframe(0.0, 0, (person,))])
    drawn = [render_detections(corpus[n], detection, tmp_path / f"{n}.mp4")
             for n in ("tag90", "tag90-physical")]
    a, b = all_frames(drawn[0]), all_frames(drawn[1])
    assert a.shape == b.shape == (FRAMES, SIZE[0], SIZE[1], 3)
    assert np.array_equal(a, b)


def test_detect_scores_the_upright_clip(corpus, reference_checkpoint, tmp_path: Path) -> None:
    detector = load_detector("ava21", reference_checkpoint("ava"), device="cpu",
                             backend="torch", progress=False)
    found = []
    for name in ("tag90", "tag90-physical"):
        proposals = tmp_path / f"{name}.csv"
        proposals.write_text(f"{corpus[name].stem},0.5,0.2,0.1,0.7,0.9,0.9\n")
        (result,) = detector.detect(corpus[name], DetectSettings(proposals=str(proposals)))
        assert result.status == "ok" and (result.width, result.height) == (64, 96)
        found.append([a.score for a in result.keyframes[0].persons[0].actions])
    np.testing.assert_allclose(found[0], found[1], atol=1e-4)


# -- time ------------------------------------------------------------------------------------
def test_variable_rate_times_come_from_the_timestamps(corpus, models) -> None:
    expected = np.concatenate([np.arange(20) / 10, 2 + np.arange(60) / 30])
    for sequential in (False, True):
        info = open_video(corpus["vfr"], sequential=sequential).info
        assert info.num_frames == 80 and info.variable_rate
        np.testing.assert_allclose(info.timestamps, expected, atol=1e-5)
        assert info.duration_s == pytest.approx(4.0, abs=1e-4)
        assert info.frame_at([1.0, 2.5, 3.0]).tolist() == [10, 35, 50]
    # Snippets twice a second start at the frames shown then, not at t * average rate.
    (feats,) = models["extractor"].extract(corpus["vfr"], FeatureSettings(fps=2.0))
    np.testing.assert_allclose(feats.starts_s, [0.0, 0.5, 1.0, 1.5], atol=1e-5)
    _, ws = models["localizer"].window_scores(corpus["vfr"], LocalizeSettings(windows=(20,),
                                                                              overlap=0.5))
    np.testing.assert_allclose(ws.starts_s, expected[[0, 10, 20, 30, 40, 50, 60]], atol=1e-5)
    np.testing.assert_allclose(ws.ends_s[-1], 4.0, atol=1e-4)


def test_detect_keyframes_use_the_frame_shown_at_their_time(corpus, reference_checkpoint,
                                                           tmp_path: Path) -> None:
    detector = load_detector("ava21", reference_checkpoint("ava"), device="cpu",
                             backend="torch", progress=False)
    proposals = tmp_path / "vfr.csv"
    proposals.write_text("vfr,1.0,0.1,0.1,0.9,0.9,0.9\nvfr,3.0,0.1,0.1,0.9,0.9,0.9\n")
    (result,) = detector.detect(corpus["vfr"], DetectSettings(proposals=str(proposals)))
    assert [(k.timestamp, k.frame) for k in result.keyframes] == [(1.0, 10), (3.0, 50)]
    assert result.duration_s == pytest.approx(4.0, abs=1e-4)


# -- pixels, stills, streams ---------------------------------------------------------------
def test_anamorphic_pixels_are_read_as_stored(corpus, models, tmp_path: Path) -> None:
    # The official pipeline (decord + OpenCV) ignores the sample aspect ratio; so does stcli.
    stored, plain = all_frames(corpus["anamorphic"]), all_frames(corpus["base"])
    assert np.array_equal(stored, plain)
    a, b = (models["recognizer"].classify(corpus[n], views="1x1", top_k=3)[0]
            for n in ("anamorphic", "base"))
    assert [c.class_id for c in a.topk] == [c.class_id for c in b.topk]
    detection = Detection("v", "v", FRAMES, 25.0, FRAMES / 25, *SIZE, "ava21", "test", 0.0)
    out = render_detections(corpus["anamorphic"], detection, tmp_path / "drawn.mp4")
    stream = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json",
         str(out)], capture_output=True, text=True, check=True).stdout)["streams"][0]
    assert stream["sample_aspect_ratio"] == "2:1"  # the drawing keeps the pixel shape


@pytest.fixture(scope="module")
def odd_streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("streams")
    src = "testsrc2=size=96x64:rate=25"
    cases = {  # name -> (file, ffmpeg arguments, decoder expected)
        "odd_33x17": ("odd.mp4", ["-f", "lavfi", "-i", "testsrc=size=33x17:rate=25",
                                  "-frames:v", "20", *LOSSLESS], "decord"),
        "one_frame": ("one.mp4", ["-f", "lavfi", "-i", src, "-frames:v", "1", *LOSSLESS],
                      "decord"),
        "three_frames": ("three.mp4", ["-f", "lavfi", "-i", src, "-frames:v", "3",
                                       *LOSSLESS], "decord"),
        "h264_10bit": ("ten.mp4", ["-f", "lavfi", "-i", src, "-frames:v", "20", "-c:v",
                                   "libx264", "-pix_fmt", "yuv420p10le"], "ffmpeg"),
        "interlaced": ("inter.mp4", ["-f", "lavfi", "-i", src, "-frames:v", "20", "-c:v",
                                     "libx264", "-flags", "+ildct+ilme", "-pix_fmt",
                                     "yuv420p"], "decord"),
        "hevc": ("hevc.mp4", ["-f", "lavfi", "-i", src, "-frames:v", "20", "-c:v", "libx265",
                              "-x265-params", "log-level=error"], "decord"),
        "vp9": ("vp9.webm", ["-f", "lavfi", "-i", src, "-frames:v", "20", "-c:v",
                             "libvpx-vp9", "-deadline", "realtime"], "decord"),
        "vp9_10bit": ("vp910.webm", ["-f", "lavfi", "-i", src, "-frames:v", "20", "-c:v",
                                     "libvpx-vp9", "-deadline", "realtime", "-pix_fmt",
                                     "yuv420p10le"], "ffmpeg"),
        "av1": ("av1.mp4", ["-f", "lavfi", "-i", src, "-frames:v", "20", "-c:v", "libaom-av1",
                            "-cpu-used", "8", "-pix_fmt", "yuv420p"], "ffmpeg"),
    }
    made = {}
    for name, (file, args, decoder) in cases.items():
        try:
            ffmpeg(*args, str(folder / file))
        except subprocess.CalledProcessError:
            continue  # this ffmpeg cannot encode it: nothing to read back
        made[name] = (folder / file, decoder)
    return made


@pytest.mark.parametrize("name", ["odd_33x17", "one_frame", "three_frames", "h264_10bit",
                                  "interlaced", "hevc", "vp9", "vp9_10bit", "av1"])
def test_every_stream_reads_the_same_by_both_paths_and_classifies(odd_streams, models,
                                                                  name: str) -> None:
    if name not in odd_streams:
        pytest.skip(f"this ffmpeg cannot encode the {name} case")
    path, decoder = odd_streams[name]
    random, sequential = all_frames(path), all_frames(path, sequential=True)
    assert np.array_equal(random, sequential)
    assert np.array_equal(random, ffmpeg_frames(path))
    (result,) = models["recognizer"].classify(path, views="1x1", top_k=1)
    assert result.status == "ok" and result.decoder == decoder


@pytest.mark.parametrize(("suffix", "codec"), [(".jpg", "mjpeg"), (".png", "png"),
                                               (".mp4", "mjpeg")])
def test_a_still_image_is_refused_in_one_line(tmp_path: Path, reference_checkpoint,
                                              suffix: str, codec: str) -> None:
    still = tmp_path / f"photo{suffix}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", "-c:v", codec,
           "-f", "image2", str(still))
    proc = run_stcli("classify", str(still), "-c", str(reference_checkpoint("k400")),
                     "--backend", "torch", "-f", "jsonl", "-q")
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert record["status"] == "error" and "a still image" in record["error"]
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_ffmpeg_versions_and_the_passthrough_option(monkeypatch) -> None:
    assert parse_ffmpeg_version("ffmpeg version 5.1.9-0+deb12u1 Copyright (c)") == (5, 1)
    assert parse_ffmpeg_version("ffmpeg version n4.4.2 Copyright") == (4, 4)
    assert parse_ffmpeg_version("ffmpeg version 7.1 Copyright") == (7, 1)
    assert parse_ffmpeg_version("ffmpeg version N-112345-gabcdef") is None
    monkeypatch.setattr("stcli.video.decoding.ffmpeg_version", lambda: (4, 4))
    assert passthrough() == ["-vsync", "passthrough"]
    monkeypatch.setattr("stcli.video.decoding.ffmpeg_version", lambda: (6, 0))
    assert passthrough() == ["-fps_mode", "passthrough"]


def test_the_ffmpeg_path_reads_what_decord_cannot_open(odd_streams) -> None:
    if "av1" not in odd_streams:
        pytest.skip("this ffmpeg cannot encode AV1")
    assert isinstance(open_video(odd_streams["av1"][0]), FfmpegVideo)
    assert shutil.which("ffprobe")


@pytest.fixture
def old_ffmpeg(tmp_path: Path, monkeypatch) -> Path:
    """PATH with a real ffmpeg from before 5.1 (imageio-ffmpeg 0.4.5's static 4.2 build, a
    test dependency) in front, beside this machine's ffprobe."""
    # The binary is found, not imported: 0.4.5's module needs pkg_resources to load.
    spec = importlib.util.find_spec("imageio_ffmpeg")
    found = sorted(Path(spec.submodule_search_locations[0]).glob("binaries/ffmpeg-*")
                   ) if spec and spec.submodule_search_locations else []
    if not found:
        pytest.skip("imageio-ffmpeg (the test extra's ffmpeg 4.2) is not installed")
    exe = found[0]
    if not os.access(exe, os.X_OK):
        exe.chmod(exe.stat().st_mode | 0o111)
    version = parse_ffmpeg_version(subprocess.run([str(exe), "-version"], capture_output=True,
                                                  text=True).stdout.splitlines()[0])
    if version is None or version >= (5, 1):
        pytest.skip(f"{exe} is not an ffmpeg older than 5.1")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "ffmpeg").symlink_to(exe)
    (shim / "ffprobe").symlink_to(shutil.which("ffprobe"))
    ffmpeg_version.cache_clear()
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    yield shim
    ffmpeg_version.cache_clear()


def test_an_ffmpeg_before_5_1_reads_and_draws_the_same(corpus, old_ffmpeg,
                                                      tmp_path: Path) -> None:
    assert passthrough() == ["-vsync", "passthrough"]
    for name in ("tag90", "hflip", "vfr"):
        random = all_frames(corpus[name])  # decord: no ffmpeg binary involved
        assert np.array_equal(all_frames(corpus[name], sequential=True), random), name
    detection = Detection("v", "v", FRAMES, 25.0, FRAMES / 25, 64, 96, "ava21", "t", 0.0)
    drawn = render_detections(corpus["tag90"], detection, tmp_path / "drawn.mp4")
    assert all_frames(drawn).shape == (FRAMES, 96, 64, 3)
