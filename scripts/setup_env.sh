#!/usr/bin/env bash
# Creates .venv (if missing) and installs what Latentflow needs. Run by start.sh and test.sh.
# PyTorch goes in first, as a matching torch/torchvision pair (torchvision is what spandrel, and so the
# upscale models, import). The default pair is a CUDA build that also runs on the CPU, so one .venv
# serves CPU machines, CI and NVIDIA GPUs; TORCH_SPEC picks another pair (ROCm, an older CUDA driver):
#   TORCH_SPEC="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cu126" ./start.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LATENTFLOW_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  echo "installing $TORCH_SPEC" >&2
  # shellcheck disable=SC2086  # the spec is a word list on purpose
  pip install $TORCH_SPEC
fi
stamp="$VENV/.installed-$(cat "$ROOT"/requirements*.txt | sha256sum | cut -c1-16)-${1:-run}"
if [ ! -f "$stamp" ]; then
  pip install -r "$ROOT/requirements.txt"
  if [ "${1:-run}" = "dev" ]; then pip install -r "$ROOT/requirements-dev.txt"; fi
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
