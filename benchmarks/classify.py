"""How much does ``stcli classify`` add on top of the network? Seconds per view, one video.

For one video and the official 10x3 protocol (10 clips x 3 crops = 30 views) this prints

(a) model only: the 30 views already decoded, resized, cropped and normalized in memory
    (built once with ``Recognizer.prepare``), timed through ``Recognizer.view_probabilities``
    after one warm-up call;
(b) end to end, two ways:
    - library: ``recognizer.classify(video)`` on an already loaded model: decoding, resize,
      crops, the network and softmax averaging (one warm-up call first);
    - CLI: ``stcli classify VIDEO --checkpoint CKPT --format json`` as a subprocess, which
      also pays for Python start-up, imports and loading the checkpoint on every run;
(c) the ratio end-to-end / model-only (target: library <= 1.15);
(d) with ``--vs 'COMMAND'``: any other command (a shell line; ``{video}`` and
    ``{checkpoint}`` are filled in) timed in alternation with the stcli CLI run, and the
    ratio of their medians. For example, against mmaction2's own test script::

        python benchmarks/classify.py --backend onnxruntime --checkpoint W.pth \\
          --vs 'python mmaction2/demo/demo.py CONFIG {checkpoint} {video} LABELS.txt'

Each figure is the best and the median of ``--repeats`` rounds; within a round the three
measurements alternate, so a slow spell on a shared machine does not land on one of them
alone. Ratios compare best times. Run from the repository root::

    python benchmarks/classify.py                  # ../shared/videos/demo.mp4, reference weights
    python benchmarks/classify.py --threads 2 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DEMO = REPO.parent / "shared" / "videos" / "demo.mp4"
TARGET_RATIO = 1.15
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="video to classify (default: "
                        "../shared/videos/demo.mp4, else a generated 10 s 340x256 clip)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file (default: "
                        "reference weights for the preset, written to a temporary folder)")
    parser.add_argument("--preset", default="k400", help="preset (default: k400)")
    parser.add_argument("--views", default="10x3", help="clips x crops (default: 10x3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs each (default: 3)")
    parser.add_argument("--threads", type=int, help="torch threads (torch.set_num_threads, and "
                        "OMP_NUM_THREADS for the CLI); default: torch's own choice")
    parser.add_argument("--batch-size", type=int, default=8, help="views per network call")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--backend", default="torch", help="torch, onnxruntime or auto, the "
                        "same for the library and the CLI runs (default: torch)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI subprocess runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--vs", metavar="COMMAND", help="a shell command to time in "
                        "alternation with the CLI run ({video} and {checkpoint} are filled in)")
    args = parser.parse_args(argv)
    if args.vs and args.no_cli:
        parser.error("--vs compares with the CLI run: drop --no-cli")
    if args.repeats < 1 or args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats, --batch-size and --threads must be at least 1")
    return args


def seconds(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summary(times: list[float], views: int) -> dict[str, float]:
    """Best and median, total seconds and seconds per view."""
    best, median = min(times), statistics.median(times)
    return {"best_s": best, "median_s": median, "best_s_per_view": best / views,
            "median_s_per_view": median / views, "runs_s": times}


def stcli_command() -> list[str]:
    exe = shutil.which("stcli")
    return [exe] if exe else [sys.executable, "-m", "stcli"]


def cli_call(args: argparse.Namespace, video: Path, checkpoint: Path, env: dict[str, str],
             outputs: list[str]) -> Callable[[], None]:
    """A function running ``stcli classify VIDEO ... --format json`` once, keeping stdout."""
    cmd = [*stcli_command(), "classify", str(video), "--checkpoint", str(checkpoint),
           "--preset", args.preset, "--views", args.views, "--device", args.device,
           "--batch-size", str(args.batch_size), "--backend", args.backend, "--format",
           "json", "--quiet"]

    def run() -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"benchmark: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
        outputs.append(proc.stdout)

    return run


def shell_call(line: str, env: dict[str, str]) -> Callable[[], None]:
    """A function running one shell command line, which must succeed."""
    def run() -> None:
        proc = subprocess.run(line, shell=True, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"benchmark: --vs command failed ({proc.returncode}):\n{proc.stderr}")

    return run


def run_benchmark(args: argparse.Namespace, tmp: Path) -> dict:
    import torch

    from stcli.deploy.bench import interleaved, synthetic_video
    from stcli.errors import UsageError
    from stcli.presets import Views
    from stcli.tasks.classify import load_recognizer
    from tests.reference import write_reference_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    try:  # the demo clip's shape: 10 s, 340x256, 28 fps
        video = args.video or (SHARED_DEMO if SHARED_DEMO.is_file() else
                               synthetic_video(tmp, fps=28))
    except UsageError as exc:
        sys.exit(f"benchmark: {exc}")
    checkpoint = args.checkpoint or write_reference_checkpoint(
        args.preset, tmp / f"{args.preset}_reference.pth")

    start = time.perf_counter()
    recognizer = load_recognizer(args.preset, checkpoint, device=args.device, download=False,
                                 progress=False, batch_size=args.batch_size,
                                 backend=args.backend)
    load_s = time.perf_counter() - start
    protocol = recognizer.preset.protocol(Views(args.views))
    start = time.perf_counter()
    prepared = recognizer.prepare(video, protocol)
    prepare_s = time.perf_counter() - start
    clips, views = prepared.clips, len(prepared.clips)
    results: list = []
    fns: dict[str, Callable[[], object]] = {
        "model_only": lambda: recognizer.view_probabilities(clips),
        "library": lambda: results.append(recognizer.classify(video, views=args.views)[0]),
    }
    for fn in fns.values():  # warm-up: first-call allocations, decoder start-up
        fn()
    if results[-1].status != "ok":
        sys.exit(f"benchmark: classify failed: {results[-1].error}")

    outputs: list[str] = []
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    if not args.no_cli:
        fns["cli"] = cli_call(args, video, checkpoint, env, outputs)
    if args.vs:
        vs_line = args.vs.format(video=shlex.quote(str(video)),
                                 checkpoint=shlex.quote(str(checkpoint)))
        fns["vs"] = shell_call(vs_line, env)
        fns["vs"]()  # warm-up, as the others had (file caches, first imports)
    times = interleaved(fns, args.repeats)
    out = {
        "video": str(video), "width": prepared.info.width, "height": prepared.info.height,
        "frames": prepared.info.num_frames, "checkpoint": str(checkpoint),
        "preset": args.preset, "views": protocol.views, "num_views": views,
        "batch_size": args.batch_size, "device": str(recognizer.device),
        "threads": torch.get_num_threads(), "repeats": args.repeats,
        "model_load_s": load_s, "prepare_s": prepare_s,
        "top1": results[-1].topk[0].label,
        **{name: summary(t, views) for name, t in times.items()},
    }
    out["ratio_library"] = out["library"]["best_s"] / out["model_only"]["best_s"]
    if not args.no_cli:
        out["cli_startup_s"] = seconds(lambda: subprocess.run(
            [*stcli_command(), "--version"], env=env, capture_output=True, check=True))
        out["ratio_cli"] = out["cli"]["best_s"] / out["model_only"]["best_s"]
        cli_top1 = json.loads(outputs[-1])[0]["topk"][0]["label"]
        if cli_top1 != out["top1"]:
            sys.exit(f"benchmark: CLI top-1 '{cli_top1}' != library top-1 '{out['top1']}'")
    if args.vs:
        out["vs_command"] = vs_line
        out["ratio_vs"] = out["cli"]["median_s"] / out["vs"]["median_s"]
    return out


def render(r: dict) -> str:
    """The human-readable table."""
    rows = [("(a) model only, views in memory", r["model_only"]),
            ("(b) library: recognizer.classify()", r["library"])]
    if "cli" in r:
        rows.append(("(b) CLI: stcli classify (subprocess)*", r["cli"]))
    lines = [
        f"video      {r['video']} ({r['width']}x{r['height']}, {r['frames']} frames)",
        f"setting    preset {r['preset']}, views {r['views']} = {r['num_views']} views, "
        f"batch {r['batch_size']}, {r['device']}, {r['threads']} threads, "
        f"best/median of {r['repeats']}",
        "",
        f"{'':40} {'s/view best':>12} {'s/view median':>14} {'total best s':>13}",
    ]
    lines += [f"{name:40} {s['best_s_per_view']:12.4f} {s['median_s_per_view']:14.4f} "
              f"{s['best_s']:13.3f}" for name, s in rows]
    verdict = "ok" if r["ratio_library"] <= TARGET_RATIO else "OVER TARGET"
    lines += ["", f"(c) end-to-end / model-only (best / best), library: {r['ratio_library']:.3f} "
              f"(target <= {TARGET_RATIO}: {verdict})"]
    if "cli" in r:
        lines += [f"(c) end-to-end / model-only (best / best), CLI:     {r['ratio_cli']:.3f}",
                  f"* the CLI figure includes Python start-up and imports "
                  f"(stcli --version: {r['cli_startup_s']:.2f} s) and loading the checkpoint "
                  f"(in process: {r['model_load_s']:.2f} s) on every run"]
    if "vs" in r:
        lines += [f"(d) --vs: {r['vs_command']}",
                  f"    median {r['vs']['median_s']:.3f} s against the CLI's "
                  f"{r['cli']['median_s']:.3f} s: stcli / other = {r['ratio_vs']:.3f}"]
    lines += [f"decode + resize + crop of all views (Recognizer.prepare, once): "
              f"{r['prepare_s']:.3f} s; top-1 label: {r['top1']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stcli-bench-") as tmp:
        result = run_benchmark(args, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
