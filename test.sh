#!/usr/bin/env bash
# Sets up .venv with the test requirements (and Debian's chromium for browser tests, when root),
# then runs the whole test suite. Extra arguments go to pytest, e.g. ./test.sh tests/foundation -x
# The upscale-model tests need spandrel, which cannot import next to .venv's CPU torch: when this run
# covers tests/image/test_upscale.py (no path arguments, or a path naming it or a folder holding it),
# they run a second time in .venv-upscale (scripts/setup_upscale_env.sh). If that venv cannot be set up,
# a warning says so, or with LATENTFLOW_REQUIRE_UPSCALE=1 (CI) the run fails.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
"$ROOT/scripts/setup_env.sh" dev
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian chromium for the browser tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; browser tests will skip" >&2
fi
cd "$ROOT"
UPSCALE_TESTS=tests/image/test_upscale.py
UPSCALE_FILE="$(cd tests/image && pwd -P)/test_upscale.py"
UPSCALE_VENV="${LATENTFLOW_UPSCALE_VENV:-$ROOT/.venv-upscale}"

# Which upscale tests this run covers, and which of the options also mean something in the second run
# (plugin options, e.g. playwright's or an output file's, stay with the first).
physical() {
  if [ -d "$1" ]; then (cd "$1" && pwd -P); else echo "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"; fi
}
covers() {  # $1 is the upscale test file or a folder holding it
  [ -e "$1" ] && { [ "$(physical "$1")" = "$UPSCALE_FILE" ] || [[ "$UPSCALE_FILE" = "$(physical "$1")"/* ]]; }
}
paths=0 ignored=0 selecting=0 targets=() opts=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[$i]} next=${args[$((i + 1))]:-}
  case "$a" in
    -k | -m | --deselect) opts+=("$a" "$next"); selecting=1; i=$((i + 1)) ;;
    -p) if [[ "$next" = no:* ]]; then opts+=("$a" "$next"); fi; i=$((i + 1)) ;;
    -W | -o | -r | --timeout | --maxfail | --tb | --durations | --color) opts+=("$a" "$next"); i=$((i + 1)) ;;
    --ignore) if covers "$next"; then ignored=1; fi; i=$((i + 1)) ;;
    -c | --rootdir | --basetemp | --confcutdir | --junitxml | --junit-xml | --ignore-glob | --log-file \
      | --import-mode | -n | --dist | --browser | --hypothesis-seed) i=$((i + 1)) ;;
    --ignore=*) if covers "${a#--ignore=}"; then ignored=1; fi ;;
    -k?* | -m?* | --deselect=*) opts+=("$a"); selecting=1 ;;
    -p?*) if [[ "$a" = -pno:* ]]; then opts+=("$a"); fi ;;
    -[qvxslr]* | -W?* | -o?* | --timeout=* | --maxfail=* | --tb=* | --durations=* | --color=* | --capture=* \
      | --exitfirst | --showlocals | --strict-markers | --verbose | --quiet) opts+=("$a") ;;
    -*) ;;
    *)
      file=${a%%::*}
      if [ -e "$file" ]; then
        paths=1
        if [ "$(physical "$file")" = "$UPSCALE_FILE" ]; then targets+=("$a")
        elif covers "$file"; then targets+=("$UPSCALE_TESTS"); fi
      elif [[ "$a" = */* || "$a" = *.py ]]; then
        paths=1  # a path pytest will report as missing; a bare word is some option's value
      fi ;;
  esac
done
if [ "$paths" = 0 ]; then targets=("$UPSCALE_TESTS"); fi
if [ "$ignored" = 1 ]; then targets=(); fi

set +e
"${LATENTFLOW_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  rc=1
fi

if [ "${#targets[@]}" -gt 0 ]; then
  if "$ROOT/scripts/setup_upscale_env.sh"; then
    echo "running the upscale-model tests in $UPSCALE_VENV" >&2
    set +e
    "$UPSCALE_VENV/bin/python" -m pytest ${opts[@]+"${opts[@]}"} "${targets[@]}"
    up=$?
    set -e
    if [ "$up" = 5 ] && [ "$selecting" = 1 ]; then
      up=0  # -k / -m chose none of them
    elif [ "$up" = 5 ]; then
      echo "error: pytest collected no upscale-model tests in $UPSCALE_VENV" >&2
      up=1
    fi
  elif [ "${LATENTFLOW_REQUIRE_UPSCALE:-0}" = 1 ]; then
    echo "error: $UPSCALE_VENV could not be set up (see above), so the upscale-model tests did not run;" \
         "LATENTFLOW_REQUIRE_UPSCALE=1 makes that a failure" >&2
    up=1
  else
    echo "warning: $UPSCALE_VENV could not be set up (see above): the upscale-model tests were skipped." \
         "Rerun scripts/setup_upscale_env.sh once that is fixed" >&2
    up=0
  fi
  if [ "$rc" = 0 ]; then rc=$up; fi
fi
exit "$rc"
