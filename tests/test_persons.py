"""Person sources: proposal files, NMS, HOG, ONNX layouts; expected boxes worked out by hand."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from stcli import persons
from stcli.errors import UsageError
from stcli.persons import (
    PROPOSAL_FORMAT,
    PersonBoxes,
    box_iou,
    decode_output,
    load_proposals,
    make_person_source,
    nms,
)

FRAME = np.zeros((96, 128, 3), np.uint8)  # H 96, W 128


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_boxes(actual: np.ndarray, expected: list, abs: float = 1e-6) -> None:
    assert actual.dtype == np.float32 and actual.shape == (len(expected), 4)
    np.testing.assert_allclose(actual, np.asarray(expected, np.float64).reshape(-1, 4), atol=abs)


def assert_empty(found: PersonBoxes) -> None:
    assert found.boxes.shape == (0, 4) and found.boxes.dtype == np.float32
    assert found.scores.shape == (0,) and found.scores.dtype == np.float32


# --- proposal files --------------------------------------------------------------------

SCORED_CSV = """video_id,timestamp,x1,y1,x2,y2,score
vidA,0902,0.1,0.2,0.5,0.9,0.95
vidA,902,0.5,0.1,0.9,0.8,0.4

vidA,903.0,0.0,0.0,1.0,1.0,0.7
vidB,902.5,0.2,0.2,0.4,0.6,0.8
"""


def test_csv_with_header_and_scores(tmp_path: Path) -> None:
    source = load_proposals(write(tmp_path, "p.csv", SCORED_CSV))
    assert source.name == f"proposals:{tmp_path / 'p.csv'}"
    assert source.timestamps("vidA") == [902.0, 903.0]
    assert source.timestamps("vidB") == [902.5]
    assert source.timestamps("unknown") == []
    # "0902" and "902" are one keyframe; a lookup with float noise still finds it.
    found = source.find("vidA", 902.0004, FRAME)
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32
    assert_boxes(found.boxes, [[0.1, 0.2, 0.5, 0.9], [0.5, 0.1, 0.9, 0.8]])
    assert found.scores.tolist() == pytest.approx([0.95, 0.4])
    assert_empty(source.find("vidA", 904, FRAME))
    assert_empty(source.find("unknown", 902, FRAME))


def test_find_returns_copies(tmp_path: Path) -> None:
    source = load_proposals(write(tmp_path, "p.csv", SCORED_CSV))
    source.find("vidA", 903, FRAME).boxes[:] = 0.5
    assert source.find("vidA", 903, FRAME).boxes.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_threshold_drops_low_scores_but_keeps_the_keyframe(tmp_path: Path) -> None:
    source = load_proposals(write(tmp_path, "p.csv", SCORED_CSV), threshold=0.75)
    assert source.find("vidA", 902, FRAME).scores.tolist() == pytest.approx([0.95])
    assert_empty(source.find("vidA", 903, FRAME))  # 0.7 < 0.75
    assert source.timestamps("vidA") == [902.0, 903.0]


def test_csv_without_header_or_scores(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "v,1,0.1,0.1,0.2,0.3\n# a comment\nv,1,0.3,0.3,0.4,0.4,\n")
    # No score (6 columns, or an empty 7th cell) is NaN and survives any threshold.
    found = load_proposals(path, threshold=0.99).find("v", 1, FRAME)
    assert_boxes(found.boxes, [[0.1, 0.1, 0.2, 0.3], [0.3, 0.3, 0.4, 0.4]])
    assert np.isnan(found.scores).all() and found.scores.shape == (2,)


def test_ava_ground_truth_keeps_each_box_once(tmp_path: Path) -> None:
    gt = (
        "vidA,0902,0.077,0.151,0.283,0.811,80,1\n"
        "vidA,0902,0.077,0.151,0.283,0.811,9,1\n"
        "vidA,0902,0.226,0.032,0.366,0.497,12,0\n"
        "vidA,0903,0.077,0.151,0.283,0.811,80,1\n"
    )
    source = load_proposals(write(tmp_path, "gt.csv", gt))
    found = source.find("vidA", 902, FRAME)
    assert_boxes(found.boxes,
        [[0.077, 0.151, 0.283, 0.811], [0.226, 0.032, 0.366, 0.497]]
    )
    assert np.isnan(found.scores).all()
    assert len(source.find("vidA", 903, FRAME)) == 1


def test_coordinates_within_slack_are_clipped(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "v,1,-0.0005,0,1.0009,1,0.5\n")
    assert load_proposals(path).find("v", 1, FRAME).boxes.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_json_list_form(tmp_path: Path) -> None:
    entries = [
        {"video_id": "v", "timestamp": 902, "box": [0.1, 0.2, 0.3, 0.4], "score": 0.9},
        {"video_id": "v", "timestamp": "0902", "box": [0.5, 0.5, 0.6, 0.7]},
        {"video_id": "w", "timestamp": 3.25, "box": [0, 0, 1, 1], "score": None},
    ]
    source = load_proposals(write(tmp_path, "p.json", json.dumps(entries)))
    found = source.find("v", 902, FRAME)
    assert_boxes(found.boxes, [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.7]])
    assert found.scores[0] == pytest.approx(0.9) and math.isnan(found.scores[1])
    assert source.timestamps("w") == [3.25]


def test_json_mapping_form(tmp_path: Path) -> None:
    data = {"v": {"902": [[0.1, 0.2, 0.3, 0.4, 0.6], [0.5, 0.5, 0.6, 0.7]], "903.0": []}}
    source = load_proposals(write(tmp_path, "p.txt", json.dumps(data)), threshold=0.7)
    # 0.6 < 0.7 dropped; the unscored box stays; an empty list still lists the keyframe.
    assert_boxes(source.find("v", 902, FRAME).boxes, [[0.5, 0.5, 0.6, 0.7]])
    assert source.timestamps("v") == [902.0, 903.0]
    assert_empty(source.find("v", 903, FRAME))


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("v,1,0.1,0.1,0.2\n", ":1:", "5 columns"),
        ("video_id,timestamp,x1,y1,x2,y2\n\nv,1,0.1,0.1,0.2,0.2,0.5,1,2\n", ":3:", "9 columns"),
        ("v,1,0.1,abc,0.2,0.2\n", ":1:", "y1 'abc' is not a number"),
        ("v,one,0.1,0.1,0.2,0.2\n", ":1:", "timestamp 'one' is not a number"),
        ("v,1,0.1,0.1,0.2,0.2\nv,2,0.1,0.1,0.2,0.2,high\n", ":2:", "score 'high' is not"),
        ("v,1,0.1,0.1,1.5,0.2\n", ":1:", "x2=1.5 is outside [0, 1]"),
        ("v,1,10,20,110,220\n", ":1:", "x1=10 is outside [0, 1]"),
        ("v,1,0.4,0.1,0.4,0.2\n", ":1:", "empty box: x2=0.4 <= x1=0.4"),
        ("v,1,0.1,0.3,0.2,0.2\n", ":1:", "empty box"),
        ("v,inf,0.1,0.1,0.2,0.2\n", ":1:", "timestamp 'inf' is not a finite number"),
        (",1,0.1,0.1,0.2,0.2\n", ":1:", "video_id '' is not a non-empty string"),
    ],
)
def test_malformed_csv_rows_name_the_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(UsageError) as info:
        load_proposals(path)
    message = str(info.value)
    assert message.startswith(f"{path}{where} {what}")
    assert message.endswith(
        "; expected video_id,timestamp,x1,y1,x2,y2[,score] normalized to [0, 1]"
    )


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        ([{"video_id": "v", "timestamp": 1, "box": [0, 0, 1, 1]}, {"video_id": "v"}],
         "entry 1", 'expected an object with "video_id"'),
        ([{"video_id": "v", "timestamp": 1, "box": [0, 0, 1]}], "entry 0", "box [0, 0, 1] is"),
        ([{"video_id": "v", "timestamp": 1, "box": [0, 0, True, 1]}], "entry 0", "x2 True"),
        ({"v": {"902": [[0, 0, 1, 1], [0, 0, 2, 1]]}}, 'entry ["v"]["902"][1]', "x2=2 is"),
        ({"v": {"902": "0 0 1 1"}}, 'entry ["v"]["902"]', "expected a list"),
        ({"v": [[0, 0, 1, 1]]}, 'entry "v"', "expected {timestamp: [boxes]}"),
    ],
)
def test_malformed_json_names_the_entry(
    tmp_path: Path, data: object, where: str, what: str
) -> None:
    path = write(tmp_path, "bad.json", json.dumps(data))
    with pytest.raises(UsageError) as info:
        load_proposals(path)
    assert str(info.value).startswith(f"{path}: {where}: {what}")
    assert str(info.value).endswith(PROPOSAL_FORMAT)


def test_unreadable_or_empty_proposal_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_proposals(tmp_path / "missing.csv")
    with pytest.raises(UsageError, match="no proposals in the file"):
        load_proposals(write(tmp_path, "h.csv", "video_id,timestamp,x1,y1,x2,y2\n"))
    with pytest.raises(UsageError, match=r"bad\.json:2: not valid JSON"):
        load_proposals(write(tmp_path, "bad.json", '[\n{"video_id": }]'))


def test_make_person_source_prefers_proposals(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", SCORED_CSV)
    source = make_person_source(proposals=path, detector="anything", threshold=0.5)
    assert source.name.startswith("proposals:")
    assert len(source.find("vidA", 902, FRAME)) == 1


@pytest.mark.parametrize("detector", ["yolo", "onnx:", "HOGG"])
def test_unknown_detector_names_the_accepted_forms(detector: str) -> None:
    with pytest.raises(UsageError, match=r"--detector must be 'hog' or 'onnx:PATH'"):
        make_person_source(detector=detector)


# --- IoU and NMS -----------------------------------------------------------------------


def test_box_iou_hand_cases() -> None:
    # [0,0,2,2] vs [1,1,3,3]: inter 1, union 7; identical 1; touching 0; contained 1/4;
    # zero-area box 0 (not NaN).
    got = box_iou(
        [0, 0, 2, 2], [[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2], [0, 0, 1, 1], [5, 5, 5, 5]]
    )
    assert got.tolist() == pytest.approx([1 / 7, 1.0, 0.0, 0.25, 0.0])


def test_nms_hand_cases() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10],  # A .9
            [1, 0, 11, 10],  # B .8: IoU(A) = 90/110 = 0.82 -> suppressed
            [20, 20, 30, 30],  # C .7: disjoint -> kept
            [0, 0, 10, 20],  # D .95: IoU(A) = 100/200 = 0.5, IoU(B) = 90/210 = 0.43
            [20, 20, 30, 30],  # E .7: same as C, same score: C first (input order), E dropped
        ],
        dtype=float,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.7])
    # D first; A (IoU 0.5 with D) is above 0.45 -> suppressed; B (0.43) survives D, and
    # since A is gone B is kept; C kept, E suppressed by C.
    assert nms(boxes, scores).tolist() == [3, 1, 2]
    # IoU exactly at the threshold is kept: with 0.5, A survives D, then suppresses B.
    assert nms(boxes, scores, iou_threshold=0.5).tolist() == [3, 0, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    assert nms(np.zeros((0, 4)), np.zeros(0)).dtype == np.int64


# --- HOG -------------------------------------------------------------------------------


def hog_or_skip() -> persons.HogPersons:
    try:
        return persons.HogPersons()
    except UsageError as exc:
        pytest.skip(f"this OpenCV has no HOG detector: {exc}")


def test_hog_blank_and_odd_frames_give_empty_arrays() -> None:
    hog = hog_or_skip()
    assert hog.name == "hog" and hog.threshold == 0.5 and hog.timestamps("v") is None
    assert_empty(hog.find("v", 1.0, np.zeros((240, 320, 3), np.uint8)))
    assert_empty(hog.find("v", 1.0, np.full((720, 1280, 3), 128, np.uint8)))
    assert_empty(hog.find("v", 1.0, np.zeros((50, 2000, 3), np.uint8)))  # too thin once scaled


def test_hog_finds_players_in_the_shared_video(shared_videos: Path) -> None:
    hog = hog_or_skip()
    import cv2

    capture = cv2.VideoCapture(str(shared_videos / "test_video_structuralize.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 150)  # two basketball players, whole bodies
    ok, bgr = capture.read()
    capture.release()
    assert ok
    found = hog.find("v", 5.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert len(found) >= 1
    assert found.boxes.dtype == np.float32 and found.boxes.shape[1] == 4
    assert ((found.boxes >= 0) & (found.boxes <= 1)).all()
    assert (found.boxes[:, 2:] > found.boxes[:, :2]).all()
    assert (found.scores >= 0.5).all() and (np.diff(found.scores) <= 0).all()


def test_hog_missing_from_opencv_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persons.detectors, "_cv2",
                        lambda: types.SimpleNamespace(__version__="5.0.0"))
    with pytest.raises(UsageError, match=r"OpenCV 5\.0\.0 lacks: pip install 'opencv-python"):
        make_person_source(detector="hog")


# --- ONNX ------------------------------------------------------------------------------


def constant_model(
    path: Path, output: np.ndarray, input_shape: tuple | list = (1, 3, 64, 64),
    metadata: dict[str, str] | None = None,
) -> Path:
    """An ONNX model whose only output is ``output``, whatever the input."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    value = np.asarray(output, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["out"], value=numpy_helper.from_array(value))],
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(value.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, text in (metadata or {}).items():
        helper.set_model_props(model, {key: text})
    onnx.save(model, path)
    return path


def cxcywh(x1: float, y1: float, x2: float, y2: float) -> list[float]:
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


# Model input 64x64, frame 128x96: ratio 0.5, resized 64x48, padding left 0, top 8.
# A model box (x1, y1, x2, y2) maps to ((x1 - 0) / 0.5 / 128, (y1 - 8) / 0.5 / 96, ...).
YOLOV8_ANCHORS = [
    cxcywh(16, 24, 48, 56) + [0.9, 0.1],  # -> 0.25, 1/3, 0.75, 1.0
    cxcywh(18, 24, 50, 56) + [0.8, 0.0],  # IoU 28*32/(36*32) = 0.78 with the first: NMS
    cxcywh(0, 8, 16, 40) + [0.3, 0.95],  # another class is sure, person 0.3: dropped
    cxcywh(0, 8, 16, 40) + [0.6, 0.0],  # -> 0, 0, 0.25, 2/3
    cxcywh(40, 40, 64, 64) + [0.7, 0.0],  # bottom in the padding -> 0.625, 2/3, 1, 1(clipped)
    cxcywh(27, 0, 37, 6) + [0.99, 0.0],  # wholly in the top padding: zero height, dropped
    [0.0] * 6,
    [0.0] * 6,
]
YOLOV8_EXPECTED = [[0.25, 1 / 3, 0.75, 1.0], [0.625, 2 / 3, 1.0, 1.0], [0.0, 0.0, 0.25, 2 / 3]]


def test_onnx_yolov8_layout(tmp_path: Path) -> None:
    output = np.asarray(YOLOV8_ANCHORS, np.float32).T[None]  # (1, 4+2, 8)
    path = constant_model(tmp_path / "v8.onnx", output)
    source = make_person_source(detector=f"onnx:{path}")
    assert source.name == f"onnx:{path}" and source.timestamps("v") is None
    found = source.find("v", 1.0, FRAME)
    assert_boxes(found.boxes, YOLOV8_EXPECTED, )
    assert found.scores.tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32
    strict = make_person_source(detector=f"onnx:{path}", threshold=0.65).find("v", 1.0, FRAME)
    assert_boxes(strict.boxes, YOLOV8_EXPECTED[:2], )


def test_onnx_yolov5_layout_with_horizontal_padding(tmp_path: Path) -> None:
    # Input 64 high x 96 wide, portrait frame 96x128: ratio 0.5, resized 48x64, left 24.
    rows = np.zeros((8, 7), np.float32)  # (N, 5+2): cols < rows -> yolov5
    rows[0] = cxcywh(24, 0, 48, 32) + [0.9, 0.8, 0.1]  # 0.72 -> 0, 0, 0.5, 0.5
    rows[1] = cxcywh(60, 10, 70, 20) + [0.9, 0.5, 0.0]  # 0.45: below 0.5 though cls is not
    rows[2] = cxcywh(48, 32, 72, 64) + [1.0, 0.6, 0.0]  # 0.6 -> 0.5, 0.5, 1, 1
    path = constant_model(tmp_path / "v5.onnx", rows[None], input_shape=[1, 3, 64, 96])
    found = make_person_source(detector=f"onnx:{path}").find(
        "v", 1.0, np.zeros((128, 96, 3), np.uint8)
    )
    assert_boxes(found.boxes, [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], )
    assert found.scores.tolist() == pytest.approx([0.72, 0.6])


XYXY_ROWS = [
    [16, 24, 48, 56, 0.9, 0],  # -> 0.25, 1/3, 0.75, 1
    [16, 24, 48, 56, 0.95, 1],  # not a person
    [18, 24, 50, 56, 0.8, 0],  # overlaps the first, kept: the model did its own NMS
    [0, 8, 16, 40, 0.3, 0],  # below the threshold
]


@pytest.mark.parametrize("batched", [True, False])
def test_onnx_decoded_xyxy_layout(tmp_path: Path, batched: bool) -> None:
    output = np.asarray(XYXY_ROWS, np.float32)
    path = constant_model(tmp_path / "e2e.onnx", output[None] if batched else output)
    found = make_person_source(detector=f"onnx:{path}").find("v", 1.0, FRAME)
    assert_boxes(found.boxes,
        [[0.25, 1 / 3, 0.75, 1.0], [0.28125, 1 / 3, 0.78125, 1.0]]
    )
    assert found.scores.tolist() == pytest.approx([0.9, 0.8])


def test_onnx_single_class_yolov5_needs_forcing(tmp_path: Path) -> None:
    rows = np.zeros((8, 6), np.float32)  # (N, 5+1): 6 columns read as xyxy by default
    rows[0] = cxcywh(16, 24, 48, 56) + [0.9, 0.9]  # yolov5: score 0.81
    path = constant_model(tmp_path / "one.onnx", rows[None])
    auto = make_person_source(detector=f"onnx:{path}")
    assert len(auto.find("v", 1.0, FRAME)) == 0  # read as x1..class: class 0.9 rounds to 1
    meta = constant_model(tmp_path / "meta.onnx", rows[None], metadata={"stcli_layout": "yolov5"})
    for detector in (f"onnx:{path}#yolov5", f"onnx:{meta}"):
        source = make_person_source(detector=detector)
        found = source.find("v", 1.0, FRAME)
        assert_boxes(found.boxes, [[0.25, 1 / 3, 0.75, 1.0]], )
        assert found.scores.tolist() == pytest.approx([0.81])
    assert make_person_source(detector=f"onnx:{path}#YOLOv5").name == f"onnx:{path}#yolov5"


def test_onnx_dynamic_input_is_640(tmp_path: Path) -> None:
    # 640x640 input, frame 128x96: ratio 5, resized 640x480, top 80.
    output = np.asarray([[160, 160, 480, 400, 0.9, 0]], np.float32)
    path = constant_model(tmp_path / "dyn.onnx", output[None], input_shape=["b", 3, "h", "w"])
    source = make_person_source(detector=f"onnx:{path}")
    assert source.input_hw == (640, 640)
    found = source.find("v", 1.0, FRAME)
    assert_boxes(found.boxes, [[0.25, 1 / 6, 0.75, 2 / 3]], )


def test_onnx_bad_files_are_usage_errors(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    not_onnx = write(tmp_path, "model.onnx", "this is not a model")
    usable = r"model\.onnx: not a usable ONNX model .*supported outputs"
    with pytest.raises(UsageError, match=usable):
        make_person_source(detector=f"onnx:{not_onnx}")
    odd = constant_model(tmp_path / "odd.onnx", np.zeros((1, 3, 4), np.float32))
    with pytest.raises(UsageError, match=r"odd\.onnx: cannot tell the layout .*\(1, 4\+C, N\)"):
        make_person_source(detector=f"onnx:{odd}")
    wrong = constant_model(tmp_path / "wrong.onnx", np.zeros((1, 8, 7), np.float32))
    with pytest.raises(UsageError, match=r"not in the xyxy layout"):
        make_person_source(detector=f"onnx:{wrong}#xyxy")
    nhwc = constant_model(tmp_path / "nhwc.onnx", np.zeros((1, 5, 6)), input_shape=[1, 64, 64, 3])
    with pytest.raises(UsageError, match=r"input tensor\(float\) \[1, 64, 64, 3\] is not"):
        make_person_source(detector=f"onnx:{nhwc}")
    with pytest.raises(UsageError, match="no such file"):
        make_person_source(detector=f"onnx:{tmp_path / 'missing.onnx'}")
    with pytest.raises(UsageError, match=r"unknown layout #yolov9; use one of #yolov8"):
        make_person_source(detector=f"onnx:{tmp_path / 'missing.onnx'}#yolov9")


def test_onnx_without_onnxruntime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(UsageError) as info:
        make_person_source(detector=f"onnx:{tmp_path / 'm.onnx'}")
    assert str(info.value) == "--detector onnx:... needs onnxruntime: pip install 'stcli[onnx]'"


@pytest.mark.parametrize(
    ("shape", "layout"),
    [((1, 84, 8400), "yolov8"), ((1, 5, 8400), "yolov8"), ((1, 25200, 85), "yolov5"),
     ((1, 300, 6), "xyxy"), ((0, 6), "xyxy")],
)
def test_auto_layout_rule(shape: tuple[int, ...], layout: str) -> None:
    assert decode_output(np.zeros(shape, np.float32), "auto")[2] == layout


@pytest.mark.parametrize("shape", [(1, 5, 5), (2, 300, 6), (300,), (1, 4, 8400)])
def test_auto_layout_rejects(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        decode_output(np.zeros(shape, np.float32), "auto")
