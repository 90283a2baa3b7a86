"""URL inputs: a video served over HTTP on 127.0.0.1 gives the results of the same file
read locally; a URL nothing answers at, a 404 and a server that never answers
(``STCLI_NET_TIMEOUT_S``) are each one error row naming the URL and the cause, while the
rest of the batch goes on."""

from __future__ import annotations

import io
import json
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stcli.batch.shards import shard_of
from stcli.inputs import input_keys
from stcli.urls import is_url
from stcli.video.decoding import network_options
from stcli.video.frames import open_video
from tests.conftest import make_video, run_stcli
from tests.http_server import serving


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    make_video(folder / "clip.mp4", frames=80, size=(160, 120), pattern="mandelbrot")
    # A phone video: stored landscape, shown portrait by its display matrix.
    stored = make_video(folder / "stored.mkv", frames=12, size=(96, 64))
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(stored), "-c", "copy",
                    "-metadata:s:v", "rotate=90", str(folder / "turned.mp4")], check=True)
    return folder


def test_url_detection_keys_and_timeouts() -> None:
    urls = ["https://example.org/a b.mp4?sig=x&t=[1]", "rtsp://cam.local:554/live"]
    assert all(map(is_url, urls)) and not any(map(is_url, ["C:\\v.mp4", "v.mp4", "./x://"]))
    stdin = io.StringIO("rtmp://host/app/stream\n")
    keys = input_keys([*urls, urls[0], "-"], stdin)
    # Kept as given (no glob on "?", no folding of "//"), once, each its own shard key.
    assert keys == {u: u for u in [*urls, "rtmp://host/app/stream"]}
    # Each URL's shard of 16: sha256 of the URL as given (worked out outside stcli,
    # `printf %s URL | sha256sum`, first 8 bytes big-endian, mod 16).
    assert {key: shard_of(key, 16) for key in keys.values()} == {
        urls[0]: 5, urls[1]: 2, "rtmp://host/app/stream": 9}
    assert network_options(urls[1])[0] == "-timeout"
    assert network_options(urls[0])[0] == "-rw_timeout" and network_options("v.mp4") == []


def test_url_frames_equal_the_local_file(served: Path) -> None:
    with serving(served) as base:
        for name in ("clip.mp4", "turned.mp4"):
            local, remote = open_video(served / name), open_video(base + name)
            assert remote.info.backend == "ffmpeg" and local.info.backend == "decord"
            assert remote.info.num_frames == local.info.num_frames
            np.testing.assert_allclose(remote.info.timestamps, local.info.timestamps, atol=1e-6)
            picks = [0, 3, 7, local.info.num_frames - 1]
            np.testing.assert_array_equal(remote.read(picks), local.read(picks))
        assert remote.read([0]).shape[1:3] == (96, 64)  # turned upright, as the file is


def test_cli_url_results_equal_local_and_bad_urls_fail_alone(served: Path,
                                                             reference_checkpoint) -> None:
    checkpoint = str(reference_checkpoint("k400"))
    common = ["--checkpoint", checkpoint, "--backend", "torch", "-f", "json", "-q"]
    local = str(served / "clip.mp4")
    # A server that accepts connections (the kernel's backlog) and never answers a byte.
    with serving(served) as base, socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        quiet = f"http://127.0.0.1:{silent.getsockname()[1]}/clip.mp4"
        url, missing, closed = base + "clip.mp4", base + "missing.mp4", "http://127.0.0.1:9/x.mp4"
        done = run_stcli("classify", local, missing, url, closed, quiet, "--views", "3x1",
                         *common, env={"STCLI_NET_TIMEOUT_S": "3"}, timeout=120)
        assert done.returncode == 1, done.stderr
        records = {r["video"]: r for r in json.loads(done.stdout)}
        assert list(records) == [local, missing, url, closed, quiet]  # URLs as given
        assert records[missing]["error"] == "cannot be read (Server returned 404 Not Found)"
        assert records[closed]["error"] == "cannot be read (Connection refused)"
        assert records[quiet]["error"] == "cannot be read (Connection timed out)"
        assert f"{missing}: cannot be read" in done.stderr and closed in done.stderr
        ours, theirs = records[local]["topk"], records[url]["topk"]
        assert [t["class_id"] for t in ours] == [t["class_id"] for t in theirs]
        np.testing.assert_allclose([t["score"] for t in theirs], [t["score"] for t in ours],
                                   rtol=0, atol=1e-6)

        # JSON lines: one row per video (the JSON document is keyed by id, "clip" twice).
        done = run_stcli("localize", local, url, "--min-score", "0", *common[:-3], "-f",
                         "jsonl", "-q", timeout=120)
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert second["video"].startswith("http://") and len(first["segments"]) > 3
    assert [(s["label"], s["start_s"], s["end_s"]) for s in first["segments"]] == [
        (s["label"], s["start_s"], s["end_s"]) for s in second["segments"]]
    np.testing.assert_allclose([s["score"] for s in second["segments"]],
                               [s["score"] for s in first["segments"]], rtol=0, atol=1e-6)
