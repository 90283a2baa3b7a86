"""Many machines: ``--shard I/N`` splits a batch by a stable hash of each video's path,
``stcli merge`` joins the parts into what one process would have written (issue 15).

Runs are real: ``stcli`` subprocesses on short videos ffmpeg makes, reference weights, the
ONNX exports warmed once, and options that keep each run to about a second (``--views 1x1``,
few windows, snippets and keyframes). A run's shards start together, as on a cluster.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from stcli.batch.shards import Shard, parse_shard, shard_of
from stcli.inputs import input_keys
from tests.conftest import (
    UNREACHABLE,
    finish_all,
    make_video,
    run_stcli,
    start_stcli,
    warm_onnx_cache,
)

SHARDS = 3

# A key's shard of 3, 16 and 1000 by the README's rule: sha256 of the key's UTF-8 bytes,
# the digest's first 8 bytes read big-endian, mod N. Worked out once outside stcli
# (`printf %s KEY | sha256sum`) and written down, so that another rule cannot pass.
RULE = {
    "a.mp4": (1, 0, 848),
    "b.mp4": (0, 0, 328),
    "c.mp4": (0, 1, 89),
    "e.mp4": (2, 2, 770),
    "sub/d.mp4": (2, 14, 734),
    "only.mp4": (0, 13, 589),
    "https://example.org/a b.mp4?sig=x&t=[1]": (2, 5, 93),
    "vidéo/été.mp4": (0, 13, 469),
    "日本/動画.mp4": (1, 8, 152),
}

# The keys of ``folder`` in input order, and each one's shard of 3 (from RULE): every
# shard has a video, and shard order is not input order.
KEYS = ("a.mp4", "b.mp4", "c.mp4", "e.mp4", "sub/d.mp4")
OWNERS = {0: ["b.mp4", "c.mp4"], 1: ["a.mp4"], 2: ["e.mp4", "sub/d.mp4"]}


def test_shard_of_follows_the_documented_rule():
    assert {key: tuple(shard_of(key, n) for n in (3, 16, 1000)) for key in RULE} == RULE
    # Mod 2**64 leaves the whole number: sha256's first 8 bytes, big-endian.
    assert shard_of("a.mp4", 2**64) == 0xE6D48EABD560BC60
    assert shard_of("vidéo/été.mp4", 2**64) == 0xBC67DF4C6043B2AD
    # OWNERS, which the CLI tests expect, is RULE's first column.
    assert {index: [k for k in KEYS if RULE[k][0] == index] for index in OWNERS} == OWNERS


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five videos of three contents, one in a subfolder, so that results differ; 24 to 40
    frames, so that each run takes about a second."""
    root = tmp_path_factory.mktemp("in")
    (root / "sub").mkdir()
    make_video(root / "a.mp4", frames=40, size=(160, 120))
    make_video(root / "b.mp4", frames=36, size=(96, 128), pattern="mandelbrot")
    make_video(root / "c.mp4", frames=24, size=(128, 128), pattern="smptebars")
    shutil.copyfile(root / "a.mp4", root / "sub" / "d.mp4")
    shutil.copyfile(root / "b.mp4", root / "e.mp4")
    return root


def stcli(*args: object, env: dict[str, str]):
    return run_stcli(*[str(a) for a in args], env=env)


def at_once(commands: list[tuple], env: dict[str, str]) -> list[str]:
    """Run ``commands`` together, as a cluster runs shards; each must succeed: their stdout."""
    procs = [start_stcli(*[str(a) for a in command], env=env) for command in commands]
    outputs = finish_all(procs)
    for code, _, stderr in outputs:
        assert code == 0, stderr
    return [stdout for _, stdout, _ in outputs]


def sidecar(part: Path) -> Path:
    return Path(f"{part}.shard.json")


def untimed(text: str) -> str:
    """``text`` with every per-video ``seconds`` value blanked, the rest byte for byte:
    the JSON key anywhere, and the CSV column (classify's last one) on every row."""
    text = re.sub(r'"seconds": [-0-9.eE+]+', '"seconds": 0', text)
    lines = text.splitlines(keepends=True)
    if lines and lines[0].rstrip("\n").endswith(",seconds"):
        lines = [line.rsplit(",", 1)[0] + "\n" for line in lines]
    return "".join(lines)


@dataclass(frozen=True)
class Runs:
    """One command's runs on ``folder``: the single run's output per format (by suffix),
    and what ``stcli merge`` is given: the shards' part files, or ``features``' folder."""

    single: dict[str, str]
    parts: list[Path]
    work: Path


def shard_commands(args: tuple, out: Path) -> list[tuple]:
    return [(*args, "--shard", f"{index}/{SHARDS}", "--out", out) for index in range(SHARDS)]


def file_runs(args: tuple, work: Path, env: dict[str, str], part_suffix: str,
              jsonl: bool = False) -> Runs:
    """The single run of ``args`` (``--out single.csv``, JSON on stdout, and JSON lines in a
    second run with ``jsonl``) and its shards writing ``preds.part-*{part_suffix}``."""
    singles = [(*args, "--out", work / "single.csv", "-f", "json")]
    if jsonl:
        singles.append((*args, "-f", "jsonl"))
    out = work / f"preds{part_suffix}"
    stdouts = at_once([*singles, *shard_commands(args, out)], env)
    assert stdouts[len(singles):] == [""] * SHARDS  # --out alone: nothing on stdout
    parts = [out.with_name(f"preds.part-{i:04d}-of-{SHARDS:04d}{part_suffix}")
             for i in range(SHARDS)]
    assert all(part.is_file() and sidecar(part).is_file() for part in parts)
    single = {".csv": (work / "single.csv").read_text(), ".json": stdouts[0]}
    if jsonl:
        single[".jsonl"] = stdouts[1]
    return Runs(single, parts, work)


def feature_runs(args: tuple, work: Path, env: dict[str, str]) -> Runs:
    """``features``' single run into ``features/``, then moved to ``single/``; then its
    shards into ``features/``, which holds their files and sidecars, as a cluster's would."""
    features = work / "features"
    (stdout,) = at_once([(*args, "--out", features, "-f", "json")], env)
    features.rename(work / "single")
    at_once(shard_commands(args, features), env)
    return Runs({".json": stdout}, [features], work)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, folder, ckpt, env, reference_checkpoint):
    """``runs(command)``: that command's Runs, made on first use, so that a test of one
    command waits for that command's runs only."""
    made: dict[str, Runs] = {}

    def make(command: str) -> Runs:
        work = tmp_path_factory.mktemp(command)
        if command == "classify":
            return file_runs((command, folder, "-c", ckpt, "--views", "1x1"), work, env,
                             ".jsonl", jsonl=True)
        if command == "localize":
            return file_runs((command, folder, "-c", ckpt, "--classes", "0,1,2",
                              "--min-score", "0", "--windows", "16,32", "--overlap", "0"),
                             work, env, ".csv")
        if command == "features":
            return feature_runs((command, folder, "-c", ckpt, "--stride", "16"), work, env)
        assert command == "detect"
        ava = reference_checkpoint("ava")
        # The suite's cache, where test_detect warms the same export: one per session.
        warm_onnx_cache("ava21", ava)
        offline = {"STCLI_MIRROR": UNREACHABLE, "STCLI_WEIGHTS": ""}
        proposals = work / "proposals.csv"  # two persons at a keyframe of each video
        proposals.write_text("video_id,timestamp,x1,y1,x2,y2,score\n" + "".join(
            f"{stem},0.4,0.1,0.2,0.6,0.9,0.9\n{stem},0.4,0.4,0.1,0.9,0.8,0.8\n"
            for stem in "abcde"))
        return file_runs((command, folder, "-c", ava, "--proposals", proposals), work,
                         offline, ".json")

    def get(command: str) -> Runs:
        if command not in made:
            made[command] = make(command)
        return made[command]

    return get


MERGES = [("classify", ".csv"), ("classify", ".json"), ("classify", ".jsonl"),
          ("localize", ".csv"), ("localize", ".json"), ("detect", ".csv"), ("detect", ".json"),
          ("features", ".json")]


@pytest.mark.parametrize(("command", "suffix"), MERGES, ids=[c + s for c, s in MERGES])
def test_merged_shards_equal_a_single_run(command, suffix, runs, folder, env, tmp_path):
    run = runs(command)
    merged = tmp_path / f"merged{suffix}"
    done = stcli("merge", *reversed(run.parts), "--out", merged, env=env)  # any order of parts
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == f"stcli: {SHARDS} shards merged: 5 videos, 0 failed\n"
    expected = run.single[suffix]
    assert untimed(merged.read_text()) == untimed(expected)
    # Not two empty texts: every video has results there.
    if (command, suffix) == ("detect", ".csv"):  # AVA rows: video id, keyframe, box, action
        rows = {tuple(row.split(",")[:2]) for row in expected.splitlines()}
        assert sorted(rows) == [(stem, "0.4") for stem in "abcde"]
    else:
        assert all(str(folder / key) in expected for key in KEYS)
    if suffix != ".csv":  # the timing was there, and blanked (AVA CSV has none)
        assert untimed(expected).count('"seconds": 0') == 5


def test_each_shard_processes_its_own_videos(runs, folder):
    run = runs("classify")
    lines = {json.loads(line)["video"]: line for line in run.single[".jsonl"].splitlines(True)}
    assert list(lines) == list(input_keys([str(folder)])) == [str(folder / k) for k in KEYS]
    inputs = [{"video": str(folder / key), "key": key, "shard": RULE[key][0]} for key in KEYS]
    for index, part in enumerate(run.parts):
        doc = json.loads(sidecar(part).read_text())
        assert doc["shard"] == {"index": index, "count": SHARDS}
        assert doc["inputs"] == inputs
        videos = [str(folder / key) for key in OWNERS[index]]
        assert [r["video"] for r in doc["records"]] == videos
        # The part itself: the single run's lines of the shard's videos, in input order.
        assert untimed(part.read_text()) == untimed("".join(lines[v] for v in videos))


def test_feature_shards_write_the_files_of_a_single_run(runs):
    run = runs("features")

    def files(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}

    single, sharded = files(run.work / "single"), files(run.parts[0])
    assert list(single) == [f"{stem}.{ext}" for stem in "abcde" for ext in ("json", "npy")]
    sidecars = [f"part-{i:04d}-of-{SHARDS:04d}.shard.json" for i in range(SHARDS)]
    assert sorted(sharded) == sorted([*single, *sidecars])
    assert {name: sharded[name] for name in single} == single  # byte for byte


def test_merge_refuses_mixed_settings_and_names_missing_shards(runs, folder, ckpt, env,
                                                                tmp_path):
    parts = runs("classify").parts
    out = tmp_path / "merged.csv"
    missing = stcli("merge", parts[0], parts[2], "--out", out, env=env)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"stcli: error: merge: missing shard part-0001-of-{SHARDS:04d} of {SHARDS}"]
    twice = stcli("merge", *parts, parts[1], "--out", out, env=env)
    assert twice.returncode == 2
    assert twice.stderr.splitlines() == [
        f"stcli: error: merge: shard 1/3 is given twice: {sidecar(parts[1])} and "
        f"{sidecar(parts[1])}"]
    # Shard 1 again with another --top-k: the same videos, other results.
    other = tmp_path / "other.part-0001-of-0003.csv"  # a name given explicitly is kept
    rerun = stcli("classify", folder, "-c", ckpt, "--views", "1x1", "--top-k", "2",
                  "--shard", "1/3", "--out", other, env=env)
    assert rerun.returncode == 0, rerun.stderr
    mixed = stcli("merge", parts[0], other, parts[2], "--out", out, env=env)
    assert mixed.returncode == 2
    assert mixed.stderr.splitlines() == [
        f"stcli: error: merge: {sidecar(other)} was made with different settings than "
        f"{sidecar(parts[0])} (command, version, checkpoint, engine or options differ): "
        "merge parts of one run"]
    assert not out.exists()


def test_merge_refuses_a_shard_of_other_inputs(runs, folder, ckpt, env, tmp_path):
    """A file added to the folder after shards 0 and 2 ran: shard 1, run then, splits six
    inputs. Its own videos are those of the first run (f.mp4 is shard 0's), so only the
    input lists tell that the parts do not make one run."""
    parts = runs("classify").parts
    late = tmp_path / "late.part-0001-of-0003.jsonl"
    added = folder / "f.mp4"
    shutil.copyfile(folder / "c.mp4", added)
    try:
        rerun = stcli("classify", folder, "-c", ckpt, "--views", "1x1", "--shard", "1/3",
                      "--out", late, env=env)
    finally:
        added.unlink()  # the other tests' folder, as it was
    assert rerun.returncode == 0, rerun.stderr
    assert [r["video"] for r in json.loads(sidecar(late).read_text())["records"]] == [
        str(folder / "a.mp4")]
    out = tmp_path / "merged.csv"
    done = stcli("merge", parts[0], late, parts[2], "--out", out, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"stcli: error: merge: {sidecar(late)} is foreign: it splits 6 inputs in 3 shards, "
        f"{sidecar(parts[0])} splits 5 in 3 (were files added, or other paths given?)"]
    assert not out.exists()


def test_merge_refuses_a_part_without_a_readable_sidecar(runs, env, tmp_path):
    parts = runs("classify").parts
    out = tmp_path / "merged.csv"
    # The part file copied without its sidecar.
    bare = tmp_path / parts[1].name
    shutil.copyfile(parts[1], bare)
    done = stcli("merge", parts[0], bare, parts[2], "--out", out, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"stcli: error: merge: {sidecar(bare)}: not found; a part without its sidecar is "
        "unfinished (run its shard again)"]
    # A sidecar cut short (a copy that stopped): 3 lines of JSON, then nothing.
    text = sidecar(parts[1]).read_text()
    sidecar(bare).write_text(text[:text.index('"fingerprint"')])
    done = stcli("merge", parts[0], bare, parts[2], "--out", out, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"stcli: error: merge: {sidecar(bare)}: unreadable (Expecting property name "
        "enclosed in double quotes: line 4 column 2 (char 46))"]
    assert not out.exists()


def test_merge_names_an_interrupted_shard(folder, ckpt, env, tmp_path):
    """A shard stopped by SIGTERM (a scheduler's time limit) writes its part and sidecar
    with what it finished; merge names it unfinished instead of merging a run with holes."""
    out, reports = tmp_path / "preds.csv", tmp_path / "reports"
    # Two videos from a server that accepts and never answers: they wait for the signal.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        hung = [base + "x.mp4", base + "y.mp4"]
        # Shard 0 of 1 holds every video, whichever port the URLs (keys) name.
        proc = start_stcli("classify", str(folder / "a.mp4"), *hung, "-c", str(ckpt),
                           "--views", "1x1", "--shard", "0/1", "--out", str(out),
                           "--report-dir", str(reports),
                           env={**env, "STCLI_NET_TIMEOUT_S": "300"})
        deadline = time.monotonic() + 120
        while not (reports.is_dir() and any(reports.iterdir())):  # until a.mp4 is done
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()  # else it waits for the silent server
                pytest.fail(f"a.mp4 did not finish: {proc.communicate()}")
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        ((code, _, stderr),) = finish_all([proc])
    assert code == 128 + signal.SIGTERM, stderr
    part = tmp_path / "preds.part-0000-of-0001.csv"
    assert [r["video"] for r in json.loads(sidecar(part).read_text())["records"]] == [
        str(folder / "a.mp4")]
    merged = tmp_path / "merged.csv"
    done = stcli("merge", part, "--out", merged, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"stcli: error: merge: part-0000-of-0001 is unfinished: 2 videos have no result "
        f"(first: {hung[0]}); run that shard again (with --report-dir --skip-existing it "
        "resumes)"]
    assert not merged.exists()


def test_shard_of_a_file_does_not_move_when_files_are_added(tmp_path):
    root = tmp_path / "videos"
    (root / "x").mkdir(parents=True)
    for name in ("m.mp4", "n.mp4", "x/o.mp4", "p.mp4", "q.mp4", "r.mp4"):
        (root / name).write_bytes(b"")
    before = list(input_keys([str(root)]).values())
    assert before == ["m.mp4", "n.mp4", "p.mp4", "q.mp4", "r.mp4", "x/o.mp4"]
    for name in ("a.mp4", "0.mp4", "x/a.mp4", "zz.mp4"):  # before, between and after
        (root / name).write_bytes(b"")
    after = list(input_keys([str(root)]).values())
    assert after == ["0.mp4", "a.mp4", "m.mp4", "n.mp4", "p.mp4", "q.mp4", "r.mp4",
                     "zz.mp4", "x/a.mp4", "x/o.mp4"]
    # Each key's shard of 16 (sha256, worked out outside stcli): the key alone decides.
    assert {key: shard_of(key, 16) for key in after} == {
        "0.mp4": 9, "a.mp4": 0, "m.mp4": 2, "n.mp4": 4, "p.mp4": 10, "q.mp4": 9,
        "r.mp4": 5, "x/a.mp4": 13, "x/o.mp4": 9, "zz.mp4": 7}
    # The key is the path under the folder given, however the folder is spelled.
    assert list(input_keys([str(root) + "/"]).values()) == after
    assert list(input_keys([f"{tmp_path}/../{tmp_path.name}/videos"]).values()) == after


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


def test_a_shard_without_videos_writes_an_empty_part(tmp_path, folder, ckpt, env):
    shutil.copyfile(folder / "c.mp4", tmp_path / "only.mp4")
    out = tmp_path / "preds.jsonl"
    # only.mp4 is shard 0's (RULE): shard 1 has no video.
    done = stcli("classify", tmp_path, "-c", ckpt, "--views", "1x1", "--shard", "1/3",
                 "--out", out, env=env)
    assert done.returncode == 0, done.stderr
    part = tmp_path / "preds.part-0001-of-0003.jsonl"
    assert part.read_text() == ""
    doc = json.loads(sidecar(part).read_text())
    assert doc["records"] == []
    assert doc["inputs"] == [{"video": str(tmp_path / "only.mp4"), "key": "only.mp4",
                              "shard": 0}]
