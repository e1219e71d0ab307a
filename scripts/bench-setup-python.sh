#!/usr/bin/env bash
# Installs the Python peers of ctnn's benchmarks (docs/benchmarks.md) from PyPI into a virtualenv,
# never into the system's site-packages: PyTorch 2 (eager and torch.compile), JAX (CPU), Keras 3
# with TensorFlow (CPU), ONNX Runtime with the onnx package, and numpy + matplotlib for the plot.
# Each peer is optional: one that cannot be installed is reported and the benchmarks go on
# without it (its rows say "not installed"). Re-running is cheap: what imports already is kept.
#
#   bash scripts/bench-setup-python.sh            prints the venv's python on its last line
#   CTNN_BENCH_VENV=DIR       the virtualenv (default ~/.cache/ctnn-bench/venv: kept across
#                             clones and build trees; about 7.5 GB with torch's CUDA wheels)
#   CTNN_BENCH_PYTHON=PY      the interpreter that creates it (default python3, >= 3.10)
#
# torch: the CPU-only wheel index of the PyTorch project is tried first (about 1 GB less); when it
# cannot be reached, PyPI's default torch wheel, which pulls the CUDA runtime wheels too (the GPU
# is not used). Needs about 10 GB free for everything; with less, torch is skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${CTNN_BENCH_VENV:-$HOME/.cache/ctnn-bench/venv}"
python="${CTNN_BENCH_PYTHON:-python3}"
say() { echo "bench-setup-python: $*" >&2; }
start=$SECONDS

if [[ ! -x "$venv/bin/python" ]]; then
    if ! "$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        source scripts/ensure-packages.sh
        ensure_packages bench-setup-python python3 python3-venv
        python=/usr/bin/python3
    fi
    say "creating the virtualenv $venv ($("$python" --version 2>&1))"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip || say "could not upgrade pip (kept)"
fi
py="$venv/bin/python"
pip=("$py" -m pip install --progress-bar off --quiet)

# group name | module that must import | pip requirements
groups=(
    "plot|matplotlib|numpy matplotlib threadpoolctl"
    "onnxruntime|onnxruntime|onnx onnxruntime"
    "onnxruntime-int8|sympy|sympy" # quant_pre_process's shape inference (onnxruntime-int8)
    "jax|jax|jax[cpu]"
    "keras|keras|keras tensorflow-cpu"
    "torch|torch|torch"
)
imports() { "$py" -c "import $1" >/dev/null 2>&1; }

avail_gb=$(($(df --output=avail -k "$(dirname "$venv")" | tail -n 1) / 1024 / 1024))
missing=()
for g in "${groups[@]}"; do
    IFS='|' read -r name module reqs <<<"$g"
    imports "$module" || missing+=("$g")
done
if ((${#missing[@]} == 0)); then
    say "every peer is installed in $venv"
else
    say "installing into $venv (${avail_gb} GB free):$(printf ' [%s]' "${missing[@]%%|*}")"
    torch_index=()
    if printf '%s\n' "${missing[@]}" | grep -q '^torch|'; then
        if ((avail_gb < 10)); then
            say "only ${avail_gb} GB free: torch (with its CUDA wheels about 5 GB) is skipped"
            mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^torch|' || true)
        elif "$py" -m pip download --quiet --no-deps --timeout 10 --retries 0 -d "$(mktemp -d)" \
            --index-url https://download.pytorch.org/whl/cpu torch >/dev/null 2>&1; then
            torch_index=(--index-url https://download.pytorch.org/whl/cpu
                         --extra-index-url https://pypi.org/simple)
            say "torch: the CPU-only wheel index is reachable: CPU wheel"
        else
            say "torch: the CPU-only wheel index is not reachable: PyPI's default wheel (with CUDA runtime wheels)"
        fi
    fi
    # torch first and alone (its own index), then the rest in one resolver run, so numpy and
    # protobuf versions suit every peer; if that fails, each group alone. What still does not
    # import afterwards is reported below.
    rest=()
    for g in "${missing[@]}"; do
        IFS='|' read -r name module reqs <<<"$g"
        if [[ $name == torch ]]; then
            "${pip[@]}" "${torch_index[@]}" torch || "${pip[@]}" torch || true
        else
            rest+=("$g")
        fi
    done
    if ((${#rest[@]})); then
        all=()
        for g in "${rest[@]}"; do
            IFS='|' read -r name module reqs <<<"$g"
            read -r -a r <<<"$reqs"
            all+=("${r[@]}")
        done
        if ! "${pip[@]}" "${all[@]}"; then
            say "installing everything at once failed; trying each peer alone"
            for g in "${rest[@]}"; do
                IFS='|' read -r name module reqs <<<"$g"
                read -r -a r <<<"$reqs"
                "${pip[@]}" "${r[@]}" || true
            done
        fi
    fi
    for g in "${groups[@]}"; do
        IFS='|' read -r name module reqs <<<"$g"
        imports "$module" || say "NOT INSTALLED: $name ($reqs); its rows will say so"
    done
fi
"$py" - <<'EOF' >&2
import importlib.metadata as m
names = ["torch", "jax", "jaxlib", "tensorflow-cpu", "tensorflow", "keras", "onnxruntime", "onnx",
         "numpy", "matplotlib"]
found = []
for n in names:
    try:
        found.append(f"{n} {m.version(n)}")
    except m.PackageNotFoundError:
        pass
print("bench-setup-python: installed: " + ", ".join(found))
EOF
say "done in $((SECONDS - start)) s; venv size $(du -sh "$venv" 2>/dev/null | cut -f1)"
echo "$py"
