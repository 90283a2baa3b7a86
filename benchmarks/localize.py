"""How fast, and in how much memory, does ``stcli localize`` run? Figures, not pass/fail.

Prints, in one run:

(a) model-only windows/s: batches of windows already in memory through the network;
(b) end-to-end windows/s: ``Localizer.localize(video)`` on the same video (streaming
    decode on a background thread, resize + crop, the network, segments), and the ratio
    (b) / (a) (target >= 0.95);
(c) peak RSS of a fresh process localizing a 2-minute and a 10-minute generated video
    (target < 1.5 GB, and the 10-minute figure within 10% of the 2-minute one: memory is
    bounded by the longest window, not by the video).

Run from the repository root::

    python benchmarks/localize.py                 # all of it (~4 minutes on 2 cores)
    python benchmarks/localize.py --no-rss        # throughput only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint
sys.path.insert(0, str(Path(__file__).resolve().parent))  # timing

_RSS_CHILD = """
import json, resource, sys
from stcli.tasks.localize import load_localizer
localizer = load_localizer(checkpoint=sys.argv[1], device="cpu", backend=sys.argv[3])
result = localizer.localize(sys.argv[2])[0]
print(json.dumps({"status": result.status, "windows": getattr(result, "windows", 0),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_video(path: Path, seconds: int, size: str = "320x240", fps: int = 25) -> Path:
    """A synthetic video of ``seconds`` seconds (ffmpeg's moving test pattern)."""
    if not path.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate={fps}", "-t", str(seconds), "-c:v", "libx264",
                        "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def throughput(checkpoint: Path, video: Path, batch_size: int, backend: str,
               repeats: int) -> dict:
    """Model-only and end-to-end windows/s on one video, measured in this process (best
    of ``repeats`` interleaved rounds)."""
    import numpy as np
    from timing import best_times

    from stcli.tasks.localize import load_localizer

    localizer = load_localizer(checkpoint=checkpoint, device="cpu", batch_size=batch_size,
                               backend=backend, progress=False)
    size = localizer.preset.test.crop_size
    batch = np.random.default_rng(0).standard_normal(
        (batch_size, 3, localizer.preset.clip_len, size, size), dtype=np.float32)
    localizer.probabilities([batch])  # warm-up
    result = localizer.localize(video)[0]  # warm-up of the whole path, and the window count
    windows = result.windows
    # The same batches the end-to-end run makes: full ones, then the remainder.
    shapes = [batch] * (windows // batch_size) + ([batch[: windows % batch_size]]
                                                   if windows % batch_size else [])
    best = best_times({"model": lambda: localizer.probabilities(shapes),
                       "e2e": lambda: localizer.localize(video)}, repeats)
    model_rate = windows / best["model"]
    e2e_rate = windows / best["e2e"]
    return {"windows": windows, "backend": localizer.backend, "repeats": repeats,
            "model_windows_per_s": model_rate,
            "e2e_windows_per_s": e2e_rate, "ratio": e2e_rate / model_rate,
            "segments": len(result.segments)}


def peak_rss(checkpoint: Path, video: Path, backend: str) -> dict:
    """Peak RSS of a fresh Python process that localizes ``video``."""
    done = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(checkpoint), str(video),
                           backend],
                          capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="default: k400 reference weights")
    parser.add_argument("--video", type=Path, help="video for throughput (default: a "
                        "generated 60 s 320x240 clip)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--backend", default="auto", help="auto (as users run it), torch "
                        "or onnxruntime")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stcli-bench-") as tmp:
        folder = Path(tmp)
        checkpoint = args.checkpoint
        if checkpoint is None:
            from tests.reference import write_reference_checkpoint

            checkpoint = write_reference_checkpoint("k400", folder / "k400_reference.pth")
        video = args.video or make_video(folder / "bench_60s.mp4", 60)
        figures = {"throughput": throughput(checkpoint, video, args.batch_size, args.backend,
                                            args.repeats)}
        if not args.no_rss:
            figures["rss"] = {
                f"{minutes}min": peak_rss(checkpoint, make_video(folder / f"{minutes}min.mp4",
                                                                 60 * minutes), args.backend)
                for minutes in (2, 10)
            }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    t = figures["throughput"]
    print(f"video: {args.video or 'generated 60 s 320x240 @25 fps'}, {t['windows']} windows "
          f"of 64 frames, batch {args.batch_size}, {t['backend']}, best of {t['repeats']} "
          "interleaved rounds")
    print(f"(a) model only:  {t['model_windows_per_s']:.2f} windows/s")
    print(f"(b) end to end:  {t['e2e_windows_per_s']:.2f} windows/s")
    print(f"    ratio (b)/(a): {t['ratio']:.3f} (target >= 0.95)")
    if "rss" in figures:
        two, ten = figures["rss"]["2min"], figures["rss"]["10min"]
        growth = ten["peak_rss_mb"] / two["peak_rss_mb"] - 1
        print(f"(c) peak RSS: 2-minute video {two['peak_rss_mb']:.0f} MB ({two['windows']} "
              f"windows), 10-minute video {ten['peak_rss_mb']:.0f} MB ({ten['windows']} windows); "
              f"10-minute vs 2-minute: {growth:+.1%} (targets < 1536 MB, within 10%)")


if __name__ == "__main__":
    main()
