#!/usr/bin/env bash
# ctnn's test command. Installs the Debian packages it needs when they are missing (as root), then
# configures with the `ci` preset (Release, warnings as errors), builds everything (header
# self-containment tests, unit tests, examples, benchmarks) and runs every test (unit,
# compile-fail, header, consumer) with ctest. The README and CI (.ci/run) both run exactly this
# script. Build tree: build/ci.
#
#   bash scripts/test.sh [ctest arguments...]    e.g. bash scripts/test.sh -R gradient
#   CTNN_JOBS=N bash scripts/test.sh             parallel build and test jobs (default: all cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(cmake ninja-build g++ libeigen3-dev doctest-dev zlib1g-dev dataset-fashion-mnist
          libbenchmark-dev)
if command -v dpkg >/dev/null; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if ((EUID != 0)); then
            echo "test.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
            exit 1
        fi
        echo "test.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

jobs="${CTNN_JOBS:-$(nproc)}"
cmake --preset ci
cmake --build --preset ci --parallel "$jobs"
ctest --preset ci --parallel "$jobs" "$@"
