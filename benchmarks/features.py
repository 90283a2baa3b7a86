"""How fast does ``stcli features`` run? Figures, not pass/fail.

Prints, in one run, on one generated video (320x240 at 25 fps; ``--video`` for another):

(a) model-only snippets/s: batches of 16x224x224 snippets already in memory through the
    backbone and global pooling;
(b) end-to-end snippets/s: ``FeatureExtractor.extract(video)`` (streaming decode on a
    background thread, resize + centre crop, backbone), and the ratio (b) / (a)
    (target >= 0.95).

Run from the repository root::

    python benchmarks/features.py                  # ~1 minute on 2 cores
    python benchmarks/features.py --stride 8 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.reference writes the reference checkpoint
sys.path.insert(0, str(REPO / "benchmarks"))

from localize import make_video  # noqa: E402 - the same generated video as localize's
from timing import best_times  # noqa: E402


def measure(checkpoint: Path, video: Path, stride: int, batch_size: int, repeats: int,
            backend: str = "auto") -> dict:
    """Model-only and end-to-end snippets/s, all in this process."""
    import numpy as np

    from stcli.tasks.features import FeatureSettings, load_extractor

    extractor = load_extractor(checkpoint=checkpoint, device="cpu", batch_size=batch_size,
                               backend=backend, progress=False)
    settings = FeatureSettings(stride=stride)
    result = extractor.extract(video, settings)[0]  # warm-up, and the snippet count
    if result.status != "ok":
        raise SystemExit(f"features failed: {result.error}")
    snippets = result.snippets
    size = extractor.preset.test.crop_size
    batch = np.random.default_rng(0).standard_normal(
        (batch_size, 3, extractor.preset.clip_len, size, size), dtype=np.float32)
    # The batch shapes the end-to-end run makes: full ones, then the remainder.
    shapes = [batch] * (snippets // batch_size) + (
        [batch[: snippets % batch_size]] if snippets % batch_size else [])

    best = best_times({"model": lambda: [extractor.features(b) for b in shapes],
                       "e2e": lambda: extractor.extract(video, settings)}, repeats)
    model_s, e2e_s = best["model"], best["e2e"]
    return {"snippets": snippets, "stride": stride, "batch_size": batch_size,
            "backend": extractor.backend,
            "model_snippets_per_s": snippets / model_s, "e2e_snippets_per_s": snippets / e2e_s,
            "ratio": model_s / e2e_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of the generated video")
    parser.add_argument("--video", type=Path, help="use this video instead of a generated one")
    parser.add_argument("--stride", type=int, default=16, help="frames between snippets")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--backend", default="auto", help="auto (as users run it), torch "
                        "or onnxruntime")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    from tests.reference import write_reference_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = write_reference_checkpoint("k400", folder / "k400_reference.pth")
        video = args.video or make_video(folder / "video.mp4", args.seconds)
        figures = measure(checkpoint, video, args.stride, args.batch_size, args.repeats,
                          args.backend)
    figures["video"] = str(args.video) if args.video else f"generated {args.seconds} s 320x240"
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"video: {figures['video']}, {figures['snippets']} snippets (stride "
          f"{figures['stride']}), batch {figures['batch_size']}, {figures['backend']}, best of "
          f"{args.repeats} interleaved rounds")
    print(f"(a) model only:  {figures['model_snippets_per_s']:.2f} snippets/s")
    print(f"(b) end to end:  {figures['e2e_snippets_per_s']:.2f} snippets/s")
    print(f"    ratio (b)/(a): {figures['ratio']:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
