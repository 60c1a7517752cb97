#!/usr/bin/env bash
# Creates .venv (if missing) and installs what Latentflow needs. Sourced by start.sh and test.sh.
# TORCH_SPEC picks the PyTorch build; the default is the CPU build this project's CI machines carry
# locally. On a GPU machine run e.g. `TORCH_SPEC=torch ./start.sh` (or install torch into .venv first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LATENTFLOW_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing ${TORCH_SPEC:-torch==2.13.0}" >&2
  pip install "${TORCH_SPEC:-torch==2.13.0}"
fi
stamp="$VENV/.installed-$(cat "$ROOT"/requirements*.txt | sha256sum | cut -c1-16)-${1:-run}"
if [ ! -f "$stamp" ]; then
  pip install -r "$ROOT/requirements.txt"
  if [ "${1:-run}" = "dev" ]; then pip install -r "$ROOT/requirements-dev.txt"; fi
  touch "$stamp"
fi
