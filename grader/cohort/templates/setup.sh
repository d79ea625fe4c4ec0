#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (as root, with network).
# It installs Python 3.11 and the BentoML production kit (shipped beside this file in kit/).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"

if ! command -v python3.11 >/dev/null 2>&1; then
  apt-get update
  apt-get install -y python3.11 python3.11-venv \
    || { apt-get install -y software-properties-common \
         && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
         && apt-get install -y python3.11 python3.11-venv; }
fi
python3.11 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet ./kit
echo "BentoML production kit installed in $ROOT/venv"
