"""Decoding real files: generated videos, the ffmpeg fallback, broken files, golden means."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stcli.errors import VideoError
from stcli.video.frames import DecordVideo, FfmpegVideo, open_video
from stcli.video.sampling import test_clip_indices as clip_indices  # aliased: not a pytest test
from stcli.video.transforms import crop_boxes, resize_frames, resized_size
from tests.conftest import make_video
from tests.reference import FIXTURES

PIPELINE_CASES = json.loads((FIXTURES / "golden_pipeline.json").read_text())["cases"]

# name -> (frames, width, height, fps), as conftest.generated_videos makes them
GENERATED = {
    "landscape": (90, 320, 240, 25.0),
    "portrait": (70, 180, 320, 25.0),
    "short": (20, 256, 256, 25.0),
    "single": (1, 160, 120, 25.0),
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def video_error(path: Path | str) -> VideoError:
    """Open ``path`` (and read every frame if it opens); return the VideoError raised."""
    with pytest.raises(VideoError) as info:
        with open_video(path) as video:
            video.read(list(range(video.info.num_frames)))
    err = info.value
    assert err.path == str(path)
    assert str(err) == f"{path}: {err.reason}"
    assert err.exit_code == 1
    return err


# --- generated videos ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_video_info(generated_videos, name: str) -> None:
    frames, width, height, fps = GENERATED[name]
    with open_video(generated_videos[name]) as video:
        info = video.info
        assert isinstance(video, DecordVideo)
        assert (info.num_frames, info.width, info.height) == (frames, width, height)
        assert info.fps == pytest.approx(fps)
        assert info.duration_s == pytest.approx(frames / fps)
        assert info.backend == "decord"
        assert info.path == str(generated_videos[name])
        last = video.read([frames - 1])
        assert last.shape == (1, height, width, 3)
        assert last.dtype == np.uint8


@pytest.mark.parametrize("name", ["landscape", "portrait", "single"])
def test_ffmpeg_backend_reports_the_same_info(generated_videos, name: str) -> None:
    frames, width, height, fps = GENERATED[name]
    info = FfmpegVideo(str(generated_videos[name])).info
    assert (info.num_frames, info.width, info.height) == (frames, width, height)
    assert info.fps == pytest.approx(fps)
    assert info.backend == "ffmpeg"


@pytest.mark.parametrize("name", ["landscape", "portrait"])
def test_decord_and_ffmpeg_decode_identical_frames(generated_videos, name: str) -> None:
    path = str(generated_videos[name])
    frames = GENERATED[name][0]
    indices = [0, 1, 2, 17, 31, 32, frames // 2, frames - 2, frames - 1]
    a = DecordVideo(path).read(indices)
    b = FfmpegVideo(path).read(indices)
    assert a.shape == b.shape == (len(indices), GENERATED[name][2], GENERATED[name][1], 3)
    assert a.dtype == b.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a[0], a[-1])  # distinct frames, so a wrong index would show


def test_read_chunks_matches_read(generated_videos) -> None:
    path = str(generated_videos["landscape"])
    indices = list(range(0, 90, 3))  # 30 frames in chunks of 8: 8, 8, 8, 6
    for video in (DecordVideo(path), FfmpegVideo(path)):
        chunks = list(video.read_chunks(indices, chunk=8))
        assert [len(c) for c in chunks] == [8, 8, 8, 6]
        assert np.array_equal(np.concatenate(chunks), video.read(indices))


def test_frames_really_come_from_the_requested_positions(tmp_path: Path) -> None:
    # A lossless video whose frame i is uniformly grey level 8 * i (after yuv -> rgb)
    path = tmp_path / "ramp.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:size=64x48:rate=10,geq=lum='8*N':cb=128:cr=128",
           "-frames:v", "20", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", str(path))
    for video in (DecordVideo(str(path)), FfmpegVideo(str(path))):
        frames = video.read([0, 5, 19])
        means = frames.reshape(3, -1).mean(axis=1)
        # limited-range luma 8 * i -> rgb (8 * i - 16) * 255 / 219, clamped at 0
        expected = [max(0.0, (8 * i - 16) * 255 / 219) for i in (0, 5, 19)]
        assert means == pytest.approx(expected, abs=1.5)


# --- a file only ffmpeg can decode --------------------------------------------------------


def test_decord_failure_falls_back_to_ffmpeg(tmp_path: Path) -> None:
    encoders = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True,
                              text=True, check=True).stdout
    if " libaom-av1 " not in encoders:
        pytest.skip("this ffmpeg has no libaom-av1 encoder")
    av1 = tmp_path / "clip_av1.mkv"
    h264 = tmp_path / "clip_h264.mp4"
    source = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "12",
              "-pix_fmt", "yuv420p"]
    ffmpeg(*source, "-c:v", "libaom-av1", "-cpu-used", "8", "-aom-params", "lossless=1", str(av1))
    ffmpeg(*source, "-c:v", "libx264", "-qp", "0", str(h264))

    import decord

    with pytest.raises(Exception):  # noqa: B017 - decord 0.6 has no AV1 decoder
        decord.VideoReader(str(av1), num_threads=0)

    with open_video(av1) as video:
        assert isinstance(video, FfmpegVideo)
        info = video.info
        assert (info.num_frames, info.width, info.height, info.backend) == (12, 160, 120, "ffmpeg")
        assert info.fps == pytest.approx(25.0)
        frames = video.read(list(range(12)))
    # Both encodings are lossless: the AV1 frames equal the H.264 frames decord decodes.
    with open_video(h264) as reference:
        assert isinstance(reference, DecordVideo)
        assert np.array_equal(frames, reference.read(list(range(12))))


# --- broken inputs ------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    assert video_error(tmp_path / "absent.mp4").reason == "file not found"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "clips.mp4"
    folder.mkdir()
    assert video_error(folder).reason == "is a directory, not a video file"


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    assert video_error(path).reason == "empty file (0 bytes)"


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    assert video_error(path).reason.startswith("not a readable video (")


def _truncate(src: Path, dst: Path, fraction: float = 0.3) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def test_truncated_mp4_without_index(generated_videos, tmp_path: Path) -> None:
    # A normal mp4 keeps its 'moov' index at the end: the first 30% has none.
    src = generated_videos["landscape"]
    assert b"moov" not in src.read_bytes()[: 64]
    path = _truncate(src, tmp_path / "cut.mp4")
    reason = video_error(path).reason
    assert reason == "truncated or incomplete MP4 (no 'moov' index): re-download or re-encode it"


def test_truncated_faststart_mp4(tmp_path: Path) -> None:
    # With +faststart the index comes first, so the file opens but most frames are gone.
    src = make_video(tmp_path / "fast.mp4", frames=90, extra=["-movflags", "+faststart"])
    assert b"moov" in src.read_bytes()[:64]
    path = _truncate(src, tmp_path / "fast_cut.mp4")
    reason = video_error(path).reason
    match = re.fullmatch(
        r"truncated: only (\d+) of 90 frames are present; re-download or re-encode it", reason
    )
    assert match, reason
    assert 0 < int(match.group(1)) < 90


def test_audio_only_file(tmp_path: Path) -> None:
    audio = tmp_path / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(audio))
    path = tmp_path / "tone.mp4"
    shutil.move(audio, path)
    assert video_error(path).reason == "has no video stream (audio-only or not a video file)"


# --- the reference pipeline on the shared videos ------------------------------------------


def _protocol_sizes(protocol: str) -> tuple[int, int]:
    short = int(re.search(r"Resize\(-1,\s*(\d+)\)", protocol).group(1))
    crop = int(re.search(r"Crop(\d+)", protocol).group(1))
    return short, crop


@pytest.mark.parametrize(
    "case", PIPELINE_CASES, ids=lambda c: f"{c['video']}-{c['clips']}x{c['crops']}"
)
def test_golden_pipeline_channel_means(shared_videos, case: dict) -> None:
    short, crop = _protocol_sizes(case["protocol"])
    with open_video(shared_videos / case["video"]) as video:
        assert isinstance(video, DecordVideo)  # the reference decoder
        assert video.info.num_frames == case["total_frames"]
        assert (video.info.width, video.info.height) == (340, 256)
        indices = clip_indices(video.info.num_frames, 16, 4, case["clips"])
        assert indices.tolist() == case["frame_inds"]
        distinct = np.unique(indices)
        wh = resized_size(video.info.width, video.info.height, short)
        assert list(wh) == case["resized_wh"]
        frames = resize_frames(video.read(distinct), wh)  # (F, 3, h, w), 8-bit values
    assert tuple(frames.shape[-2:]) == (wh[1], wh[0])
    rows = np.searchsorted(distinct, indices)
    boxes = crop_boxes(*wh, crop, case["crops"])
    worst = 0.0
    for v, view in enumerate(case["views"]):
        x, y, w, h = boxes[v // case["clips"]]
        assert [x, y, w, h] == view["box"]
        crop_pixels = frames[rows[v % case["clips"]], :, y : y + h, x : x + w]
        assert tuple(crop_pixels.shape) == (16, 3, *case["input_hw"])
        means = crop_pixels.astype(np.float64).mean(axis=(0, 2, 3))
        worst = max(worst, float(np.abs(means - np.array(view["channel_mean"])).max()))
    # OpenCV's uint8 resize, as the reference: equal at the golden file's precision (4
    # decimals), not merely close (a float resize was off by up to 0.104).
    assert worst <= 5.0001e-5


def test_container_check_spares_the_probe_only_for_whole_files(generated_videos, tmp_path):
    from stcli.video.containers import looks_intact as _looks_intact

    whole = generated_videos["landscape"]
    data = whole.read_bytes()
    assert _looks_intact(str(whole))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert not _looks_intact(str(cut))  # a box runs past the end of the file
    longer = tmp_path / "longer.mp4"
    longer.write_bytes(data + b"\0\0\0")
    assert not _looks_intact(str(longer))  # trailing bytes that are no box
    text = tmp_path / "notes.mp4"
    text.write_text("ftyp? no, just text")
    assert not _looks_intact(str(text))
    mkv = make_video(tmp_path / "clip.mkv", frames=5, size=(64, 48))
    assert _looks_intact(str(mkv))


@pytest.mark.parametrize("indices", [list(range(0, 90, 4)), list(range(3, 90, 8)),
                                     [5, 17, 89], list(range(90))],
                         ids=["every-4th", "every-8th-from-3", "irregular", "all"])
def test_ffmpeg_pipe_selecting_frames_inside_ffmpeg_returns_the_frames_asked(
        generated_videos, indices):
    """Regular index sets are selected by ffmpeg itself (a select filter, before the RGB
    conversion); what comes back must be exactly the frames decord reads there."""
    path = str(generated_videos["landscape"])
    piped = np.concatenate(list(FfmpegVideo(path).read_chunks(indices, chunk=7)))
    with DecordVideo(path) as decord:
        assert np.array_equal(piped, decord.read(indices))
