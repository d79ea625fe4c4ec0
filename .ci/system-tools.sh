#!/usr/bin/env bash
# The system tools some tests need, each a Debian package installed only when its command is missing:
#   chromium  the Swagger UI browser test (tests/test_swagger_ui.py; Playwright drives this system
#             browser and never downloads one of its own)
#   wrk       the benchmarks' load generator (tests/benchmarks, .ci/benchmarks.sh)
# Usage: bash .ci/system-tools.sh [chromium] [wrk]   (no argument: both)
set -euo pipefail
declare -A why=([chromium]="tests/test_swagger_ui.py" [wrk]="the benchmarks (brew install wrk on macOS)")
tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=(chromium wrk)
missing=()
for tool in "${tools[@]}"; do
  [ -n "${why[$tool]:-}" ] || { echo "error: unknown tool '$tool' (chromium, wrk)" >&2; exit 2; }
  if command -v "$tool" >/dev/null 2>&1; then
    echo "==> $tool already installed"
  else
    missing+=("$tool")
  fi
done
[ ${#missing[@]} -gt 0 ] || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  for tool in "${missing[@]}"; do echo "error: no $tool and no apt-get: install $tool for ${why[$tool]}" >&2; done
  exit 1
fi
echo "==> installing ${missing[*]} (Debian packages)"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
for tool in "${missing[@]}"; do command -v "$tool" >/dev/null || { echo "error: $tool not on PATH after install" >&2; exit 1; }; done
