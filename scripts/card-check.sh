#!/usr/bin/env bash
# The speed work measured on a CUDA card in one prepared run (issue 24), in order:
#   1. the GPU test tier          (what ./start.sh test -m gpu runs, without its setup step: no pip here),
#      then tests/test_speed.py, whose CUDA-only tests (attention kernels, fp8) run on a card
#   2. bench --gpu --profile      (profile-<card>.json)
#   3. bench --gpu --speed --json (bench-gpu-<card>.json, and .jsonl rows as they are measured)
#   4. the fast tiers at native against exact (issue 21's bench option, when it exists)
#   5. Wan 2.2's speed rows: bench --wan (bench-wan-<card>.jsonl): random-full in bf16 at the 5B's native
#      1280x704x121 and at 832x480x81 for both variants, seconds per step, peak memory, counted TFLOP/s
#   6. Wan 2.2's speed tiers against exact: bench --wan-tiers (bench-wan-tiers-<card>.jsonl): random-full in
#      bf16 at 832x480x81 over the default steps, each tier's time and mean drift from exact (the 5B first;
#      the A14B's rows come if its timeout allows). Not in --smoke (random-full on a CPU takes 40 minutes).
# Every stage has its own timeout (the whole fits 10 minutes on an H100), writes its files into the output
# folder as soon as they are made, and a failed stage is recorded and the next one still runs.
#
#   scripts/card-check.sh [--out DIR] [--smoke]
#     --out DIR   where results go (default: $OUT when set, else ./card-check-out)
#     --smoke     the same stages on the CPU with the tiny model (a couple of minutes): checks the script
#
# No network is needed or used: nothing is installed from an index. Python packages the machine lacks can
# travel as wheels in .whl/ (see /work/.library/device/README.md); they are installed from there only,
# into a private folder. Copy the result files into docs/ to commit them (README's speed table: the card,
# driver and torch version are in env.json).
set -uo pipefail
cd "$(dirname "$0")/.."

OUTDIR=${OUT:-./card-check-out}
SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG="$OUTDIR/card-check.log"
STAGES="$OUTDIR/stages.jsonl"
: > "$STAGES"
export PYTHONUNBUFFERED=1

log() { echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] $*" | tee -a "$LOG" >&2; }

# the project's Python: $PYTHON, else .venv's, else python3 (the card machine's holds torch)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if compgen -G ".whl/*.whl" > /dev/null; then
  log "installing the carried wheels of .whl/ into /tmp/i2v-site (no index)"
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/i2v-site \
      .whl/*.whl >> "$LOG" 2>&1; then
    export PYTHONPATH=/tmp/i2v-site${PYTHONPATH:+:$PYTHONPATH}
  else
    log "installing the carried wheels failed (see above); going on with what is installed"
  fi
fi

if [ "$SMOKE" = 1 ]; then
  DEV=(--device cpu); T_TESTS=120; T_SPEED_TESTS=0; T_PROFILE=120; T_SPEED=300; T_FAST=120; T_WAN=120; T_WANT=0
else  # 10 minutes in all on an H100 without Wan; Wan's rows (random weights built on the card) add about 4
  DEV=(--device cuda); T_TESTS=90; T_SPEED_TESTS=60; T_PROFILE=70; T_SPEED=340; T_FAST=40; T_WAN=240; T_WANT=180
fi

log "card check: python $PY, output $OUTDIR, $([ "$SMOKE" = 1 ] && echo 'smoke (CPU, tiny model)' || echo 'CUDA')"
"$PY" - > "$OUTDIR/env.json" 2>> "$LOG" <<'PYEOF'
import json, platform, subprocess
info = {"python": platform.python_version()}
try:
    import torch
    info.update(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
    if torch.cuda.is_available():
        info.update(device=torch.cuda.get_device_name(0), capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                    cudnn=torch.backends.cudnn.version())
except Exception as exc:  # recorded, not fatal: the stages say what fails
    info["torch_error"] = repr(exc)
for name in ("diffusers", "transformers", "torchao"):
    try:
        info[name] = __import__(name).__version__
    except Exception:
        info[name] = None
try:
    info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                     "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
except Exception:
    info["driver"] = None
print(json.dumps(info, indent=1))
PYEOF
log "environment: $(tr -d '\n' < "$OUTDIR/env.json")"

FAILED=0
# stage NAME TIMEOUT_S CMD...: runs CMD with its stdout/stderr in NAME.out/NAME.err, records the outcome
stage() {
  local name=$1 limit=$2; shift 2
  log "stage $name: start (timeout ${limit}s): $*"
  local t0 rc status
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUTDIR/$name.out" 2> "$OUTDIR/$name.err"
  rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status=timeout ;;
    *) status=failed ;;
  esac
  [ "$status" = ok ] || FAILED=$((FAILED + 1))
  printf '{"stage": "%s", "status": "%s", "rc": %d, "seconds": %d}\n' "$name" "$status" "$rc" \
    $(( $(date +%s) - t0 )) >> "$STAGES"
  log "stage $name: $status (rc $rc, $(( $(date +%s) - t0 ))s)$([ "$status" = ok ] || echo "; tail of $name.err:")"
  [ "$status" = ok ] || tail -n 5 "$OUTDIR/$name.err" | sed 's/^/    /' | tee -a "$LOG" >&2
}

# 1. the GPU test tier (on the CPU these tests skip with their reason; -rs lists them)
# (tests/test_gpu.py alone: collecting the other test files needs gradio and playwright, not on the card;
# -o addopts= drops pyproject's "-n 2": pytest-xdist need not be on the card's machine)
stage gpu-tests "$T_TESTS" "$PY" -m pytest -o addopts= -m gpu -q -rs -p no:cacheprovider tests/test_gpu.py
if [ "$T_SPEED_TESTS" -gt 0 ]; then  # on the CPU these are the ordinary suite's (run there already)
  stage speed-tests "$T_SPEED_TESTS" "$PY" -m pytest -o addopts= -m "not slow and not gpu" -q -rs -p no:cacheprovider \
    tests/test_speed.py
fi
# 2. the profile of two denoising steps and one decode
stage profile "$T_PROFILE" "$PY" -m i2v bench --gpu --profile "${DEV[@]}" --out "$OUTDIR"
# 3. the speed levers against stock diffusers (rows written to bench-gpu-<card>.jsonl as measured)
stage speed "$T_SPEED" "$PY" -m i2v bench --gpu --speed --json "${DEV[@]}" --out "$OUTDIR"
# 4. fast tiers: added by issue 21 (the fast tiers at native against exact); skipped until the option exists
if "$PY" -m i2v bench --help 2>/dev/null | grep -q -- "--fast-tiers"; then
  stage fast-tiers "$T_FAST" "$PY" -m i2v bench --fast-tiers --json "${DEV[@]}" --out "$OUTDIR"
else
  printf '{"stage": "fast-tiers", "status": "skipped", "rc": 0, "seconds": 0, "why": "%s"}\n' \
    "bench has no --fast-tiers option yet (issue 21)" >> "$STAGES"
  log "stage fast-tiers: skipped (bench has no --fast-tiers option yet: issue 21)"
fi

# 5. Wan 2.2 (a row that fails, out of memory say, is a row saying why; the stage goes on)
stage wan "$T_WAN" "$PY" -m i2v bench --wan --json "${DEV[@]}" --out "$OUTDIR"

# 6. Wan 2.2's speed tiers on random-full against exact (rows as they are measured)
if [ "$T_WANT" -gt 0 ]; then
  stage wan-tiers "$T_WANT" "$PY" -m i2v bench --wan-tiers --json "${DEV[@]}" --out "$OUTDIR"
else
  printf '{"stage": "wan-tiers", "status": "skipped", "rc": 0, "seconds": 0, "why": "%s"}\n' \
    "random-full on a CPU takes 40 minutes: not a smoke run" >> "$STAGES"
  log "stage wan-tiers: skipped in --smoke (random-full on a CPU takes 40 minutes)"
fi

log "card check done: $FAILED stage(s) failed; results in $OUTDIR"
ls -l "$OUTDIR" | tee -a "$LOG" >&2
[ "$FAILED" = 0 ]
