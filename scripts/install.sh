#!/usr/bin/env bash
# Create .venv and install qa into it, CPU-only and offline-capable.
#   scripts/install.sh            the service (with the in-process LLM)
#   scripts/install.sh test       the service plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
extras="local"
[ "${1:-}" = "test" ] && extras="local,test"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
# Pin the CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/pip install --quiet "torch==2.13.0"
.venv/bin/pip install --quiet -e ".[${extras}]"
if [ "${1:-}" = "test" ] && ! command -v chromium >/dev/null; then
  # The widget's browser tests drive Debian's Chromium (never a downloaded browser build).
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q && $sudo apt-get install -y -q chromium
fi
