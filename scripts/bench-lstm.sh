#!/usr/bin/env bash
# Issue 20's LSTM benchmark: ctnn (benchmarks/lstm_cpu) against PyTorch eager and torch.compile
# (benchmarks/python/lstm_peers.py) at 1 and 2 threads, interleaved: each round runs every
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
fi
python="${PYTHON:-$(bash scripts/bench-setup-python.sh | tail -n 1)}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for t in 1 2; do
        "$build/benchmarks/lstm_cpu" "$t" >> "$out"
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
print("| pass | threads | ctnn ms | PyTorch eager ms | torch.compile ms | eager / ctnn | compile / ctnn |")
print("|---|---|---|---|---|---|---|")
for what in ("train", "infer"):
    for t in (1, 2):
        c = runs.get((what, t, "ctnn"), [])
        if not c:
            continue
        row = [what, str(t), f"{min(c):.2f} ({min(c):.2f}-{max(c):.2f})"]
        ratios = []
        for impl in ("torch_eager", "torch_compile"):
            v = runs.get((what, t, impl), [])
            row.append(f"{min(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "n/a")
            ratios.append(f"{min(v) / min(c):.2f}x" if v else "n/a")
        print("| " + " | ".join(row + ratios) + " |")
PY
