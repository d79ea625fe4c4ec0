#!/usr/bin/env bash
# CI step for the grader: its tests (they are also part of `./kit test`) and the grading-time benchmark
# (median of 5 full gradings of solutions/ with --build and a live server; the goal is <= 30 s).
# Needs network to PyPI: `bentoml build` locks the bento's packages with uv.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=true
shared_data="${KIT_SHARED_DATA:-../shared/data}"
if [ -f "$shared_data/CreditScoring.csv" ]; then
  export CREDIT_SCORING_CSV="$(cd "$shared_data" && pwd)/CreditScoring.csv"
fi
.venv/bin/python -m pytest tests/grader -q -p no:cacheprovider
.venv/bin/python -m grader.bench --runs 5
