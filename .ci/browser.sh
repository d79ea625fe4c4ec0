#!/usr/bin/env bash
# The headless browser of the Swagger UI test (tests/test_swagger_ui.py): Debian's Chromium, installed
# only when missing (Playwright drives this system browser; it never downloads a browser of its own).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "==> browser: $(chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: no chromium and no apt-get: install Chromium for tests/test_swagger_ui.py" >&2
  exit 1
fi
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium
chromium --version
