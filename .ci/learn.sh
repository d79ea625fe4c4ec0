#!/usr/bin/env bash
# CI step for the learner loop (python -m grader.learn): its tests (they are also part of `./kit test`):
# the exercise list and notebook pointers, hints and reset, the homework key computed by the kit and
# accepted by the homework checks, watch mode driven from a test (re-grade on save, clean SIGINT), and
# the full path from the shipped exercises to all solutions. About 10 minutes on 2 cores; the
# real-data tests need CREDIT_SCORING_CSV, and `bentoml build` (bento checks) needs PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=true
shared_data="${KIT_SHARED_DATA:-../shared/data}"
if [ -f "$shared_data/CreditScoring.csv" ]; then
  export CREDIT_SCORING_CSV="$(cd "$shared_data" && pwd)/CreditScoring.csv"
fi
[ -x .venv/bin/python ] || ./kit setup
start=$(date +%s)
.venv/bin/python -m pytest tests/learn -q -p no:cacheprovider -o addopts= -s
echo "==> learner loop tests done in $(( $(date +%s) - start )) s"
