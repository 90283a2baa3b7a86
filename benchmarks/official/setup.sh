#!/usr/bin/env bash
# Builds the official SqueezeTime pipeline (mmaction2 1.2.0) in its own virtual
# environment, for `benchmarks/classify.py --vs` (README "Speed"). Not part of stcli.
#   bash benchmarks/official/setup.sh [DIR]     # default DIR: ./official-mmaction2
# Needs git, network access to GitHub and PyPI (MMACTION2_GIT and SQUEEZETIME_GIT name
# other clones of the two repositories). On x86_64 without a CPU build of
# torchvision, torch 2.14.1 + torchvision 0.29.1 (a CUDA build) run on the CPU.
set -euo pipefail
DIR=$(realpath -m "${1:-official-mmaction2}")
mkdir -p "$DIR"
python3 -m venv "$DIR/venv"
PIP="$DIR/venv/bin/pip"
"$PIP" install torch==2.14.1 torchvision==0.29.1
# mmcv 2.1 without compiled ops (recognition never uses them); numpy 1 for mmcv; wheel
# for the editable install of mmaction2 without build isolation below.
"$PIP" install "numpy<2" "setuptools<70" wheel mmengine==0.10.7 decord==0.6.0 \
  "opencv-python-headless<4.11" importlib_metadata einops scipy
"$PIP" install --no-deps mmcv-lite==2.1.0
# The PyPI wheel of mmaction2 1.2.0 lacks mmaction/models/localizers/drn: install the tag.
[ -d "$DIR/mmaction2" ] || git clone -q --depth 1 -b v1.2.0 \
  "${MMACTION2_GIT:-https://github.com/open-mmlab/mmaction2}" "$DIR/mmaction2"
[ -d "$DIR/SqueezeTime" ] || git clone -q \
  "${SQUEEZETIME_GIT:-https://github.com/xinghaochen/SqueezeTime}" "$DIR/SqueezeTime"
# SqueezeTime's README: its backbone, head and configs go into the mmaction2 tree.
M="$DIR/mmaction2/mmaction"
cp "$DIR"/SqueezeTime/mmaction/models/backbones/SqueezeTime{,_ava}.py "$M/models/backbones/"
cp "$DIR/SqueezeTime/mmaction/models/heads/i2d_head.py" "$M/models/heads/"
cp -r "$DIR/SqueezeTime/configs/recognition/SqueezeTime" "$DIR/mmaction2/configs/recognition/"
grep -q SqueezeTime_ava "$M/models/backbones/__init__.py" || printf '%s\n' \
  'from .SqueezeTime import SqueezeTime' 'from .SqueezeTime_ava import SqueezeTime_ava' \
  >> "$M/models/backbones/__init__.py"
grep -q I2DHead "$M/models/heads/__init__.py" || echo 'from .i2d_head import I2DHead' \
  >> "$M/models/heads/__init__.py"
(cd "$DIR/mmaction2" && "$PIP" install --no-deps --no-build-isolation -e .)
cat <<MSG
ready. Time it against stcli (from stcli's repository root, its own environment):
  python benchmarks/classify.py --backend onnxruntime --checkpoint W.pth \\
    --vs '$DIR/venv/bin/python benchmarks/official/classify.py \\
          $DIR/mmaction2/configs/recognition/SqueezeTime/SqueezeTime_K400.py {checkpoint} {video}'
MSG
