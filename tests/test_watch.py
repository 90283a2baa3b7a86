"""``stcli watch``: live sources scored as they play. Real streams: ffmpeg serves a
generated video over TCP on 127.0.0.1 (stopping by itself), ``stcli watch`` reads it as a
user runs it; files are read the same way."""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import termios
import time
from collections.abc import Callable
from datetime import datetime
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


def whole_lines(out: bytes) -> list[dict]:
    """The events of what stcli wrote, asserting that it is whole JSON lines."""
    text = out.decode()
    assert text.endswith("\n"), text[-200:]
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError as exc:
            pytest.fail(f"line {number} is not one whole JSON object ({exc}): {line[:120]}")
    return found


def seconds_of(wall_time: str) -> float:
    """An event's ``wall_time`` (ISO 8601, UTC) as ``time.time()`` seconds."""
    return datetime.fromisoformat(wall_time.replace("Z", "+00:00")).timestamp()


# Holding stcli mid-step: the test shrinks the pipe stcli writes its events into to one
# page and does not read it, so that stcli waits in the middle of writing a step's events
# (the step cannot finish before the test reads) while its stream reader goes on.
PAGE = 4096


def narrow_stdout(proc: subprocess.Popen) -> int:
    """Shrink ``proc``'s stdout pipe to one page (before it writes): its descriptor."""
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PAGE)
    return fd


def waiting_bytes(fd: int) -> int:
    """Bytes written into the pipe that the test has not read yet."""
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def blocked_writing(proc: subprocess.Popen) -> bool:
    """``proc``'s main thread is asleep in a write to a full pipe (its stdout)."""
    return "pipe_write" in Path(f"/proc/{proc.pid}/wchan").read_text()


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert proc.poll() is None, f"stcli ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def read_waiting(fd: int) -> bytes:
    """What the pipe holds now (without waiting for more)."""
    waiting = waiting_bytes(fd)
    return os.read(fd, waiting) if waiting else b""


def read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def children(pid: int) -> list[str]:
    """The command names of ``pid``'s child processes (zombies included: not yet waited
    for)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
            if int(rest.split()[1]) == pid:
                found.append(name)
    return found


def watch_args(setup, source: str, *more: str) -> list[str]:
    return ["watch", source, "--checkpoint", str(setup[0]), "-f", "jsonl", *more]


def test_a_stream_is_scored_on_its_own_time(setup) -> None:
    port = free_port()
    server = serve(port)
    started = time.time()
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
    assert all(len(e["topk"]) == 2 for e in scores(found))
    # latency_ms runs from the moment the clip's last frame came off the pipe to the result
    # (wall_time). That frame, the first at or after the step's stream time t, is served at
    # the stream's own pace from when stcli connected: it cannot have come off the pipe
    # before t seconds after stcli started (ffmpeg's -re may read a frame or two early: 0.1 s;
    # wall_time is truncated to the millisecond).
    for e in scores(found):
        came = seconds_of(e["wall_time"]) - e["latency_ms"] / 1000
        assert came >= started + e["stream_time"] - 0.1 - 0.001, (e, started)
    summary = found[-1]
    assert summary["type"] == "summary" and summary["ended"] == "end of stream"
    assert summary["frames_read"] == FPS * SECONDS
    assert summary["clips_scored"] == len(times)
    # The summary's percentiles are those of the latencies reported (to their rounding).
    latencies = [e["latency_ms"] for e in scores(found)]
    assert summary["latency_p50_ms"] == pytest.approx(np.percentile(latencies, 50), abs=1e-3)
    assert summary["latency_p95_ms"] == pytest.approx(np.percentile(latencies, 95), abs=1e-3)
    # Every step from the first whole clip to the end of the stream (2.5, 3.0, 3.5) was
    # scored or skipped; the newest, when the stream ended, is always scored.
    assert times[-1] == 3.5
    assert summary["clips_scored"] + summary["steps_skipped"] == 3


def test_steps_the_scorer_could_not_take_are_skipped_and_counted(setup) -> None:
    """A stream served faster than its events are taken: the first step's event (400
    labels, ~30 KB) fills the one-page pipe the test does not read, and the scorer waits
    there while the stream goes on. Each step due meanwhile replaces the one before
    (skipped, counted); when the test reads, the newest is scored."""
    port = free_port()
    server = serve(port)
    proc = start_stcli(*watch_args(setup, f"tcp://127.0.0.1:{port}", "--every", "0.25",
                                   "-k", "400"), env=setup[1])
    try:
        fd = narrow_stdout(proc)
        server.wait(timeout=120)  # the whole stream was sent...
        # ... and read: stcli waits for its ffmpeg once that has delivered every frame.
        wait_until(lambda: "ffmpeg" not in children(proc.pid), proc,
                   "stcli read the stream to its end")
        out = read_to_end(fd)
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.wait(timeout=60)
    finally:
        for p in (proc, server):
            p.kill()
            p.wait()
    assert proc.returncode == 0, err
    found = whole_lines(out)
    # Steps every 0.25 s of stream time from the first whole clip (frame 60, 2.4 s) to the
    # last frame (3.96 s).
    steps = [2.5, 2.75, 3.0, 3.25, 3.5, 3.75]
    times = [e["stream_time"] for e in scores(found)]
    # The step being shown when the pipe filled (the first the scorer took), then the
    # newest at the end of the stream; every other step was replaced, and counted.
    assert len(times) <= 2 and set(times) <= set(steps) and times[-1] == 3.75, times
    summary = found[-1]
    assert summary["ended"] == "end of stream" and summary["frames_read"] == FPS * SECONDS
    assert summary["clips_scored"] == len(times)
    assert summary["steps_skipped"] == len(steps) - len(times)
    # The two clips overlap (61-frame spans ending at frames 63 or 69, and 94): no frame
    # between them went unscored.
    assert summary["frames_dropped"] == 0


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


# Held mid-event: with 400 labels a step's score event is ~30 KB, and the one-page pipe
# holds stcli in the middle of writing it when the test signals. With a threshold of 0
# every class then opens a segment (400 start events). Both ways Python sets up stcli's
# stdout: buffered (the default) and unbuffered (PYTHONUNBUFFERED or python -u, common in
# containers), whose text layer drops what a write cut short by a signal left unwritten.
STDOUT_MODES = pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])


def start_held(setup, video: Path, unbuffered: str) -> tuple[subprocess.Popen, int]:
    """``stcli watch video -k 400 --threshold 0``, waiting to write its first event."""
    proc = start_stcli(*watch_args(setup, str(video), "--threshold", "0", "-k", "400"),
                       env={**setup[1], "PYTHONUNBUFFERED": unbuffered})
    fd = narrow_stdout(proc)
    wait_until(lambda: blocked_writing(proc), proc, "stcli waits to write the first event")
    return proc, fd


@STDOUT_MODES
def test_sigterm_finishes_the_step_closes_segments_and_sums_up(setup, generated_videos,
                                                              unbuffered) -> None:
    proc, fd = start_held(setup, generated_videos["landscape"], unbuffered)
    try:
        proc.send_signal(signal.SIGTERM)
        out = read_to_end(fd)
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM)" in err
    found = whole_lines(out)
    # The step finished (its score, whole, then all 400 starts), every segment was ended at
    # the last step's time, then the summary.
    assert [e["type"] for e in found] == ["score"] + ["start"] * 400 + ["end"] * 400 + [
        "summary"]
    assert found[0]["stream_time"] == 2.5 and len(found[0]["topk"]) == 400
    starts, ends = found[1:401], found[401:801]
    assert sorted(e["class_id"] for e in starts) == list(range(400))
    assert sorted(e["class_id"] for e in ends) == list(range(400))
    assert all(e["start_s"] == 2.5 and e["end_s"] == 2.5 for e in ends)
    summary = found[-1]
    assert summary["ended"] == "interrupted"
    # A file read as fast as scoring allows waits for the scorer: nothing skipped.
    assert summary["clips_scored"] == 1 and summary["steps_skipped"] == 0


@STDOUT_MODES
def test_a_second_ctrl_c_interrupts_at_once(setup, generated_videos, unbuffered) -> None:
    proc, fd = start_held(setup, generated_videos["landscape"], unbuffered)
    try:
        proc.send_signal(signal.SIGINT)  # stop after this step
        # Room for a page more: stcli writes on into the same event and waits again (in a
        # later write, after it handled the first Ctrl-C: Python runs signal handlers
        # between writes).
        out = read_waiting(fd)
        wait_until(lambda: waiting_bytes(fd) > 0 and blocked_writing(proc), proc,
                   "stcli wrote on after the first Ctrl-C")
        proc.send_signal(signal.SIGINT)  # stop now
        out += read_to_end(fd)
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT)" in err
    found = whole_lines(out)
    # The event being written was finished (whole); the step stopped there: none of its
    # 400 segments opened. Then the summary.
    assert [e["type"] for e in found] == ["score", "summary"]
    assert len(found[0]["topk"]) == 400
    assert found[-1]["ended"] == "interrupted" and found[-1]["clips_scored"] == 1


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
