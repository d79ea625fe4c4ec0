#!/usr/bin/env bash
# Re-execute the course notebooks in place, to store new outputs after editing them. They run the way
# nbval runs them in `./kit test`: in order, from an empty work/ folder, each in a fresh kernel against
# its own empty temporary BentoML home. CI sets CREDIT_SCORING_CSV, so store outputs with it set too:
#   CREDIT_SCORING_CSV=/path/to/CreditScoring.csv notebooks/store_outputs.sh [01_why_bentoml.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-../.venv/bin/python}
export BENTOML_DO_NOT_TRACK=true
[ -n "${CREDIT_SCORING_CSV:-}" ] || echo "note: CREDIT_SCORING_CSV is not set: outputs will come from the generated data" >&2
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=([0-9][0-9]*_*.ipynb)
rm -rf work work-projects
for notebook in "${notebooks[@]}"; do
  home=$(mktemp -d "${TMPDIR:-/tmp}/bentokit-nb-XXXXXX")
  start=$(date +%s)
  BENTOKIT_HOME="$home" "$PYTHON" -m jupyter nbconvert --to notebook --execute --inplace "$notebook" 2>/dev/null \
    || { echo "FAILED: $notebook (run it in Jupyter to see the error)" >&2; rm -rf "$home"; exit 1; }
  rm -rf "$home"
  echo "$notebook: $(( $(date +%s) - start )) s"
done
