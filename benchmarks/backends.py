"""Which backend runs SqueezeTime fastest on this machine, and does it change the answers?

A thin driver over ``stcli.deploy.bench.run_bench`` (the library behind ``stcli bench``). On the
views of one video (default 10 clips x 3 crops) it prints

(a) model only: the views decoded and normalized in memory, fed to each backend's
    ``engine.logits`` in batches of 8: torch eager (plain PyTorch), torch (channels-last,
    what ``--backend torch`` runs), onnxruntime fp32 (what ``--backend auto`` runs on the
    CPU), onnxruntime int8 (calibrated on these clips), and with ``--torch-variants``
    TorchScript freezing and ``torch.compile``; ms per clip, speed-up over torch eager, the
    largest softmax difference and top-1 agreement with torch eager, and setup time;
(b) end to end: ``Recognizer.classify(video)`` with the torch, onnxruntime fp32 and int8
    engines (decoding, resize, crops, network, averaging): seconds per video and whether
    the top-5 labels equal the torch backend's;
(c) the two targets, with the measured values:
    - the fastest exact (fp32) CPU row vs torch eager >= 1.6x (model only);
    - classify end to end with onnxruntime fp32 (``auto``) vs torch >= 1.5x.

Each row is warmed up once, then timed in ``--repeats`` interleaved rounds (every row once
per round, so a slow spell of a shared machine hits all of them); ratios compare best
rounds. The ONNX export is made in a temporary folder (its time is the onnxruntime fp32
row's setup). Run from the repository root::

    python benchmarks/backends.py                     # ../shared/videos/demo.mp4, reference weights
    python benchmarks/backends.py --repeats 5 --torch-variants
    python benchmarks/backends.py --json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DEMO = REPO.parent / "shared" / "videos" / "demo.mp4"
TARGET_MODEL = 1.6  # fastest exact CPU row over torch eager, model only
TARGET_E2E = 1.5  # classify with onnxruntime fp32 (auto) over torch, end to end
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="video to measure (default: "
                        "../shared/videos/demo.mp4, else a generated 10 s 340x256 clip)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file (default: "
                        "reference weights for the preset, written to a temporary folder)")
    parser.add_argument("--preset", default="k400", help="preset (default: k400)")
    parser.add_argument("--views", default="10x3", help="clips x crops (default: 10x3)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per network call")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default: 3)")
    parser.add_argument("--torch-variants", action="store_true",
                        help="also TorchScript freezing and torch.compile (~1 min to compile)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1:
        parser.error("--repeats and --batch-size must be at least 1")
    return args


def targets(record: dict) -> list[tuple[str, float | None, float]]:
    """(target, measured ratio or None when not measured, threshold) for both targets."""
    exact_cpu = [r for r in record["model_rows"] if r["exact"] and r["device"] == "cpu"
                 and r["name"] != "torch eager"]
    fastest = max(exact_cpu, key=lambda r: r["speedup"], default=None)
    e2e = next((r for r in record["e2e_rows"] if r["name"] == "onnxruntime fp32"), None)
    return [
        ("fastest exact CPU path vs torch eager >= 1.6x"
         + (f" ({fastest['name']})" if fastest else ""),
         fastest["speedup"] if fastest else None, TARGET_MODEL),
        ("classify end-to-end onnxruntime fp32 (auto) vs torch >= 1.5x",
         e2e["speedup"] if e2e else None, TARGET_E2E),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from stcli.cli.bench import print_report
    from stcli.deploy.bench import run_bench
    from tests.reference import write_reference_checkpoint

    logging.basicConfig(level=logging.INFO, format="benchmark: %(message)s")  # progress lines

    with tempfile.TemporaryDirectory(prefix="stcli-bench-") as tmp:
        # The ONNX export (~120 MB) goes to the temporary folder, not the user's cache: every
        # run pays for it (the onnxruntime fp32 row's setup time) and leaves nothing behind.
        os.environ["XDG_CACHE_HOME"] = tmp
        variant = {"ava21": "ava"}.get(args.preset, args.preset)  # the fixture's name
        checkpoint = args.checkpoint or write_reference_checkpoint(
            variant, Path(tmp) / f"{args.preset}_reference.pth")
        video = args.video or (SHARED_DEMO if SHARED_DEMO.is_file() else None)
        report = run_bench(args.preset, checkpoint, video, batch_size=args.batch_size,
                           repeats=args.repeats, views=args.views,
                           torch_variants=args.torch_variants)
    record = report.to_dict()
    record["targets"] = [{"target": name, "measured": value, "threshold": threshold,
                          "met": value is not None and value >= threshold}
                         for name, value, threshold in targets(record)]
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    print_report(record)
    print()
    for t in record["targets"]:
        measured = "not measured" if t["measured"] is None else f"{t['measured']:.2f}x"
        print(f"target: {t['target']}: {measured}: {'MET' if t['met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
