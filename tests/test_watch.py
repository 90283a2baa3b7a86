"""``stcli watch``: live sources scored as they play. Real streams: ffmpeg serves a
generated video over TCP on 127.0.0.1 (stopping by itself), ``stcli watch`` reads it as a
user runs it; files are read the same way."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from stcli.heads import Head, save_head
from tests.conftest import make_video, offline_env, run_stcli, start_stcli, stcli_command

FPS, SECONDS = 25, 4
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory, reference_checkpoint) -> tuple[Path, dict[str, str]]:
    checkpoint = reference_checkpoint("k400")
    return checkpoint, offline_env(tmp_path_factory.mktemp("xdg"), ("k400", checkpoint))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (read from /proc: a probing connection
    would be the one client a listening ffmpeg serves)."""
    wanted = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1] == wanted and r.split()[3] == "0A" for r in rows)


def serve(port: int, seconds: int = SECONDS) -> subprocess.Popen:
    """An MPEG-TS stream of ``seconds`` (320x240, 25 fps, at its own pace) for one client
    on 127.0.0.1:port; the server ends with the stream, or after 60 s without a client."""
    url = f"tcp://127.0.0.1:{port}?listen=1&listen_timeout=60000"
    server = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
         f"testsrc=size=320x240:rate={FPS}", "-t", str(seconds), "-c:v", "libx264",
         "-preset", "ultrafast", "-g", str(FPS), "-f", "mpegts", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not listening(port):
        assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return server


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def scores(found: list[dict]) -> list[dict]:
    return [e for e in found if e["type"] == "score"]


def watch_args(setup, source: str, *more: str) -> list[str]:
    return ["watch", source, "--checkpoint", str(setup[0]), "-f", "jsonl", *more]


def test_a_stream_is_scored_on_its_own_time(setup) -> None:
    port = free_port()
    server = serve(port)
    try:
        done = run_stcli(*watch_args(setup, f"tcp://127.0.0.1:{port}", "-k", "2"),
                         env=setup[1], timeout=120)
    finally:
        server.kill()
        server.wait()
    assert done.returncode == 0, done.stderr
    found = events(done.stdout)
    times = [e["stream_time"] for e in scores(found)]
    assert times, found
    # Steps of --every 0.5 s of stream time (one may be skipped while the network is busy),
    # inside the stream, beginning once a whole clip (61 frames, 2.44 s) is in.
    assert all(b > a for a, b in zip(times, times[1:], strict=False))
    assert all(abs(t * 2 - round(t * 2)) < 1e-6 and 2.44 <= t <= SECONDS for t in times)
    assert all(len(e["topk"]) == 2 and e["latency_ms"] >= 0 for e in scores(found))
    summary = found[-1]
    assert summary["type"] == "summary" and summary["ended"] == "end of stream"
    assert summary["frames_read"] == FPS * SECONDS
    assert summary["clips_scored"] == len(times)
    assert summary["latency_p50_ms"] <= summary["latency_p95_ms"]


def test_reconnect_goes_on_after_the_server_restarts(setup) -> None:
    port = free_port()
    first = serve(port)
    proc = subprocess.Popen([*stcli_command(), *watch_args(
        setup, f"tcp://127.0.0.1:{port}", "-k", "1", "--reconnect", "3")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **setup[1]})
    second = None
    try:
        first.wait(timeout=120)  # the stream ran out: a new server takes the same port
        second = serve(port)
        out, err = proc.communicate(timeout=120)
    finally:
        for p in (proc, first, second):
            if p is not None:
                p.kill()
                p.wait()
    found = events(out)
    times = [e["stream_time"] for e in scores(found)]
    # Events from both servers, stream time going on across the outage.
    assert times and min(times) <= SECONDS and max(times) > SECONDS, (times, err)
    assert "reconnecting in 1 s (attempt 1 of 3)" in err
    # When the second stream ends, three more attempts (1, 2, 4 s) find nobody: the summary,
    # then one error line, exit 2.
    assert "reconnecting in 4 s (attempt 3 of 3)" in err
    summary = found[-1]
    assert summary["type"] == "summary" and summary["ended"] == "error"
    # (An attempt may find the second server not yet listening: then one more.)
    assert summary["reconnects"] >= 4 and summary["frames_read"] == 2 * FPS * SECONDS
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "gave up after 3 reconnects" in errors[0], err
    assert proc.returncode == 2


def test_an_unreachable_source_is_one_error_line(setup) -> None:
    url = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    done = run_stcli(*watch_args(setup, url), env=setup[1], timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"stcli: error: {url}: Connection refused"]


def test_a_silent_server_times_out(setup) -> None:
    """A server that takes the connection and sends nothing: given up after --timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)  # connections wait in the backlog; nothing is ever sent
        url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        done = run_stcli(*watch_args(setup, url, "--timeout", "1"), env=setup[1], timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"stcli: error: {url}: ")


@pytest.fixture(scope="module")
def one_clip(tmp_path_factory) -> Path:
    """61 frames at 25 fps: exactly one clip (16 frames, every 4th), ending at 2.4 s."""
    return make_video(tmp_path_factory.mktemp("watch") / "clip.mp4", frames=61, fps=FPS)


def test_a_file_scores_what_classify_gives_its_clip(setup, one_clip) -> None:
    watched = run_stcli(*watch_args(setup, str(one_clip), "--every", "2.4", "-k", "3"),
                        env=setup[1], timeout=120)
    assert watched.returncode == 0, watched.stderr
    found = scores(events(watched.stdout))
    assert [e["stream_time"] for e in found] == [2.4]
    classified = run_stcli("classify", str(one_clip), "--checkpoint", str(setup[0]),
                           "--views", "1x1", "-k", "3", "-f", "json", env=setup[1])
    assert classified.returncode == 0, classified.stderr
    expected = json.loads(classified.stdout)[0]["topk"]
    assert [e["label"] for e in found[0]["topk"]] == [e["label"] for e in expected]
    np.testing.assert_allclose([e["score"] for e in found[0]["topk"]],
                               [e["score"] for e in expected], atol=2e-6)


def test_file_events_are_deterministic_cover_it_and_form_segments(setup, generated_videos
                                                                 ) -> None:
    video = generated_videos["landscape"]  # 90 frames, 3.6 s
    plain = run_stcli(*watch_args(setup, str(video), "-k", "1"), env=setup[1], timeout=120)
    assert plain.returncode == 0, plain.stderr
    found = scores(events(plain.stdout))
    assert [e["stream_time"] for e in found] == [2.5, 3.0, 3.5]  # to the end of the file

    def stable(rec: dict) -> dict:
        return {k: v for k, v in rec.items() if k not in ("wall_time", "latency_ms")}

    again = run_stcli(*watch_args(setup, str(video), "-k", "1"), env=setup[1], timeout=120)
    assert [stable(e) for e in scores(events(again.stdout))] == [stable(e) for e in found]

    # A threshold every step of the top label reaches, held for 0.5 s: one segment from
    # the first step, started one step later, closed at the end of the stream.
    top = found[0]["topk"][0]["label"]
    lowest = min(e["topk"][0]["score"] for e in found if e["topk"][0]["label"] == top)
    # (Scores are reported to 6 decimals: the threshold sits just below the rounded one.)
    cut = run_stcli(*watch_args(setup, str(video), "-k", "1", "--threshold",
                                str(lowest - 1e-6),
                                "--min-duration", "0.5"), env=setup[1], timeout=120)
    assert cut.returncode == 0, cut.stderr
    got = events(cut.stdout)
    starts = [e for e in got if e["type"] == "start"]
    ends = [e for e in got if e["type"] == "end"]
    assert starts and len(starts) == len(ends)
    for start in starts:
        end = next(e for e in ends if e["label"] == start["label"]
                   and e["start_s"] == start["start_s"])
        assert start["stream_time"] - start["start_s"] >= 0.5 - 1e-9
        assert end["end_s"] >= start["stream_time"]
        assert end["score"] >= lowest - 2e-6
    assert any(s["label"] == top and s["start_s"] == 2.5 for s in starts)
    assert got[-1]["type"] == "summary"
    assert got.index(ends[-1]) < len(got) - 1  # ends come before the summary


def test_duration_ends_the_watch(setup, generated_videos) -> None:
    done = run_stcli(*watch_args(setup, str(generated_videos["landscape"]), "--duration", "3"),
                     env=setup[1], timeout=120)
    assert done.returncode == 0, done.stderr
    found = events(done.stdout)
    assert [e["stream_time"] for e in scores(found)] == [2.5, 3.0]
    assert found[-1]["ended"] == "duration" and found[-1]["frames_read"] == 76  # to 3.0 s


def test_render_writes_the_watched_frames(setup, one_clip, tmp_path) -> None:
    out = tmp_path / "live.mp4"
    done = run_stcli(*watch_args(setup, str(one_clip), "--every", "2.4", "--render", str(out)),
                     env=setup[1], timeout=120)
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                            "stream=codec_name,width,height,nb_read_frames", "-of", "json",
                            str(out)], capture_output=True, text=True, check=True)
    (stream,) = json.loads(probe.stdout)["streams"]
    assert stream == {"codec_name": "h264", "width": 320, "height": 240, "nb_read_frames": "61"}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_custom_head_names_the_events(setup, one_clip, tmp_path) -> None:
    rng = np.random.default_rng(0)
    head = save_head(Head(rng.normal(size=(3, 2048)), np.zeros(3), ["wave", "clap", "sit"],
                          meta={"preset": "k400"}), tmp_path / "mine.head")
    done = run_stcli(*watch_args(setup, str(one_clip), "--head", str(head), "--every", "2.4"),
                     env=setup[1], timeout=120)
    assert done.returncode == 0, done.stderr
    (score,) = scores(events(done.stdout))
    assert sorted(e["label"] for e in score["topk"]) == ["clap", "sit", "wave"]


def test_ctrl_c_closes_segments_and_sums_up(setup, tmp_path) -> None:
    video = make_video(tmp_path / "long.mp4", frames=FPS * 30, fps=FPS)
    proc = start_stcli(*watch_args(setup, str(video), "--realtime", "--threshold", "0",
                                   "-k", "1"), env=setup[1])
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert json.loads(first)["type"] == "score"
        proc.send_signal(signal.SIGINT)
        # Read on through the same buffer (communicate() would skip what readline buffered).
        out = proc.stdout.read()  # type: ignore[union-attr]
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    found = events(first + out)
    starts = [e["label"] for e in found if e["type"] == "start"]
    ends = [e["label"] for e in found if e["type"] == "end"]
    # Threshold 0: every class opens a segment at the first step; Ctrl-C lets the step
    # finish, then closes every segment, once.
    assert len(starts) == 400 and sorted(ends) == sorted(starts)
    assert found[-1]["type"] == "summary" and found[-1]["ended"] == "interrupted"
    assert proc.returncode == 130
    assert "interrupted (SIGINT)" in err


def test_online_segments_follow_threshold_and_min_duration() -> None:
    from stcli.tasks.watch import OnlineSegments

    segments = OnlineSegments(threshold=0.5, min_duration=1.0, labels=["a", "b"])
    steps = [(0.5, [0.6, 0.1]), (1.0, [0.7, 0.6]), (1.5, [0.8, 0.2]), (2.0, [0.2, 0.6]),
             (2.5, [0.6, 0.6]), (3.0, [0.6, 0.6]), (3.5, [0.6, 0.7])]
    def row(e) -> tuple:
        kind = type(e).__name__
        return (kind, e.label, e.start_s, e.stream_time if kind == "WatchStart" else e.end_s,
                e.score)

    got = [row(e) for t, p in steps for e in segments.update(t, np.array(p))]
    got += [row(e) for e in segments.close(3.5)]
    assert got == [
        # "a" held 0.5..1.5 (1 s): starts at 1.5, ends when it drops at 2.0 ("b" at 1.0
        # alone is too short to start).
        ("WatchStart", "a", 0.5, 1.5, 0.7),
        ("WatchEnd", "a", 0.5, 2.0, 0.7),
        # "b" from 2.0 held to 3.0; "a" again from 2.5, held 1 s at 3.5; both closed at 3.5.
        ("WatchStart", "b", 2.0, 3.0, 0.6),
        ("WatchStart", "a", 2.5, 3.5, 0.6),
        ("WatchEnd", "b", 2.0, 3.5, 0.625),
        ("WatchEnd", "a", 2.5, 3.5, 0.6),
    ]
