"""Shared fixtures: reference checkpoints, generated videos, the shared sample videos."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.reference import write_reference_checkpoint

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_VIDEOS = SHARED / "videos"
# What the end-to-end fidelity tests read from ../shared (they skip without it locally).
SHARED_NEEDS = ("videos/demo.mp4", "reference/golden_calibrated.json",
                "reference/make_reference.py")


def missing_shared(shared: Path = SHARED) -> list[str]:
    """The files of ``SHARED_NEEDS`` absent under ``shared``."""
    return [name for name in SHARED_NEEDS if not (shared / name).is_file()]


def pytest_configure(config: pytest.Config) -> None:
    # On CI a missing ../shared would quietly skip every end-to-end fidelity test and leave
    # the run green: there it is an error, said once, before any test runs.
    missing = missing_shared()
    if os.environ.get("CI") == "true" and missing:
        raise pytest.UsageError(
            f"CI=true but {SHARED} lacks {', '.join(missing)}: the fidelity tests need "
            "../shared beside the repository (unset CI to run without them, skipping)")
    # Two cores on CI: keep torch from oversubscribing when tests run model code.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    # The suite's own cache: CLI runs export ONNX models (~120 MB each) into
    # $XDG_CACHE_HOME/stcli/onnx, which must not land in the user's home.
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="stcli-tests-xdg-")


def warm_onnx_cache(preset: str, checkpoint: Path, cache_home: str | Path | None = None) -> None:
    """Export ``checkpoint`` into the ONNX cache under ``cache_home`` (default: the suite's)
    as the first ``--backend auto`` run would, so that run prints nothing about it."""
    from stcli.engines.onnx_export import ensure_exported
    from stcli.presets import load_preset
    from stcli.weights import sha256_of

    old = os.environ["XDG_CACHE_HOME"]
    os.environ["XDG_CACHE_HOME"] = str(cache_home or old)
    try:
        ensure_exported(load_preset(preset), checkpoint, sha256_of(checkpoint))
    finally:
        os.environ["XDG_CACHE_HOME"] = old


UNREACHABLE = "http://127.0.0.1:9/"  # loopback discard port: nothing listens there


def offline_env(cache_home: Path, *exports: tuple[str, Path]) -> dict[str, str]:
    """An environment whose cache holds only the ONNX exports of ``exports`` (preset,
    checkpoint), with no weights folder and an unreachable loopback mirror: a run can only
    use the weights a test gives it, and never reaches the network."""
    for preset, checkpoint in exports:
        warm_onnx_cache(preset, checkpoint, cache_home)
    return {"XDG_CACHE_HOME": str(cache_home), "STCLI_MIRROR": UNREACHABLE,
            "STCLI_WEIGHTS": ""}


@pytest.fixture(scope="module")
def ckpt(reference_checkpoint) -> Path:
    """The k400 reference checkpoint."""
    return reference_checkpoint("k400")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, ckpt: Path) -> dict[str, str]:
    """An ``offline_env`` holding the k400 export of ``ckpt``, one per test module (a
    module that needs other exports defines its own ``env``)."""
    return offline_env(tmp_path_factory.mktemp("xdg"), ("k400", ckpt))


@pytest.fixture(scope="session")
def reference_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """``reference_checkpoint(variant)`` -> path of an mmengine-style reference .pth."""
    folder = tmp_path_factory.mktemp("weights")
    made: dict[str, Path] = {}

    def make(variant: str = "k400") -> Path:
        if variant not in made:
            made[variant] = write_reference_checkpoint(variant, folder / f"{variant}_reference.pth")
        return made[variant]

    return make


def make_video(
    path: Path, *, frames: int, size: tuple[int, int] = (320, 240), fps: int = 25,
    pattern: str = "testsrc2", codec: str = "libx264", extra: list[str] | None = None,
) -> Path:
    """Encode a synthetic video with ffmpeg's lavfi sources (deterministic content)."""
    w, h = size
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
        # ``pattern`` may carry its own options ("life=seed=3"): append ours after them.
        "-i", f"{pattern}{':' if '=' in pattern else '='}size={w}x{h}:rate={fps}",
        "-frames:v", str(frames), "-c:v", codec, "-pix_fmt", "yuv420p", *(extra or []), str(path),
    ]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture(scope="session")
def generated_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Videos made by ffmpeg: landscape, portrait, short (< one 61-frame span), one frame."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is required by the test suite (apt-get install -y ffmpeg)")
    folder = tmp_path_factory.mktemp("videos")
    return {
        "landscape": make_video(folder / "landscape.mp4", frames=90, size=(320, 240)),
        "portrait": make_video(
            folder / "portrait.mp4", frames=70, size=(180, 320), pattern="mandelbrot"
        ),
        "short": make_video(folder / "short.mp4", frames=20, size=(256, 256), pattern="smptebars"),
        "single": make_video(folder / "single.mp4", frames=1, size=(160, 120)),
    }


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    """``../shared/videos`` beside the repository; tests using it skip when it is absent
    (and the run fails at its start on CI: ``pytest_configure``)."""
    if not (SHARED_VIDEOS / "demo.mp4").is_file():
        pytest.skip("../shared/videos is not present")
    return SHARED_VIDEOS


def stcli_command() -> list[str]:
    """The command a user types: the installed ``stcli``, else ``python -m stcli``."""
    exe = shutil.which("stcli")
    return [exe] if exe else [sys.executable, "-m", "stcli"]


def as_a_foreground_job() -> None:
    """``preexec_fn`` for a child that must take the stop signals as a command typed at a
    terminal does. A test run started in the background (``pytest &``, nohup, some CI
    runners) hands SIGINT or SIGHUP on ignored, and stcli leaves ignored signals ignored."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def run_stcli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
              cwd: Path | None = None, timeout: float = 600,
              prefix: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run ``stcli`` as a user does: a subprocess with its own stdout/stderr (``prefix``:
    a command that runs it, such as ``unprivileged()``)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*prefix, *stcli_command(), *args], capture_output=True, text=True, env=full_env,
        input=stdin, cwd=cwd, timeout=timeout,
    )


def unprivileged() -> list[str]:
    """A command prefix that runs a program as an ordinary user: nothing when the tests
    already run as one; as root (CI), ``nobody`` through setpriv, allowed to read (not
    write) every file so that it can run the interpreter and read the test's inputs in
    root's private folders. Cases about permissions then hold as they do for a user."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]


def start_stcli(*args: str, env: dict[str, str] | None = None,
                preexec_fn: Callable[[], None] = as_a_foreground_job) -> subprocess.Popen:
    """Start ``stcli`` without waiting for it (several at once, or to signal it);
    ``.communicate()`` it. ``preexec_fn`` sets up the child (default: the stop signals of
    a terminal's foreground job)."""
    return subprocess.Popen([*stcli_command(), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                            preexec_fn=preexec_fn)


def finish_all(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """Wait for every started process: ``(returncode, stdout, stderr)`` of each."""
    outputs = [p.communicate(timeout=600) for p in procs]
    return [(p.returncode, *output) for p, output in zip(procs, outputs, strict=True)]


def choose(backend: str, device: str, precision: str = "fp32") -> Any:
    """``resolve_backend`` of options as given, parsed at the boundary as the CLI does
    (``ModelSpec``): unknown names fail there, impossible combinations in the choice."""
    from stcli.engines.backends import resolve_backend
    from stcli.settings import ModelSpec

    spec = ModelSpec(backend=backend, precision=precision)
    return resolve_backend(spec.backend, device, spec.precision)
