"""How fast can ``stcli watch`` follow a live source on 2 cores? Figures, not pass/fail.

For onnxruntime fp32 (what ``--backend auto`` runs on the CPU) and int8 (the exported
model quantized by ``stcli.deploy.quantize``, calibrated on a few clips of the test
video), a generated video is played in real time (``--realtime``: ffmpeg ``-re``) at each
of ``--rates`` frames per second through ``stcli.tasks.watch.watch`` (every 0.5 s of
stream time, one clip), and the summary read back:

- latency p50 / p95: capture of a clip's last frame to its result;
- whether the rate was sustained: no step skipped and the run no more than 10% (+1 s for
  ffmpeg's start) longer than the stream. Each frame is decoded and preprocessed (resize,
  crop, normalize) as it comes, the network runs twice a second whatever the rate, so the
  frame rate bounds the reader and the network's time per clip bounds the scorer.

With ``--memory S``, also the resident memory of this process while it watches an
S-second generated video (fp32, as fast as possible): at the first scored clip, a tenth of
the way and at the end; flat means the ring buffer, not the stream, bounds it.

The process is pinned to the first two CPUs. Run from the repository root::

    python benchmarks/watch.py                         # 640x480, 25/50/100/200 fps, 6 s each
    python benchmarks/watch.py --rates 25,400 --size 1280x720 --json
    python benchmarks/watch.py --rates 25 --memory 300  # + memory over a 5-minute stream
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="k400 checkpoint (default: reference "
                        "weights written to a temporary folder)")
    parser.add_argument("--rates", default="25,50,100,200", help="input frame rates to try")
    parser.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument("--seconds", type=float, default=6.0, help="stream length per rate")
    parser.add_argument("--cores", type=int, default=2, help="CPUs to pin to (default 2)")
    parser.add_argument("--memory", type=float, default=0.0, metavar="S",
                        help="also RSS over an S-second stream (default: skipped)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser.parse_args(argv)


def rss_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_over(model, video: Path) -> dict:
    """RSS at the first scored clip, a tenth of the way, and at the end of ``video``."""
    from stcli.results import WatchScore
    from stcli.settings import WatchSettings
    from stcli.tasks.watch import watch

    samples = [(e.stream_time, rss_mb()) for e in watch(str(video), WatchSettings(every=2.0),
                                                        model) if isinstance(e, WatchScore)]
    tenth = samples[len(samples) // 10]
    return {"first_mb": round(samples[0][1], 1), "tenth_mb": round(tenth[1], 1),
            "tenth_at_s": tenth[0], "end_mb": round(samples[-1][1], 1),
            "end_at_s": samples[-1][0], "peak_mb": round(max(s[1] for s in samples), 1)}


def make_stream_file(folder: Path, size: str, fps: int, seconds: float) -> Path:
    """A generated H.264 video (ffmpeg testsrc2) to be played in real time."""
    path = folder / f"src_{size}_{fps}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate={fps}", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def play(model, video: Path, seconds: float) -> dict:
    """Watch ``video`` in real time; the summary and whether the rate was kept."""
    from stcli.settings import WatchSettings
    from stcli.tasks.watch import watch

    started = time.perf_counter()
    summary = list(watch(str(video), WatchSettings(realtime=True), model))[-1]
    wall = time.perf_counter() - started
    kept = summary.steps_skipped == 0 and wall <= seconds * 1.1 + 1.0
    return {"latency_p50_ms": summary.latency_p50_ms, "latency_p95_ms": summary.latency_p95_ms,
            "clips": summary.clips_scored, "steps_skipped": summary.steps_skipped,
            "frames_dropped": summary.frames_dropped, "wall_s": round(wall, 2),
            "sustained": kept}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cpus)  # ffmpeg and onnxruntime inherit it
    with tempfile.TemporaryDirectory(prefix="stcli-watch-bench-") as tmp:
        folder = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(folder / "cache")  # the export goes here
        from stcli.deploy.export import centre_clips
        from stcli.deploy.quantize import quantize_static_int8
        from stcli.loader import LoadedModel
        from stcli.presets import load_preset
        from stcli.settings import ModelSpec
        from tests.reference import write_reference_checkpoint

        checkpoint = args.checkpoint or write_reference_checkpoint(
            "k400", folder / "k400_reference.pth")
        fp32 = LoadedModel.load(ModelSpec("k400", checkpoint, device="cpu",
                                          backend="onnxruntime"))
        rates = [int(r) for r in args.rates.split(",")]
        videos = {r: make_stream_file(folder, args.size, r, args.seconds) for r in rates}
        calibration = list(centre_clips(load_preset("k400"))(str(videos[rates[0]])))[:8]
        int8_file = quantize_static_int8(fp32.engine.path, folder / "int8.onnx", calibration)
        int8 = LoadedModel.load(ModelSpec("k400", int8_file, device="cpu"))
        report = {"cpus": cpus, "size": args.size, "seconds": args.seconds, "every_s": 0.5,
                  "rows": {}}
        for name, model in (("onnxruntime fp32", fp32), ("onnxruntime int8", int8)):
            rows = {r: play(model, videos[r], args.seconds) for r in rates}
            kept = [r for r, row in rows.items() if row["sustained"]]
            report["rows"][name] = {"rates": rows,
                                    "highest_sustained_fps": max(kept) if kept else None}
        if args.memory:
            long = make_stream_file(folder, args.size, 25, args.memory)
            report["memory"] = memory_over(fp32, long)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"stcli watch, {args.size} H.264 played in real time, {args.seconds:g} s per rate, "
          f"CPUs {cpus}, a clip every 0.5 s")
    print(f"{'engine':18} {'fps':>5} {'p50 ms':>8} {'p95 ms':>8} {'clips':>6} {'skipped':>8} "
          f"{'wall s':>7}  sustained")
    for name, row in report["rows"].items():
        for rate, r in row["rates"].items():
            print(f"{name:18} {rate:>5} {r['latency_p50_ms']:>8} {r['latency_p95_ms']:>8} "
                  f"{r['clips']:>6} {r['steps_skipped']:>8} {r['wall_s']:>7}  {r['sustained']}")
        print(f"{name}: highest input rate sustained in real time: "
              f"{row['highest_sustained_fps']} fps")
    if "memory" in report:
        m = report["memory"]
        print(f"RSS over a {args.memory:g} s stream: {m['first_mb']} MB at the first clip, "
              f"{m['tenth_mb']} MB at {m['tenth_at_s']} s, {m['end_mb']} MB at "
              f"{m['end_at_s']} s (peak {m['peak_mb']} MB)")


if __name__ == "__main__":
    main()
