#!/usr/bin/env bash
# Sets up .venv on first use, then starts Latentflow (server + canvas at http://127.0.0.1:8188).
# Extra arguments go to main.py, e.g. ./start.sh --port 8189, or ./start.sh run workflow.json
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
"$ROOT/scripts/setup_env.sh" run
exec "${LATENTFLOW_VENV:-$ROOT/.venv}/bin/python" "$ROOT/main.py" "$@"
