#!/usr/bin/env bash
# ctnn's test command. Installs the Debian packages it needs when they are missing (as root), then
# configures with the `ci` preset (Release, warnings as errors; unit tests under AddressSanitizer
# and UBSan), builds everything (unit tests, examples, benchmarks, and every public header compiled
# alone with g++ and no CUDA: a header that is not self-contained or warns fails) and runs every
# test (unit, compile-fail, consumer, layering) with ctest. The README and CI (.ci/run) both run
# exactly this script. Build tree: build/ci.
#
#   bash scripts/test.sh [ctest arguments...]    e.g. bash scripts/test.sh -R gradient
#   CTNN_JOBS=N bash scripts/test.sh             parallel build and test jobs (default: all cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/ensure-packages.sh
ensure_packages test.sh cmake ninja-build g++ libeigen3-dev doctest-dev zlib1g-dev \
    dataset-fashion-mnist libbenchmark-dev

jobs="${CTNN_JOBS:-$(nproc)}"
cmake --preset ci
cmake --build --preset ci --parallel "$jobs"
ctest --preset ci --parallel "$jobs" "$@"
