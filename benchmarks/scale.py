"""Does ``--executor ray`` pay for itself? Ray workers against the local executor.

Two ``stcli classify`` runs over the same folder of generated videos (ffmpeg testsrc,
10 s, 340x256; reference weights, the ONNX export cached), timed end to end as fresh
processes and alternated so that a slow spell of a shared machine lands on both:

- local: the local executor on ``--threads`` cores (the process is pinned to them, so
  onnxruntime runs that many threads);
- ray: ``--executor ray --workers W --threads-per-worker K``, with the local cluster
  each such run starts and stops (no ``RAY_ADDRESS``).

Ray's fixed start-up cost is measured apart: start a local cluster, start the W actors
and wait until each has loaded the model (``executors.ray.WorkerPool``), then stop it.
The cost model: ``per-video seconds x videos / workers + start-up``.

    python benchmarks/scale.py                                 # 8 videos, 10x3 views
    python benchmarks/scale.py --views 3x1 --repeats 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--views", help="default: the preset's official protocol (10x3)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="cores of the local run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def make_videos(folder: Path, count: int) -> Path:
    """``count`` 10 s testsrc videos (one encoded, the others copies: same work each)."""
    videos = folder / "videos"
    videos.mkdir()
    first = videos / "v00.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=340x256:rate=30", "-t", "10", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(first)], check=True)
    for i in range(1, count):
        shutil.copyfile(first, videos / f"v{i:02d}.mp4")
    return videos


def timed_run(cmd: list[str], env: dict[str, str], cores: list[int] | None) -> float:
    """Seconds of one fresh ``stcli`` process (pinned to ``cores`` when given)."""
    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          preexec_fn=pin if hasattr(os, "sched_setaffinity") else None)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd)} failed:\n{done.stderr}")
    return elapsed


def startup_cost(checkpoint: Path, views: str | None, workers: int, threads: int) -> float:
    """Seconds to start a local Ray cluster and ``workers`` actors with their models."""
    from stcli.executors.ray import WorkerPool
    from stcli.settings import ClassifySettings, ExecutorSettings, ModelSpec
    from stcli.tasks.classify import Recognizer

    options = ExecutorSettings("ray", workers=workers, threads_per_worker=threads)
    started = time.perf_counter()
    with WorkerPool(options, Recognizer, ModelSpec("k400", checkpoint),
                    ClassifySettings(views=views), "k400"):
        ready = time.perf_counter() - started
    return ready


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stcli.engines.onnx_export import ensure_exported
    from stcli.presets import load_preset
    from stcli.weights import checkpoint_sha256
    from tests.reference import write_reference_checkpoint

    cores = sorted(os.sched_getaffinity(0))[: args.threads] if hasattr(
        os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory(prefix="stcli-scale-") as tmp:
        tmp_path = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        env = {**os.environ, "STCLI_WEIGHTS": "", "STCLI_MIRROR": "http://127.0.0.1:9/"}
        env.pop("RAY_ADDRESS", None)
        env.pop("OMP_NUM_THREADS", None)
        videos = make_videos(tmp_path, args.videos)
        checkpoint = write_reference_checkpoint("k400", tmp_path / "k400.pth")
        ensure_exported(load_preset("k400"), checkpoint, checkpoint_sha256(checkpoint))
        base = [sys.executable, "-m", "stcli", "classify", str(videos), "-c", str(checkpoint),
                "-f", "json", "-q", *(["--views", args.views] if args.views else [])]
        ray = [*base, "--executor", "ray", "--workers", str(args.workers),
               "--threads-per-worker", str(args.threads_per_worker)]
        times: dict[str, list[float]] = {"local": [], "ray": []}
        startups: list[float] = []
        for _ in range(args.repeats):  # alternated: local, ray, start-up
            times["local"].append(timed_run(base, env, cores))
            times["ray"].append(timed_run(ray, env, None))
            startups.append(startup_cost(checkpoint, args.views, args.workers,
                                         args.threads_per_worker))
    local, on_ray = (statistics.median(times[k]) for k in ("local", "ray"))
    startup = statistics.median(startups)
    result = {
        "videos": args.videos, "views": args.views or "10x3 (k400 official)",
        "local_threads": args.threads, "workers": args.workers,
        "threads_per_worker": args.threads_per_worker, "repeats": args.repeats,
        "local_s": round(local, 2), "ray_s": round(on_ray, 2),
        "speedup_ray_over_local": round(local / on_ray, 3),
        "ray_startup_s": round(startup, 2),
        "per_video_local_s": round(local / args.videos, 2),
        "ray_without_startup_s": round(on_ray - startup, 2),
        "cpus": os.cpu_count(), "all_local_s": [round(t, 2) for t in times["local"]],
        "all_ray_s": [round(t, 2) for t in times["ray"]],
        "all_startup_s": [round(t, 2) for t in startups],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.videos} videos x 10 s, views {result['views']}; medians of {args.repeats} "
          f"alternated runs, fresh processes, {os.cpu_count()} CPUs:")
    rows = [(f"local ({args.threads} threads)", local, ""),
            (f"ray ({args.workers} workers x {args.threads_per_worker} threads)", on_ray,
             f"   local / ray = {local / on_ray:.2f}"),
            ("ray start-up (cluster, actors' models)", startup, ""),
            ("ray less its start-up", on_ray - startup, "")]
    for name, value, note in rows:
        print(f"  {name:40} {value:7.2f} s{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
