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
  # Reinstall only when the project's requirements change.
  local extra=${1:-} stamp want
  stamp="$VENV/.requirements${extra:+-$extra}.sha"
  want=$(cat pyproject.toml requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing requirements (first run takes a few minutes) ..." >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e ".${extra:+[$extra]}" >&2
    "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-nodeps.txt >&2
    echo "$want" > "$stamp"
  fi
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
