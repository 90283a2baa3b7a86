"""Many machines: ``--shard I/N`` splits a batch by a stable hash of each video's path,
``stcli merge`` joins the parts into what one process would have written (issue 15).

Runs are real: ``stcli`` subprocesses on videos ffmpeg makes, reference weights, one ONNX
export warmed per module, ``--views 1x1`` to keep each run to seconds.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from stcli.inputs import input_keys
from stcli.shards import Shard, parse_shard, shard_of
from tests.conftest import run_stcli

SHARDS = 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, generated_videos) -> Path:
    """Five videos of three contents, one in a subfolder, so that results differ."""
    root = tmp_path_factory.mktemp("in")
    (root / "sub").mkdir()
    for name, source in (("a", "landscape"), ("b", "portrait"), ("c", "short"),
                         ("sub/d", "landscape"), ("e", "portrait")):
        shutil.copyfile(generated_videos[source], root / f"{name}.mp4")
    return root


def stcli(*args: object, env: dict[str, str]):
    return run_stcli(*[str(a) for a in args], env=env)


def untimed(text: str) -> str:
    """``text`` with every per-video ``seconds`` value blanked, the rest byte for byte:
    the JSON key anywhere, and the CSV column (classify's last one) on every row."""
    text = re.sub(r'"seconds": [-0-9.eE+]+', '"seconds": 0', text)
    lines = text.splitlines(keepends=True)
    if lines and lines[0].rstrip("\n").endswith(",seconds"):
        lines = [line.rsplit(",", 1)[0] + "\n" for line in lines]
    return "".join(lines)


def sharded_run(command: str, folder: Path, out: Path, env: dict[str, str],
                *options: object) -> list[Path]:
    """Shards 0..N-1 of ``command`` on ``folder`` with ``--out out``: the part files."""
    parts = []
    for index in range(SHARDS):
        done = stcli(command, folder, *options, "--shard", f"{index}/{SHARDS}", "--out", out,
                     env=env)
        assert done.returncode == 0, done.stderr
        part = out.with_name(f"{out.stem}.part-{index:04d}-of-{SHARDS:04d}{out.suffix}")
        assert part.is_file() and Path(f"{part}.shard.json").is_file()
        assert done.stdout == ""  # --out alone: nothing on stdout
        parts.append(part)
    return parts


OPTIONS = {"classify": ("--views", "1x1"),
           "localize": ("--classes", "0,1,2", "--min-score", "0", "--windows", "16,32")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, folder, ckpt, env) -> dict[str, tuple[Path, str, list[Path]]]:
    """Per command: the single run's CSV, its JSON (stdout), and the shards' CSV parts."""
    made = {}
    for command, options in OPTIONS.items():
        work = tmp_path_factory.mktemp(command)
        single = stcli(command, folder, "-c", ckpt, *options, "--out", work / "single.csv",
                       "-f", "json", env=env)
        assert single.returncode == 0, single.stderr
        parts = sharded_run(command, folder, work / "preds.csv", env, "-c", ckpt, *options)
        made[command] = (work / "single.csv", single.stdout, parts)
    return made


@pytest.mark.parametrize("command", sorted(OPTIONS))
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_merged_shards_equal_a_single_run(command, suffix, runs, env, tmp_path):
    single_csv, single_json, parts = runs[command]
    merged = tmp_path / f"merged{suffix}"
    done = stcli("merge", *reversed(parts), "--out", merged, env=env)  # any order of parts
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    expected = single_csv.read_text() if suffix == ".csv" else single_json
    assert f"{SHARDS} shards merged: 5 videos" in done.stderr
    assert untimed(merged.read_text()) == untimed(expected)
    assert '"seconds": 0' in untimed(single_json)  # timing was there, and blanked


def test_each_shard_processes_its_own_videos(runs, folder):
    _, _, parts = runs["classify"]
    sidecars = [json.loads(Path(f"{p}.shard.json").read_text()) for p in parts]
    inputs = sidecars[0]["inputs"]
    assert [e["video"] for e in inputs] == list(input_keys([str(folder)]))
    assert [e["key"] for e in inputs] == ["a.mp4", "b.mp4", "c.mp4", "e.mp4", "sub/d.mp4"]
    for index, doc in enumerate(sidecars):
        assert doc["shard"] == {"index": index, "count": SHARDS}
        assert [r["video"] for r in doc["records"]] == [
            e["video"] for e in inputs if e["shard"] == index == shard_of(e["key"], SHARDS)]


def test_merge_refuses_mixed_settings_and_names_missing_shards(runs, folder, ckpt, env,
                                                                tmp_path):
    _, _, parts = runs["classify"]
    out = tmp_path / "merged.csv"
    missing = stcli("merge", parts[0], parts[2], "--out", out, env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"stcli: error: merge: missing shard part-0001-of-{SHARDS:04d} of {SHARDS}"]
    twice = stcli("merge", *parts, parts[1], "--out", out, env=env)
    assert twice.returncode == 2 and "shard 1/3 is given twice" in twice.stderr
    # Shard 1 again with another --top-k: the same videos, other results.
    other = tmp_path / "other.part-0001-of-0003.csv"  # a name given explicitly is kept
    rerun = stcli("classify", folder, "-c", ckpt, "--views", "1x1", "--top-k", "2",
                  "--shard", "1/3", "--out", other, env=env)
    assert rerun.returncode == 0, rerun.stderr
    mixed = stcli("merge", parts[0], other, parts[2], "--out", out, env=env)
    assert mixed.returncode == 2
    assert "was made with different settings" in mixed.stderr
    assert len(mixed.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_shard_of_a_file_does_not_move_when_files_are_added(tmp_path):
    root = tmp_path / "videos"
    (root / "x").mkdir(parents=True)
    for name in ("m.mp4", "n.mp4", "x/o.mp4", "p.mp4", "q.mp4", "r.mp4"):
        (root / name).write_bytes(b"")
    before = {key: shard_of(key, 16) for key in input_keys([str(root)]).values()}
    for name in ("a.mp4", "0.mp4", "x/a.mp4", "zz.mp4"):  # before, between and after
        (root / name).write_bytes(b"")
    after = {key: shard_of(key, 16) for key in input_keys([str(root)]).values()}
    assert len(after) == len(before) + 4
    assert {key: after[key] for key in before} == before
    # The key is the path under the folder given, however the folder is spelled.
    assert list(input_keys([str(root) + "/"]).values()) == list(after)
    assert list(input_keys([f"{tmp_path}/../{tmp_path.name}/videos"]).values()) == list(after)


def test_shard_auto_reads_the_scheduler():
    slurm = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5",
             "SLURM_ARRAY_TASK_COUNT": "4"}
    assert parse_shard("auto", environ=slurm) == Shard(2, 4)
    no_count = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10",
                "SLURM_ARRAY_TASK_MAX": "19"}
    assert parse_shard("auto", environ=no_count) == Shard(2, 10)
    kube = {"JOB_COMPLETION_INDEX": "3"}
    assert parse_shard("auto", 8, environ=kube) == Shard(3, 8)
    assert parse_shard("auto", environ={**kube, "STCLI_SHARDS": "5"}) == Shard(3, 5)
    assert parse_shard("3/16", environ={}) == Shard(3, 16)
    assert Shard(3, 16).name == "part-0003-of-0016"


@pytest.mark.parametrize(("args", "message"), [
    (["--shard", "3/3"], "shard 3 of 3 does not exist"),
    (["--shard", "1-3"], "give INDEX/COUNT"),
    (["--shard", "auto"], "no scheduler found"),
    (["--shard", "1/3", "--shards", "3"], "--shards goes with --shard auto"),
])
def test_bad_shards_are_usage_errors(args, message, folder, env):
    done = stcli("classify", folder, *args, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_a_shard_without_videos_writes_an_empty_part(tmp_path, generated_videos, ckpt, env):
    video = tmp_path / "only.mp4"
    shutil.copyfile(generated_videos["short"], video)
    empty = next(i for i in range(SHARDS) if shard_of("only.mp4", SHARDS) != i)
    out = tmp_path / "preds.jsonl"
    done = stcli("classify", tmp_path, "-c", ckpt, "--views", "1x1", "--shard",
                 f"{empty}/{SHARDS}", "--out", out, env=env)
    assert done.returncode == 0, done.stderr
    part = tmp_path / f"preds.part-{empty:04d}-of-{SHARDS:04d}.jsonl"
    assert part.read_text() == ""
    assert json.loads(Path(f"{part}.shard.json").read_text())["records"] == []
