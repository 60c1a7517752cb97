#!/usr/bin/env bash
# Sets up .venv with the test requirements (and Debian's chromium for the browser tests, when root),
# then runs the whole test suite. Extra arguments go to pytest, e.g. ./test.sh tests/foundation -x
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
"$ROOT/scripts/setup_env.sh" dev
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian chromium for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; browser tests will skip" >&2
fi
cd "$ROOT"
set +e
"${LATENTFLOW_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  rc=1
fi
exit "$rc"
