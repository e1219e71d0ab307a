#!/usr/bin/env bash
# ctnn's benchmarks against its C++ peers (docs/benchmarks.md). Installs what they need when it
# is missing (as root, with apt-get: the build tools, and the peers libtorch-dev and libdlib-dev
# with Debian's OpenBLAS), builds benchmarks/ in Release in build/bench (-march=native), measures
# the machine's fp32 peak, runs workloads A and B for every implementation at 1 and 2 threads,
# prints one table and writes it as CSV.
#
#   bash scripts/bench.sh                 full run (about 2 minutes on 2 idle cores, plus the build)
#   bash scripts/bench.sh --quick         a few iterations per case (< 20 s): proves it works
#   bash scripts/bench.sh --threads 1 --impl ctnn,eigen      any other mlp_cpu arguments
#   CTNN_JOBS=N                           parallel build jobs (default: all cores)
#   CTNN_BENCH_CSV=FILE                   where the CSV goes (default build/bench/mlp_cpu.csv)
#
# Peers are optional: when a package cannot be installed (not root, offline), the benchmark is
# built without that peer and the table says it was skipped. Quiet machines give stable numbers:
# the table prints the load average before and after the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/ensure-packages.sh
ensure_packages bench.sh cmake ninja-build g++ libeigen3-dev zlib1g-dev
peers=(libtorch-dev libdlib-dev libopenblas-dev)
if command -v dpkg >/dev/null; then
    missing=()
    for p in "${peers[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if ((${#missing[@]})); then
        if ((EUID == 0)); then
            echo "bench.sh: installing the peers ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } ||
                echo "bench.sh: could not install ${missing[*]}; those peers will be skipped" >&2
        else
            echo "bench.sh: ${missing[*]} missing (run as root to install); those peers will be skipped" >&2
        fi
    fi
fi

jobs="${CTNN_JOBS:-$(nproc)}"
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCTNN_BUILD_TESTS=OFF \
    -DCTNN_BUILD_HEADER_TESTS=OFF -DCTNN_BUILD_EXAMPLES=OFF -DCTNN_BUILD_BENCHMARKS=ON \
    -DCTNN_NATIVE_ARCH=ON
cmake --build build/bench --parallel "$jobs" --target fp32_peak mlp_cpu fused_mlp_b

quick=()
for a in "$@"; do [[ "$a" == --quick ]] && quick=(--quick); done
./build/bench/benchmarks/fp32_peak "${quick[@]}"
./build/bench/benchmarks/mlp_cpu --csv "${CTNN_BENCH_CSV:-build/bench/mlp_cpu.csv}" "$@"
./build/bench/benchmarks/fused_mlp_b "${quick[@]}"
