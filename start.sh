#!/usr/bin/env bash
# One command to set up and run the studio.
#   ./start.sh [app options]   create .venv if needed, install, launch the studio
#   ./start.sh test [pytest options]   same setup plus the dev tools, then run the test suite
#   ./start.sh cli ARGS...     same setup, then `python -m i2v ARGS...`
#   ./start.sh lint            the linter (ruff, configured in pyproject.toml)
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv

setup() {  # $1: "" (serve) or "dev" (tests, linter)
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV ..." >&2
    "$PY" -m venv "$VENV"
  fi
  # Reinstall only when the project's requirements change. The dev set includes the serving set, so a
  # current dev stamp also satisfies plain serving (./start.sh after ./start.sh test installs nothing).
  local extra=${1:-} want
  want=$(cat pyproject.toml requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
  local stamps=("$VENV/.requirements-dev.sha")
  [ -z "$extra" ] && stamps+=("$VENV/.requirements.sha")
  for s in "${stamps[@]}"; do
    [ -f "$s" ] && [ "$(cat "$s")" = "$want" ] && return 0
  done
  echo "installing requirements (first run takes a few minutes; log: $VENV/pip.log) ..." >&2
  # pip's own chatter (index warnings, setuptools' editable-install banner) goes to the log; a failure
  # prints its tail.
  if ! {
    "$VENV/bin/python" -m pip install --quiet --upgrade pip &&
      "$VENV/bin/python" -m pip install --quiet -e ".${extra:+[$extra]}" &&
      "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-nodeps.txt
  } >"$VENV/pip.log" 2>&1; then
    tail -n 30 "$VENV/pip.log" >&2
    echo "installing requirements failed (full log: $VENV/pip.log)" >&2
    exit 1
  fi
  echo "$want" > "$VENV/.requirements${extra:+-$extra}.sha"
}

case "${1:-}" in
  test)
    shift
    setup dev
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  lint)
    shift
    setup dev
    exec "$VENV/bin/ruff" check "$@" .
    ;;
  cli)
    shift
    setup
    exec "$VENV/bin/python" -m i2v "$@"
    ;;
  *)
    setup
    exec "$VENV/bin/python" app.py "$@"
    ;;
esac
