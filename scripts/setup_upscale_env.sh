#!/usr/bin/env bash
# Creates .venv-upscale, the optional second environment that test.sh runs tests/image/test_upscale.py in.
# Upscale models load through spandrel, which imports torchvision eagerly; PyPI's torchvision wheels link
# the CUDA build of their matching torch, so they cannot join .venv's CPU torch 2.13.0. This venv holds the
# pair below plus only what those tests import. Reruns are instant while the pins are unchanged.
#   LATENTFLOW_UPSCALE_VENV  where the venv goes (default .venv-upscale beside this repo's .venv)
#   UPSCALE_TORCH_SPEC       the torch/torchvision pair (default: the CUDA builds this project's machines carry)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LATENTFLOW_UPSCALE_VENV:-$ROOT/.venv-upscale}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${UPSCALE_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
SPANDREL_SPEC="spandrel>=0.4,<0.5"  # 0.4 is the line tested here; a 0.5 may rename architectures
# The rest of what the upscale tests and the modules they import need, at requirements*.txt's pins.
NEEDED="numpy pillow safetensors pytest pytest-timeout"
reqs=$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sed 's/#.*//' \
  | awk -v want=" $NEEDED " '{ name = tolower($1); sub(/[<>=!~;[].*/, "", name) }
                              name != "" && index(want, " " name " ") { print $1 }')

stamp="$VENV/.installed-$(printf '%s\n' "$TORCH_SPEC" "$SPANDREL_SPEC" $reqs | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
echo "installing $TORCH_SPEC, $SPANDREL_SPEC and the test tools into $VENV" >&2
# shellcheck disable=SC2086  # the specs are word lists on purpose
pip install $TORCH_SPEC
# shellcheck disable=SC2086
pip install "$SPANDREL_SPEC" $reqs
# torch.compile's GPU code generator (~0.9 GB): a dependency of the CUDA wheel, never imported by these tests
pip uninstall -y triton >/dev/null 2>&1 || true
"$VENV/bin/python" -c "import spandrel, torchvision" || { echo "error: spandrel does not import in $VENV" >&2; exit 1; }
rm -f "$VENV"/.installed-*
touch "$stamp"
