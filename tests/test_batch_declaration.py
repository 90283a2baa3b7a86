"""A new batch command is one task, one settings class and one declaration: a toy command
(frames per video, read by the real decoders, no network) declared here gets the whole
batch runner from the library, shards, resume, reports, ``--out`` and per-video errors,
and its CLI command gets every shared option from ``batch_command``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from stcli import reports
from stcli.batch import BatchCommand, BatchOptions, run_batch
from stcli.cli._batch import BatchArgs, batch_command, run_command
from stcli.errors import StcliError
from stcli.presets import load_preset
from stcli.settings import ModelSpec, _Settings
from stcli.video.frames import open_video
from tests.conftest import REPO


@dataclass(frozen=True)
class ToySettings(_Settings):
    """The toy's one knob: report frames divided by ``per``."""

    per: int = 1


@dataclass
class ToyResult:
    video: str
    status: str = "ok"
    error: str | None = None
    frames: int = 0


class _Job:
    def __init__(self, settings: ToySettings) -> None:
        self.settings = settings

    def run(self, paths: list[str]) -> Iterator[ToyResult]:
        for path in paths:
            try:
                frames = open_video(path).info.num_frames
            except StcliError as exc:
                yield ToyResult(path, "error", str(exc))
                continue
            yield ToyResult(path, frames=frames // self.settings.per)


class FrameCounter:
    """The toy task's loaded model: what the runner asks of one (preset, weights digest,
    head, engine, ``video_job``)."""

    preset = load_preset("k400")
    weights_sha256 = "0" * 64
    head = None
    backend = "toy"
    loads = 0

    @classmethod
    def load(cls, spec: ModelSpec, progress: bool = True) -> FrameCounter:
        cls.loads += 1
        return cls()

    def video_job(self, settings: ToySettings, on_progress: Any = None) -> _Job:
        return _Job(settings)


TOY_LAYOUT = reports.Layout(("video", "status", "error", "frames"), asdict,
                            lambda rec: [rec], lambda records, meta: list(records))
TOY = BatchCommand("toy", "recognition", ToySettings, f"{__name__}:FrameCounter", "frame",
                   lambda _: TOY_LAYOUT)


@pytest.fixture
def folder(tmp_path: Path, generated_videos) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    shutil.copyfile(generated_videos["landscape"], root / "a.mp4")  # 90 frames
    shutil.copyfile(generated_videos["short"], root / "b.mp4")  # 20 frames
    (root / "c.mp4").write_text("not a video\n")
    return root


def test_the_library_runs_a_declared_command_with_resume_and_out(folder, tmp_path):
    out, report_dir = tmp_path / "toy.csv", tmp_path / "reports"
    options = BatchOptions(out=out, report_dir=report_dir, progress=False)
    summary = run_batch(TOY, [str(folder)], settings=ToySettings(per=2), options=options)
    videos = [str(folder / name) for name in ("a.mp4", "b.mp4", "c.mp4")]
    assert summary.videos == videos and summary.saved and summary.signum is None
    assert [(r["video"], r["status"], r["frames"]) for r in summary.records] == [
        (videos[0], "ok", 45), (videos[1], "ok", 10), (videos[2], "error", 0)]
    assert summary.failed == 1
    assert out.read_text().splitlines()[:3] == [
        "video,status,error,frames", f"{videos[0]},ok,,45", f"{videos[1]},ok,,10"]
    report = json.loads((report_dir / "a.json").read_text())
    assert report["fingerprint"]["command"] == "toy"
    assert report["fingerprint"]["settings"] == {"per": 2}
    assert report["fingerprint"]["engine"] == "toy"

    # Resumed: the two finished videos are reused, the failed one computed again.
    again = run_batch(TOY, [str(folder)], settings=ToySettings(per=2),
                      options=BatchOptions(out=out, report_dir=report_dir,
                                           skip_existing=True, progress=False))
    assert list(again.plan.done) == videos[:2] and again.plan.todo == videos[2:]
    assert again.describe() == (f"3 videos: 2 ok, 1 failed; 2 reused from {report_dir}, "
                                "1 computed (1 of them had a stale or unusable report)")


def test_a_shard_of_a_declared_command_writes_its_part_and_sidecar(folder, tmp_path):
    out = tmp_path / "toy.jsonl"
    parts = [run_batch(TOY, [str(folder)], options=BatchOptions(out=out, shard=f"{i}/2",
                                                                progress=False))
             for i in range(2)]
    # sha256 of the keys: a.mp4 and b.mp4 are shard 0 of 2, c.mp4 shard 1.
    assert [p.videos for p in parts] == [[str(folder / "a.mp4"), str(folder / "b.mp4")],
                                         [str(folder / "c.mp4")]]
    sidecar = json.loads(Path(f"{tmp_path}/toy.part-0000-of-0002.jsonl.shard.json")
                         .read_text())
    assert sidecar["command"] == "toy" and sidecar["shard"] == {"index": 0, "count": 2}
    assert [r["frames"] for r in sidecar["records"]] == [90, 20]
    part = tmp_path / "toy.part-0001-of-0002.jsonl"
    assert [json.loads(line)["status"] for line in part.read_text().splitlines()] == ["error"]


def test_the_cli_of_a_declared_command_has_every_shared_option(folder, tmp_path):
    app = typer.Typer()

    @app.command()
    @batch_command(TOY)
    def toy(paths: list[str], model: ModelSpec, per: int = 1,
            batch: BatchArgs = BatchArgs()) -> None:
        run_command(TOY, paths, model, ToySettings(per=per), batch, table=print)

    out = tmp_path / "toy.json"
    result = CliRunner().invoke(app, [str(folder), "--per", "10", "--out", str(out), "-f",
                                      "jsonl", "--report-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 1, result.output  # c.mp4 is not a video
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["status"], r["frames"]) for r in lines] == [("ok", 9), ("ok", 2), ("error", 0)]
    assert json.loads(out.read_text()) == lines
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["a.json", "b.json", "c.json"]
    assert json.loads((tmp_path / "r" / "c.json").read_text())["status"] == "error"
    names = {p.name for p in toy.__signature__.parameters.values()}  # type: ignore[attr-defined]
    assert {"preset", "checkpoint", "head", "fmt", "out", "report_dir", "skip_existing",
            "shard", "shards", "start", "end", "executor", "ray_address", "workers",
            "threads_per_worker", "quiet", "per"} <= names


def readme_block(marker: str) -> str:
    """The README's python example that contains ``marker``, as printed there."""
    readme = (REPO / "README.md").read_text()
    blocks = [b.split("\n```", 1)[0] for b in readme.split("```python\n")[1:]]
    (block,) = [b for b in blocks if marker in b]
    return block


def test_the_readme_batch_example_runs_as_printed(tmp_path, generated_videos, ckpt, env):
    (tmp_path / "videos").mkdir()
    for name, source in (("a", "landscape"), ("b", "portrait"), ("c", "short")):
        shutil.copyfile(generated_videos[source], tmp_path / "videos" / f"{name}.mp4")
    shutil.copyfile(ckpt, tmp_path / "SqueezeTime_K400_71.64.pth")  # a user's download
    done = subprocess.run([sys.executable, "-c", readme_block("stcli.run_batch(")],
                          cwd=tmp_path, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # a.mp4 and b.mp4 are shard 0 of 2 (sha256 of their keys), c.mp4 shard 1.
    assert lines[0] == ("2 videos: 2 ok, 0 failed; 0 reused from reports, 2 computed (0 of "
                        "them had a stale or unusable report)")
    assert [line.split(" ")[0] for line in lines[1:]] == ["videos/a.mp4", "videos/b.mp4"]
    part = pd.read_csv(tmp_path / "preds.part-0000-of-0002.csv")
    assert sorted(set(part["video"])) == ["videos/a.mp4", "videos/b.mp4"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["a.json", "b.json"]
