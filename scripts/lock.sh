#!/usr/bin/env bash
# Refresh the locks in requirements/ from pyproject.toml: every package of the dependency tree
# pinned, with the sha256 of each of its files, for CPython 3.11+ on any platform (uv's universal
# resolution). Run it after changing a dependency in pyproject.toml, then commit requirements/.
#
#   scripts/lock.sh                 keep what is locked, add what pyproject asks for
#   scripts/lock.sh --upgrade       move every package to its newest release within pyproject's ranges
#
# torch is resolved as its CPU build (so no CUDA packages enter the lock) but left out of the lock
# files: scripts/install.sh installs it pinned, from PyTorch's CPU wheel index or a local wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="$(sed -n 's/^TORCH_VERSION=//p' scripts/install.sh)"
UV_VERSION="0.13.9"

uv="$(command -v uv || true)"
if [ -z "$uv" ] || [ "$("$uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  tools="$(mktemp -d)"
  trap 'rm -rf "$tools"' EXIT
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet "uv==$UV_VERSION"
  uv="$tools/bin/uv"
fi

overrides="$(mktemp)"
echo "torch==${TORCH_VERSION}+cpu" >"$overrides"
torch_source=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
if ls /opt/wheels/torch-"${TORCH_VERSION}"+cpu-*.whl >/dev/null 2>&1; then
  torch_source=(--find-links /opt/wheels)  # a machine that keeps the CPU wheel on disk
fi

lock() {  # lock FILE EXTRA...
  local out="$1"; shift
  local extras=()
  for extra in "$@"; do extras+=(--extra "$extra"); done
  "$uv" pip compile pyproject.toml "${extras[@]}" --quiet --universal --python-version 3.11 \
    --generate-hashes --override "$overrides" "${torch_source[@]}" --no-emit-package torch \
    --custom-compile-command "scripts/lock.sh" ${UPGRADE:+--upgrade} -o "$out"
}
UPGRADE=""
[ "${1:-}" = "--upgrade" ] && UPGRADE=1
mkdir -p requirements
lock requirements/service.lock
lock requirements/local.lock local
lock requirements/dev.lock torch local scale test
rm -f "$overrides"
echo "locked: $(ls requirements/*.lock | tr '\n' ' ')"
