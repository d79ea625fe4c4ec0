#!/usr/bin/env bash
# CI: a short, bounded form of the benchmark, the fuzz and the soak of the production service, so
# that they cannot rot (about three minutes). Fails on any 5xx or failed request, or leaked process.
# The full measured run is `python -m benchmarks run` (see benchmarks/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=true

bash .ci/system-tools.sh wrk
[ -x .venv/bin/python ] || ./kit setup
PY=.venv/bin/python

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--bentoml-home "$work/home")
passed=0 failed=0
step() {
  local name=$1; shift
  echo "==> benchmarks: $name"
  if timeout 300 "$PY" -m benchmarks "$@" "${common[@]}"; then
    passed=$((passed + 1))
  else
    echo "==> benchmarks: $name FAILED"; failed=$((failed + 1))
  fi
}
start=$(date +%s)
step run run --out "$work/run" --targets gunicorn-tuned,bentoml-production,bentoml-batching \
  --clients 32 --seconds 3 --rounds 1 --warmup 1
step fuzz fuzz --out "$work/fuzz" --max-examples 25 --time-limit 30
step soak soak --out "$work/soak" --seconds 45 --warmup 15 --clients 32
echo "==> benchmarks done in $(( $(date +%s) - start )) s"
echo "benchmarks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
