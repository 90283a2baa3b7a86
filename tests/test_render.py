"""Annotated videos (``stcli detect --render``): drawing, keyframe holding, H.264 output."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stcli import fileio, render
from stcli.errors import VideoError
from stcli.render import (
    draw_persons,
    held_keyframes,
    person_colour,
    render_detections,
)
from stcli.results import ActionScore, Detection, Keyframe, PersonActions
from stcli.video.frames import open_video
from tests.conftest import make_video

FRAMES = 25
THRESHOLD = 0.5
# Person boxes (normalized x1, y1, x2, y2): the one of keyframe 0 on the left, the two
# of keyframe 10 on the right and at the top, so that each box's left edge lies where no
# box of the other keyframe is drawn. On testsrc2's colour bars the left edges fall on
# the green and blue bars, where the red of person 0 stands out.
LEFT = (0.25, 0.3, 0.5, 0.9)
RIGHT = (0.6, 0.3, 0.9, 0.9)
TOP = (0.7, 0.02, 0.95, 0.2)


def ffprobe_stream(path: Path) -> dict:
    """ffprobe's description of the first video stream, packets counted."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
                          "-show_streams", "-of", "json", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def _actions(*scores: tuple[str, float]) -> tuple[ActionScore, ...]:
    return tuple(ActionScore(n, label, s) for n, (label, s) in enumerate(scores, start=1))


STANDING = PersonActions(LEFT, 0.9, _actions(("stand", 0.9), ("talk to", 0.7), ("sit", 0.2)))
WALKING = PersonActions(RIGHT, 0.8, _actions(("walk", 0.8), ("watch", 0.3)))
UNSURE = PersonActions(TOP, None, _actions(("sit", 0.4), ("stand", 0.1)))


def _detection(video: Path, size: tuple[int, int]) -> Detection:
    """Keyframe 0 with one person, keyframe 10 with two (one of them below threshold)."""
    keyframes = [
        Keyframe(0.0, 0, (STANDING,)),
        Keyframe(0.4, 10, (WALKING, UNSURE)),
    ]
    return Detection(
        video=str(video), video_id=video.stem, frames=FRAMES, fps=25.0, duration_s=1.0,
        width=size[0], height=size[1], preset="test", persons_from="test", seconds=0.0,
        keyframes=keyframes,
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("render")
    return make_video(folder / "source.mp4", frames=FRAMES, size=(160, 120))


def _frames(path: Path, indices: list[int]) -> np.ndarray:
    with open_video(path, sequential=True) as video:
        return video.read(indices).astype(np.int16)


def _left_edge(box: tuple[float, float, float, float], height: int, width: int):
    """Row and column slices of a box's left border, lower part (away from its label)."""
    x1 = round(box[0] * width)
    y1, y2 = round(box[1] * height), round(box[3] * height)
    return slice((y1 + y2) // 2, y2 - 2), slice(x1, x1 + 1)


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_render_keeps_frames_size_and_rate_and_holds_boxes(source: Path, tmp_path: Path):
    out = tmp_path / "annotated.mp4"
    written: list[int] = []
    result = render_detections(source, _detection(source, (160, 120)), out,
                               threshold=THRESHOLD, progress=written.append)

    assert result == out
    stream, original = ffprobe_stream(out), ffprobe_stream(source)
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (160, 120)
    assert stream["pix_fmt"] == "yuv420p"
    assert int(stream["nb_read_packets"]) == FRAMES
    assert stream["avg_frame_rate"] == original["avg_frame_rate"] == "25/1"
    assert sum(written) == FRAMES
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~fileio.UMASK
    assert _leftovers(tmp_path) == []

    before, after = _frames(source, [5, 20]), _frames(out, [5, 20])
    left, right = _left_edge(LEFT, 120, 160), _left_edge(RIGHT, 120, 160)
    # Frame 5 holds keyframe 0's box (left) and has none yet on the right ...
    assert _difference(after[0][left], before[0][left]) > 40
    assert _difference(after[0][right], before[0][right]) < 12
    # ... frame 20 holds keyframe 10's boxes: the right one drawn, the left one gone.
    assert _difference(after[1][right], before[1][right]) > 40
    assert _difference(after[1][left], before[1][left]) < 12
    # Below every box, right of the timestamp, the picture is the source's.
    far = (slice(111, 120), slice(50, 160))
    assert _difference(after[:, far[0], far[1]], before[:, far[0], far[1]]) < 6


def test_render_odd_size_keeps_exact_size(tmp_path: Path):
    # testsrc (unlike testsrc2) makes odd sizes, which need 4:4:4 in the source too.
    odd = make_video(tmp_path / "odd.mp4", frames=12, size=(161, 121), pattern="testsrc",
                     extra=["-pix_fmt", "yuv444p"])
    out = render_detections(odd, _detection(odd, (161, 121)), tmp_path / "odd_annotated.mp4")

    stream = ffprobe_stream(out)
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (161, 121)
    assert stream["pix_fmt"] == "yuv444p"
    assert int(stream["nb_read_packets"]) == 12


def test_held_keyframes_holds_until_next_and_starts_with_first():
    later, earlier = Keyframe(0.4, 10, ()), Keyframe(0.2, 5, ())
    shown = list(held_keyframes([later, earlier], 15))  # any order in, time order used
    assert shown == [earlier] * 10 + [later] * 5
    assert list(held_keyframes([], 3)) == [None, None, None]


def _box_pixels(box: tuple[float, float, float, float], height: int, width: int):
    x1, y1 = round(box[0] * width), round(box[1] * height)
    x2, y2 = round(box[2] * width), round(box[3] * height)
    return x1, y1, x2, y2


def test_draw_persons_colours_boxes_and_labels_only_confident_actions():
    height, width = 120, 160
    frame = np.zeros((height, width, 3), np.uint8)
    draw_persons(frame, [STANDING, UNSURE], threshold=THRESHOLD)

    x1, y1, x2, y2 = _box_pixels(LEFT, height, width)
    assert tuple(frame[(y1 + y2) // 2, x1]) == person_colour(0)
    assert tuple(frame[y2, (x1 + x2) // 2]) == person_colour(0)
    above = frame[:y1, x1:x2]  # STANDING's label: its colour behind text of another
    assert (above == person_colour(0)).all(axis=-1).sum() > 50
    assert (above.any(axis=-1) & ~(above == person_colour(0)).all(axis=-1)).any()

    # UNSURE has no action at the threshold: drawn alone, it is its box and nothing else.
    x1, y1, x2, y2 = _box_pixels(TOP, height, width)
    assert tuple(frame[(y1 + y2) // 2, x1]) == person_colour(1)
    alone = np.zeros_like(frame)
    draw_persons(alone, [UNSURE], threshold=THRESHOLD)
    ys, xs = alone.any(axis=-1).nonzero()
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (y1, y2, x1, x2)
    assert not alone[y1 + 1 : y2, x1 + 1 : x2].any()


def test_draw_persons_shows_at_most_top_actions():
    def label_rows(top: int) -> int:
        frame = np.zeros((240, 320, 3), np.uint8)
        draw_persons(frame, [STANDING], threshold=0.0, top=top)
        y1 = round(LEFT[1] * 240)
        return int((frame[:y1] == person_colour(0)).all(axis=-1).any(axis=1).sum())

    one, two, three = label_rows(1), label_rows(2), label_rows(3)
    assert 0 < one < two < three
    assert label_rows(0) == 0


@pytest.mark.parametrize("where", ["missing/annotated.mp4", "file.txt/annotated.mp4", "."])
def test_render_unwritable_output_is_a_video_error(source: Path, tmp_path: Path, where: str):
    (tmp_path / "file.txt").write_text("not a folder")
    out = tmp_path / where
    with pytest.raises(VideoError) as caught:
        render_detections(source, _detection(source, (160, 120)), out)
    assert caught.value.path == str(out)
    assert not (tmp_path / "missing").exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [("_ENCODER", "libnope", "no H.264 encoder (libnope)"),
     ("_PRESET", "nope", "encoding failed: ")],
)
def test_encoder_failure_keeps_the_old_file(source: Path, tmp_path: Path, monkeypatch,
                                            setting: str, value: object, reason: str):
    monkeypatch.setattr(render, setting, value)
    out = tmp_path / "annotated.mp4"
    out.write_bytes(b"previous render")
    with pytest.raises(VideoError) as caught:
        render_detections(source, _detection(source, (160, 120)), out)
    assert caught.value.path == str(out)
    assert reason in caught.value.reason and "\n" not in caught.value.reason
    assert out.read_bytes() == b"previous render"
    assert _leftovers(tmp_path) == []


def test_unreadable_source_names_the_source(tmp_path: Path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoError) as caught:
        render_detections(missing, _detection(missing, (160, 120)), tmp_path / "out.mp4")
    assert caught.value.path == str(missing)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
