#!/usr/bin/env bash
# The load generator of the benchmarks (wrk, Debian's package), installed only when missing: before the
# tests, whose benchmark tests need it too (on a fresh machine they were skipped), and the short benchmark.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  echo "==> wrk already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: no wrk and no apt-get: install wrk for the benchmarks (brew install wrk on macOS)" >&2
  exit 1
fi
echo "==> installing wrk (Debian package)"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq wrk >/dev/null
