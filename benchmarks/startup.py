"""How long does ``stcli classify VIDEO`` take before its first frame is decoded?

A fresh process does what the command does up to that point (interpreter start, imports,
options into settings, the preset, the engine: a cached ONNX export opened by
onnxruntime), then decodes the first frames of the video. Each stage is timed inside the
child; the total is measured from the parent (so it includes the interpreter's own
start). Target: at most 0.4 s with a cached model (issue "Closer to the hardware limit").
Also reports whether torch was imported (it must not be on this path).

    python benchmarks/startup.py                      # reference weights, generated video
    python benchmarks/startup.py --repeats 10 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.4
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint

CHILD = r"""
import sys, time, json
t = {"start": time.time()}
from stcli.batch import BatchOptions, plan_batch
from stcli.settings import ClassifySettings, ModelSpec
from stcli.tasks.classify import Recognizer
from stcli.pipeline import decode_views
t["imports"] = time.time()
video, checkpoint = sys.argv[1], sys.argv[2]
videos = plan_batch([video], BatchOptions()).videos
settings = ClassifySettings()
spec = ModelSpec(checkpoint=checkpoint)
t["settings"] = time.time()
recognizer = Recognizer.load(spec, progress=False)
t["engine"] = time.time()
decoded = decode_views(videos[0], recognizer.preset, settings.protocol(recognizer.preset))
next(decoded)
next(decoded)
t["first_frames"] = time.time()
t["torch"] = "torch" in sys.modules
t["backend"] = recognizer.backend
print(json.dumps(t))
"""


def one_run(video: Path, checkpoint: Path, env: dict[str, str]) -> dict[str, float]:
    """Stage durations of one fresh process, in seconds."""
    started = time.time()
    done = subprocess.run([sys.executable, "-c", CHILD, str(video), str(checkpoint)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark: the child failed:\n{done.stderr}")
    t = json.loads(done.stdout)
    return {"interpreter": t["start"] - started, "imports": t["imports"] - t["start"],
            "settings": t["settings"] - t["imports"], "engine": t["engine"] - t["settings"],
            "first_frames": t["first_frames"] - t["engine"],
            "total": t["first_frames"] - started, "torch": t["torch"],
            "backend": t["backend"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="default: a generated 10 s 340x256 clip")
    parser.add_argument("--checkpoint", type=Path, help="default: k400 reference weights")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from stcli.deploy.bench import synthetic_video
    from stcli.engines.onnx_export import ensure_exported
    from stcli.presets import load_preset
    from stcli.weights import checkpoint_sha256
    from tests.reference import write_reference_checkpoint

    with tempfile.TemporaryDirectory(prefix="stcli-startup-") as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
        video = args.video or synthetic_video(tmp_path, fps=28)
        checkpoint = args.checkpoint or write_reference_checkpoint("k400", tmp_path / "k400.pth")
        ensure_exported(load_preset("k400"), checkpoint, checkpoint_sha256(checkpoint))
        one_run(video, checkpoint, env)  # warm the file caches
        runs = [one_run(video, checkpoint, env) for _ in range(args.repeats)]
    stages = ("interpreter", "imports", "settings", "engine", "first_frames", "total")
    result = {name: statistics.median(r[name] for r in runs) for name in stages}
    result.update(best_total=min(r["total"] for r in runs), repeats=args.repeats,
                  torch_imported=any(r["torch"] for r in runs), backend=runs[0]["backend"],
                  target_s=TARGET_S)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"backend {result['backend']}; medians of {args.repeats} fresh processes:")
    for name in stages:
        print(f"  {name:14} {result[name]:.3f} s")
    verdict = "ok" if result["total"] <= TARGET_S else "OVER TARGET"
    print(f"before the first frames: {result['total']:.3f} s median, {result['best_total']:.3f}"
          f" s best (target <= {TARGET_S} s: {verdict}); torch imported: "
          f"{result['torch_imported']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
