#!/usr/bin/env bash
# Issue 20's LSTM benchmark: ctnn (benchmarks/lstm_cpu) against PyTorch eager and torch.compile
# (benchmarks/python/lstm_peers.py) and, when CMake finds it (Debian libtorch-dev), libtorch's C++
# frontend (benchmarks/lstm_libtorch) at 1 and 2 threads, interleaved: each round runs every
# implementation once, and each case keeps its best round; prints the table of docs/benchmarks.md
# ("LSTM") with the ratio torch / ctnn of each case and its spread over the rounds.
#
#   bash scripts/bench-lstm.sh [ROUNDS]        (default 3)
#   BUILD=DIR       a build with lstm_cpu (default build/bench, configured and built here)
#   PYTHON=PY       a python with torch (default: scripts/bench-setup-python.sh's virtualenv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
build="${BUILD:-build/bench}"
if [[ ! -x "$build/benchmarks/lstm_cpu" ]]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCTNN_BUILD_TESTS=OFF \
        -DCTNN_BUILD_BENCHMARKS=ON > /dev/null
    cmake --build "$build" --target lstm_cpu > /dev/null
    cmake --build "$build" --target lstm_libtorch > /dev/null 2>&1 || true # when Torch is found
fi
python="${PYTHON:-$(bash scripts/bench-setup-python.sh | tail -n 1)}"
# Debian's OpenBLAS 0.3.21 (libtorch's BLAS; install libopenblas0-pthread, or libblas.so.3 is the
# slow reference BLAS) does not recognize recent AMD cores: name the kernel family, as mlp_cpu.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
    if grep -qw avx512bf16 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Cooperlake
    elif grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
    fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for t in 1 2; do
        "$build/benchmarks/lstm_cpu" "$t" >> "$out"
        if [[ -x "$build/benchmarks/lstm_libtorch" ]]; then
            OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$build/benchmarks/lstm_libtorch" "$t" >> "$out"
        fi
        OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$python" benchmarks/python/lstm_peers.py "$t" \
            >> "$out" 2> /dev/null || echo "bench-lstm: PyTorch failed at $t thread(s)" >&2
    done
done
python3 - "$out" <<'PY'
import collections, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    bench, impl, what, threads, ms = line.strip().split(",")
    runs[(what, int(threads), impl)].append(float(ms))
print("| pass | threads | ctnn ms | PyTorch eager ms | torch.compile ms | libtorch ms | eager / ctnn | compile / ctnn | libtorch / ctnn |")
print("|---|---|---|---|---|---|---|---|---|")
for what in ("train", "infer"):
    for t in (1, 2):
        c = runs.get((what, t, "ctnn"), [])
        if not c:
            continue
        row = [what, str(t), f"{min(c):.2f} ({min(c):.2f}-{max(c):.2f})"]
        ratios = []
        for impl in ("torch_eager", "torch_compile", "libtorch"):
            v = runs.get((what, t, impl), [])
            row.append(f"{min(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "n/a")
            ratios.append(f"{min(v) / min(c):.2f}x" if v else "n/a")
        print("| " + " | ".join(row + ratios) + " |")
PY
