#!/usr/bin/env bash
# The Python packages scripts/card-check.sh needs on a card machine that its image lacks (it has torch,
# transformers, accelerate, safetensors, opencv, numpy, pillow, pyyaml, tqdm; no network there), downloaded
# HERE as wheels into .whl/ (ignored by git) for the device tool to carry: run `scripts/card-wheels.sh`,
# then call the device with carry [".whl"]; card-check.sh installs them from .whl/ without an index.
# The card's Python is 3.12 on x86-64 (see /work/.library/device/KINDS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PY=${PYTHON:-.venv/bin/python}
# the project's pins for what the card lacks (pyproject.toml); torchao for the fp8 lever
# (not imageio-ffmpeg: 65 MB, over what a call carries, and nothing card-check runs writes an MP4; pytest is there)
WANT=(diffusers==0.42.1 huggingface-hub==2.4.0 transformers==5.23.0 tokenizers==0.23.3 torchao==0.18.0
      clip-anytorch==2.6.0)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --platform any -d .whl "${WANT[@]}"
du -ch .whl/*.whl | tail -1
