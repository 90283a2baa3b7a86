"""``stcli bench``: which rows it measures and how they compare with eager PyTorch.

Timings themselves are not asserted (a shared 2-core machine makes them noise); what is
checked is that every row exists, that its figures agree with one another (ms per clip and
clips/s of the same round, speed-ups from the times reported), that the exact backends give
the eager numbers, and that the report says what it skipped and why.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from stcli.deploy.bench import EAGER, BenchReport, run_bench
from stcli.engines.backends import cpu_has_bf16, openvino_installed
from stcli.errors import UsageError
from tests.conftest import make_video, run_stcli

SMALL = {"batch_size": 1, "repeats": 1, "views": "1x1", "int8": False}
# The module's report: one batch of two clips, so that per clip and per batch differ.
PAIR = {**SMALL, "batch_size": 2}


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX cache for this module: the library and CLI runs share one export."""
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("bench") / "small.mp4", frames=40,
                      size=(160, 120))


@pytest.fixture(scope="module")
def report(reference_checkpoint, small_video: Path, cache_home: Path) -> BenchReport:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        return run_bench("k400", reference_checkpoint("k400"), small_video, **PAIR)


# Reported figures are rounded: times in ms to 3 decimals, seconds to 4, ratios to 3.
# Relations between them hold within these half units.
MS, SECONDS, RATIO = 0.5e-3, 0.5e-4, 0.5e-3


def ratio_range(num: float, den: float, half: float) -> tuple[float, float]:
    """The range of ``num / den`` for two figures rounded to within ``half`` of their
    values, widened by the ratio's own rounding."""
    return (num - half) / (den + half) - RATIO, (num + half) / (den - half) + RATIO


def per_clip_and_rate_agree(ms_per_clip: float, clips_per_s: float) -> bool:
    """ms per clip and clips per second of the same round are inverses (1000 / each
    other), within their rounding to 3 decimals."""
    return (ms_per_clip - MS) * (clips_per_s - MS) <= 1000 <= (
        (ms_per_clip + MS) * (clips_per_s + MS))


def per_view_agrees(ms_per_view: float, seconds: float, views: int) -> bool:
    """ms per view is the round's seconds (to 4 decimals) over the views."""
    return abs(ms_per_view - 1000 * seconds / views) <= 1000 * SECONDS / views + MS


def test_model_rows_are_measured_and_exact_rows_match_eager(report: BenchReport) -> None:
    rows = {r.name: r for r in report.model_rows}
    assert [r.name for r in report.model_rows][:3] == [EAGER, "torch", "onnxruntime fp32"]
    assert "onnxruntime int8" not in rows  # int8=False
    eager = rows[EAGER]
    for row in report.model_rows:
        assert row.clips == 2 and row.batch_size == 2
        # The best round per clip, and clips/s of the same round.
        assert per_clip_and_rate_agree(row.ms_per_clip, row.clips_per_s), row
        assert row.ms_per_clip_median == row.ms_per_clip  # one round: best and median
        # Eager's best round over this row's.
        low, high = ratio_range(eager.ms_per_clip, row.ms_per_clip, MS)
        assert low <= row.speedup <= high, row
    assert eager.speedup == 1.0 and eager.max_prob_diff == 0.0
    for name in ("torch", "onnxruntime fp32"):
        assert rows[name].exact
        assert rows[name].max_prob_diff < 1e-4
        assert rows[name].top1_agreement == 1.0
    assert rows["onnxruntime fp32"].backend == "onnxruntime"
    assert report.clip_shape == [3, 16, 224, 224]
    if cpu_has_bf16():  # the bf16 rows are there, and never called exact
        approximate = ["openvino bf16", "torch bf16"] if openvino_installed() else ["torch bf16"]
        for name in approximate:
            assert rows[name].precision == "bf16" and not rows[name].exact, name
            assert 0 < rows[name].top1_agreement <= 1 and rows[name].max_prob_diff >= 0


def test_end_to_end_rows_agree_on_the_top5(report: BenchReport) -> None:
    assert [r.name for r in report.e2e_rows][:2] == ["torch", "onnxruntime fp32"]
    torch_row = report.e2e_rows[0]
    for row in report.e2e_rows:
        assert row.views == 1
        # The best round's seconds per view; one round: best and median; the torch row's
        # time over this row's.
        assert per_view_agrees(row.ms_per_view, row.seconds, row.views), row
        assert row.seconds_median == row.seconds
        low, high = ratio_range(torch_row.seconds, row.seconds, SECONDS)
        assert low <= row.speedup <= high, row
        assert len(row.top5) == 5
        assert row.same_top5 or "bf16" in row.name  # exact rows give torch's answer
    assert torch_row.speedup == 1.0


def test_report_describes_the_machine_and_is_plain_json(report: BenchReport) -> None:
    record = json.loads(json.dumps(report.to_dict()))
    machine = record["machine"]
    assert machine["cpu"] and machine["usable_cores"] >= 1 and machine["torch_threads"] >= 1
    assert machine["onnxruntime"] != "not installed"
    assert {"platform", "python", "torch", "logical_cores", "cuda"} <= set(machine)
    assert record["preset"] == "k400" and record["views"] == "1x1"


def test_without_onnxruntime_a_detection_preset_runs_the_torch_rows(
    reference_checkpoint, small_video: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    report = run_bench("ava21", reference_checkpoint("ava"), small_video, e2e=True, **SMALL)
    assert [r.name for r in report.model_rows][:2] == [EAGER, "torch"]
    assert not any(r.backend == "onnxruntime" for r in report.model_rows)
    assert report.e2e_rows == []
    notes = " ".join(report.notes)
    assert "onnxruntime rows skipped: onnxruntime not installed" in notes
    assert "detection preset" in notes
    torch_row = report.model_rows[1]
    assert torch_row.max_prob_diff < 1e-4 and torch_row.top1_agreement == 1.0
    assert report.clip_shape == [3, 16, 256, 256]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"views": "2x2"}, "1 or 3 crops"),
    ({"video": "missing.mp4"}, "no such file"),
    ({"repeats": 0}, "at least 1"),
])
def test_bad_options_fail_before_any_work(kwargs, message) -> None:
    with pytest.raises(UsageError, match=message):
        run_bench("k400", **kwargs)


def test_cli_prints_one_json_object_and_writes_it(
    reference_checkpoint, small_video: Path, cache_home: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "bench.json"
    proc = run_stcli("bench", "--checkpoint", str(reference_checkpoint("k400")), "--video",
                     str(small_video), "--format", "json", "--no-int8", "--views", "1x1",
                     "--batch-size", "1", "--repeats", "1", "--out", str(out),
                     env={"XDG_CACHE_HOME": str(cache_home)})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == record
    assert record["machine"]["usable_cores"] >= 1 and record["machine"]["torch"]
    names = [r["name"] for r in record["model_rows"]]
    assert names[:3] == [EAGER, "torch", "onnxruntime fp32"]
    for row in record["model_rows"]:
        assert row["clips"] == 1 and row["batch_size"] == 1
        assert per_clip_and_rate_agree(row["ms_per_clip"], row["clips_per_s"]), row
    for row in record["e2e_rows"]:
        assert per_view_agrees(row["ms_per_view"], row["seconds"], row["views"]), row
    assert all(r["same_top5"] for r in record["e2e_rows"] if "bf16" not in r["name"])
    assert "stcli: timing" in proc.stderr  # progress on stderr, data only on stdout


def test_cli_rejects_an_unknown_format() -> None:
    proc = run_stcli("bench", "--format", "csv")
    assert proc.returncode == 2 and "--format 'csv'" in proc.stderr
