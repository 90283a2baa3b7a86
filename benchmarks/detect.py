"""How fast does ``stcli detect`` run? Figures, not pass/fail.

Prints, in one run, on the same video (generated, 320x240 at 25 fps; ``--video`` for
another):

(a) backbone-only keyframes/s: batches of 16x256x256 clips already in memory through the
    backbone (no RoI head, no decoding);
(b) end-to-end keyframes/s with person boxes from a proposals file (decode, resize,
    clip assembly, backbone, RoIAlign head), and (b) / (a);
(c) end-to-end keyframes/s with the built-in HOG person detector, and (c) / (a)
    (keyframes where HOG finds nobody skip the network, so this can exceed 1).

Run from the repository root::

    python benchmarks/detect.py                  # ~2 minutes on 2 cores
    python benchmarks/detect.py --seconds 60 --json
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
from timing import best_time  # noqa: E402


def proposals_for(video: Path, seconds: int, folder: Path) -> Path:
    """Two person boxes per whole second, as a proposal file gives them."""
    rows = [f"{video.stem},{t},0.1,0.2,0.4,0.9,0.99\n{video.stem},{t},0.5,0.1,0.8,0.95,0.98"
            for t in range(seconds + 1)]
    path = folder / "proposals.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def measure(checkpoint: Path, video: Path, proposals: Path, batch_size: int,
            repeats: int) -> dict:
    """Backbone-only and end-to-end keyframes/s, all in this process."""
    import torch

    from stcli.tasks.detect import DetectSettings, load_detector

    detector = load_detector(checkpoint=checkpoint, device="cpu", batch_size=batch_size,
                             backend="torch", progress=False)
    with_proposals = DetectSettings(keyframe_interval=1.0, proposals=str(proposals))
    with_hog = DetectSettings(keyframe_interval=1.0)
    result = detector.detect(video, with_proposals)[0]  # warm-up, and the keyframe count
    if result.status != "ok":
        raise SystemExit(f"detect failed: {result.error}")
    keyframes = len(result.keyframes)
    size = detector.preset.test.crop_size
    batch = torch.randn(batch_size, 3, detector.preset.clip_len, size, size)
    # The batch shapes the end-to-end run makes: full ones, then the remainder.
    shapes = [batch] * (keyframes // batch_size) + (
        [batch[: keyframes % batch_size]] if keyframes % batch_size else [])

    def backbone() -> None:
        with torch.inference_mode():
            for clips in shapes:
                detector.model.backbone(clips)

    backbone()  # warm-up
    model_s = best_time(backbone, repeats)
    proposals_s = best_time(lambda: detector.detect(video, with_proposals), repeats)
    hog = detector.detect(video, with_hog)[0]
    hog_s = best_time(lambda: detector.detect(video, with_hog), repeats)
    rate = keyframes / model_s
    return {
        "keyframes": keyframes, "batch_size": batch_size,
        "backbone_keyframes_per_s": rate,
        "e2e_proposals_keyframes_per_s": keyframes / proposals_s,
        "e2e_hog_keyframes_per_s": keyframes / hog_s,
        "ratio_proposals": (keyframes / proposals_s) / rate,
        "ratio_hog": (keyframes / hog_s) / rate,
        "hog_persons": sum(len(k.persons) for k in hog.keyframes),
        # Keyframes where HOG finds nobody skip the network, so (c) can beat (a).
        "hog_keyframes_with_persons": sum(bool(k.persons) for k in hog.keyframes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of the generated video")
    parser.add_argument("--video", type=Path, help="use this video instead of a generated one")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    import torch

    from tests.reference import write_reference_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = write_reference_checkpoint("ava", folder / "ava_reference.pth")
        video = args.video or make_video(folder / "scene.mp4", args.seconds)
        proposals = proposals_for(video, args.seconds if not args.video else 3600, folder)
        figures = measure(checkpoint, video, proposals, args.batch_size, args.repeats)
    figures["threads"] = torch.get_num_threads()
    figures["video"] = str(args.video) if args.video else f"generated {args.seconds} s 320x240"
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"video: {figures['video']}, {figures['keyframes']} keyframes at 1 fps, batch "
          f"{figures['batch_size']}, {figures['threads']} threads")
    print(f"(a) backbone only:            {figures['backbone_keyframes_per_s']:.2f} keyframes/s")
    print(f"(b) end to end, proposals:    {figures['e2e_proposals_keyframes_per_s']:.2f} "
          f"keyframes/s  ratio (b)/(a) {figures['ratio_proposals']:.3f}")
    print(f"(c) end to end, HOG persons:  {figures['e2e_hog_keyframes_per_s']:.2f} "
          f"keyframes/s  ratio (c)/(a) {figures['ratio_hog']:.3f}  "
          f"({figures['hog_persons']} persons on {figures['hog_keyframes_with_persons']} "
          "keyframes; keyframes without persons skip the network)")


if __name__ == "__main__":
    main()
