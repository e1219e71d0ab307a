#!/usr/bin/env bash
# ctnn's benchmarks against its peers (docs/benchmarks.md), everything in one command:
#   1. installs what is missing (as root, with apt-get: the build tools, the C++ peers libtorch-dev
#      and libdlib-dev with Debian's OpenBLAS, dataset-fashion-mnist), and the Python peers from
#      PyPI into a virtualenv (scripts/bench-setup-python.sh: PyTorch 2, JAX, Keras/TensorFlow,
#      ONNX Runtime, matplotlib)
#   2. builds benchmarks/ in Release in build/bench (-march=native)
#   3. measures the machine's fp32 peak, runs workloads A, B and C for ctnn and the C++ peers at 1
#      and 2 threads (mlp_cpu: its table and build/bench/mlp_cpu.csv)
#   4. runs benchmarks/python/driver.py: compile times, peak memory, the Keras seed program and
#      ctnn's, the Python peers on A, B and C; prints one table of every implementation and writes
#      build/bench/results.csv (plus first_call, memory, seed and compile_time CSVs)
#   5. plots samples/s per implementation (scripts/bench-plot.py) to docs/benchmarks.png
#
#   bash scripts/bench.sh                 full run (about 25 minutes on 2 idle cores, plus the
#                                         build and, the first time, the Python install)
#   bash scripts/bench.sh --quick         a few iterations per case: proves everything works
#   bash scripts/bench.sh --cpp-only      steps 1-3 only, as before the Python peers (no venv)
#   bash scripts/bench.sh --threads 1 --impl ctnn,eigen,pytorch --workload B
#                                         --threads/--impl/--workload/--rounds go to mlp_cpu and
#                                         to the driver
#   bash scripts/bench.sh --phases throughput,seed    the driver's phases (default: all four)
#   CTNN_JOBS=N                           parallel build jobs (default: all cores)
#   CTNN_BENCH_BUILD=DIR                  build tree and results (default build/bench)
#   CTNN_BENCH_CSV=FILE                   mlp_cpu's CSV (default <build>/mlp_cpu.csv)
#   CTNN_BENCH_PLOT=FILE                  the plot (default docs/benchmarks.png; with --quick
#                                         <build>/benchmarks.png, so a quick run never replaces
#                                         the documented plot)
#   CTNN_BENCH_VENV=DIR                   the Python peers' virtualenv (default
#                                         ~/.cache/ctnn-bench/venv); CTNN_BENCH_PYTHON_SETUP=0
#                                         uses it as it is, without pip
#
# Peers are optional: when a package cannot be installed (not root, offline, no disk), its rows
# say "skipped" or "not installed" and the run goes on. Quiet machines give stable numbers: the
# tables print the load average.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=()
cpp_only=0
mlp_args=()    # for mlp_cpu
driver_args=() # for benchmarks/python/driver.py
while (($#)); do
    case "$1" in
    --quick)
        quick=(--quick)
        mlp_args+=("$1")
        driver_args+=("$1")
        ;;
    --cpp-only) cpp_only=1 ;;
    --threads | --impl | --workload | --rounds)
        (($# >= 2)) || { echo "bench.sh: $1 needs a value" >&2; exit 2; }
        mlp_args+=("$1" "$2")
        driver_args+=("$1" "$2")
        shift
        ;;
    --phases)
        (($# >= 2)) || { echo "bench.sh: $1 needs a value" >&2; exit 2; }
        driver_args+=("$1" "$2")
        shift
        ;;
    *) mlp_args+=("$1") ;; # any other mlp_cpu option
    esac
    shift
done

source scripts/ensure-packages.sh
ensure_packages bench.sh cmake ninja-build g++ libeigen3-dev zlib1g-dev
peers=(libtorch-dev libdlib-dev libopenblas-dev)
((cpp_only)) || peers+=(dataset-fashion-mnist)
if command -v dpkg >/dev/null; then
    missing=()
    for p in "${peers[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if ((${#missing[@]})); then
        if ((EUID == 0)); then
            echo "bench.sh: installing ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } ||
                echo "bench.sh: could not install ${missing[*]}; what needs them is skipped" >&2
        else
            echo "bench.sh: ${missing[*]} missing (run as root to install); what needs them is skipped" >&2
        fi
    fi
fi

build="${CTNN_BENCH_BUILD:-build/bench}"
csv="${CTNN_BENCH_CSV:-$build/mlp_cpu.csv}"
jobs="${CTNN_JOBS:-$(nproc)}"
# Examples are configured (not built) so that compile_commands.json holds their exact commands
# for the compile-time measurements.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCTNN_BUILD_TESTS=OFF \
    -DCTNN_BUILD_HEADER_TESTS=OFF -DCTNN_BUILD_EXAMPLES=ON -DCTNN_BUILD_BENCHMARKS=ON \
    -DCTNN_NATIVE_ARCH=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
targets=(fp32_peak mlp_cpu fused_mlp_b)
((cpp_only)) || targets+=(seed_fashion_mnist)
cmake --build "$build" --parallel "$jobs" --target "${targets[@]}"

"$build/benchmarks/fp32_peak" "${quick[@]}"
"$build/benchmarks/mlp_cpu" --csv "$csv" "${mlp_args[@]}"
"$build/benchmarks/fused_mlp_b" "${quick[@]}"
((cpp_only)) && exit 0

# The Python peers, the seed, memory and compile times: one table of everything.
if [[ "${CTNN_BENCH_PYTHON_SETUP:-1}" != 0 ]]; then
    py=$(bash scripts/bench-setup-python.sh | tail -n 1) || py=""
else
    py="${CTNN_BENCH_VENV:-$HOME/.cache/ctnn-bench/venv}/bin/python"
fi
if [[ -z "$py" || ! -x "$py" ]]; then
    echo "bench.sh: no virtualenv for the Python peers; they are reported as not installed" >&2
    py=python3
fi
echo
echo "bench.sh: benchmarks/python/driver.py (Python peers: $py)"
status=0
"$py" benchmarks/python/driver.py --build "$build" --python "$py" --cpp-csv "$csv" \
    "${driver_args[@]}" || status=$?

if ((${#quick[@]})); then plot="${CTNN_BENCH_PLOT:-$build/benchmarks.png}"
else plot="${CTNN_BENCH_PLOT:-docs/benchmarks.png}"; fi
"$py" scripts/bench-plot.py "$build/results.csv" "$plot" ||
    echo "bench.sh: no plot (scripts/bench-plot.py needs matplotlib in $py)" >&2
exit "$status"
