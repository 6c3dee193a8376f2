#!/usr/bin/env bash
# One command to set up and run the studio.
#   ./start.sh [app options]   create .venv if needed, install, launch the studio
#   ./start.sh test [pytest options]   same setup, then run the test suite
#   ./start.sh cli ARGS...     same setup, then `python -m i2v ARGS...`
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV ..." >&2
    "$PY" -m venv "$VENV"
  fi
  # Reinstall only when the requirement files change.
  local stamp="$VENV/.requirements.sha" want
  want=$(cat requirements.txt requirements-dev.txt requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing requirements (first run takes a few minutes) ..." >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt >&2
    "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-nodeps.txt >&2
    echo "$want" > "$stamp"
  fi
}

setup
case "${1:-}" in
  test)
    shift
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  cli)
    shift
    exec "$VENV/bin/python" -m i2v "$@"
    ;;
  *)
    exec "$VENV/bin/python" app.py "$@"
    ;;
esac
