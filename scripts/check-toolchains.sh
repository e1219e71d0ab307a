#!/usr/bin/env bash
# ctnn with the toolchain of JetPack 6 (Ubuntu 22.04): g++ 11 and CMake 3.22. Installs g++-11
# (Debian) when missing and CMake 3.22 from PyPI into build/tools/cmake-3.22 (a virtual
# environment), then configures the `ci` preset with both (CUDA off: nvcc 13 does not take g++ 11,
# and PyPI's nvcc 12.6 wheels hold ptxas but no nvcc; docs/jetson.md), builds the unit tests and
# examples and runs the unit, compile-fail, consumer and layering tests. Not part of .ci/run: it
# rebuilds everything once more (~12 minutes on 2 cores), past CI's time budget.
#
#   bash scripts/check-toolchains.sh [ctest arguments...]
#   CTNN_JOBS=N bash scripts/check-toolchains.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/ensure-packages.sh
ensure_packages check-toolchains.sh g++-11 ninja-build libeigen3-dev doctest-dev zlib1g-dev \
    dataset-fashion-mnist libbenchmark-dev python3-venv

jobs="${CTNN_JOBS:-$(nproc)}"
tools="$PWD/build/tools/cmake-3.22"
if [[ ! -x "$tools/bin/cmake" ]]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet 'cmake==3.22.*'
fi
cmake="$tools/bin/cmake"
ctest="$tools/bin/ctest"
"$cmake" --version | head -n 1
g++-11 --version | head -n 1

build=build/gcc11-cmake322
CXX=g++-11 "$cmake" --preset ci -B "$build" -DCTNN_ENABLE_CUDA=OFF -DCTNN_BUILD_BENCHMARKS=OFF
"$cmake" --build "$build" --parallel "$jobs"
"$ctest" --test-dir "$build" --output-on-failure --parallel "$jobs" "$@"
