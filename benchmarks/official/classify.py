"""The official pipeline as a whole process: SqueezeTime on mmaction2 1.2.0, for timing
``stcli classify`` against it (``benchmarks/classify.py --vs``). Runs in the mmaction2
environment that ``setup.sh`` beside this file builds, never in stcli's.

    python classify.py CONFIG CHECKPOINT VIDEO [--json OUT] [--fast]

It does what mmaction2's ``demo/demo.py`` does (``init_recognizer`` and
``inference_recognizer``, so the config's own ``test_pipeline``: SampleFrames 16x4 with 10
clips in test mode, DecordDecode, Resize short side 224, ThreeCrop 224, FormatShape NCTHW;
``average_clips='prob'``) on the CPU and prints the top 5. ``--json OUT`` writes all
averaged probabilities, which match ``../shared/reference/golden_calibrated.json`` to
1e-7 with the ``k400-calibrated`` reference weights (bit for bit on some CPUs).

Three run-time adjustments, none of which changes a number:
- the official backbone calls ``.cuda()`` while it is built; without CUDA that call
  returns the module unchanged (the model is moved to ``--device`` afterwards);
- the config's ``model.backbone.load`` (ImageNet initial weights, not shipped) is
  dropped: the checkpoint overwrites every parameter;
- the backbone's input is made contiguous: with torch >= 2.14 FormatShape's
  non-contiguous NumPy view keeps its strides into the backbone, whose ``x.view`` then
  fails on the same values.
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("video")
    parser.add_argument("--json", help="write all averaged class probabilities here")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fast", action="store_true",
                        help="the config's val_pipeline (1 clip, centre crop) instead")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        torch.nn.Module.cuda = lambda self, device=None: self

    from mmaction.apis import inference_recognizer, init_recognizer
    from mmengine import Config

    cfg = Config.fromfile(args.config)
    cfg.model.backbone.load = None
    if args.fast:
        cfg.test_pipeline = cfg.val_pipeline
    model = init_recognizer(cfg, args.checkpoint, device=args.device)
    model.backbone.register_forward_pre_hook(
        lambda module, inputs: tuple(t.contiguous() if torch.is_tensor(t) else t
                                     for t in inputs))
    with torch.no_grad():
        probs = inference_recognizer(model, args.video).pred_score.float().cpu().tolist()
    top5 = sorted(range(len(probs)), key=lambda i: -probs[i])[:5]
    for i in top5:
        print(f"{i}\t{probs[i]:.6f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"video": args.video, "probs": probs}, f)


if __name__ == "__main__":
    main()
