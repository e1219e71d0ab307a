#!/usr/bin/env bash
# The real-GPU check (issue 19, item 7), for a machine with an NVIDIA GPU, its driver and nvcc
# (>= 12): builds ctnn's CUDA programs for the local GPU and runs them with real kernels.
#
#   1. configures build/gpu-check: Release, CUDA on, CMAKE_CUDA_ARCHITECTURES = the GPU's compute
#      capability (nvidia-smi), tests and benchmarks on, examples off;
#   2. builds ctnn_cuda_kernels, ctnn_cuda_models and mlp_cuda (all cores);
#   3. ctnn_cuda_kernels: every kernel instantiation of the host-execution tests launched once on
#      the GPU; ctnn_cuda_models: every test model and the example's trained a few steps on the
#      GPU and on the CPU path (which host execution checks the kernels against in CI), losses
#      compared; bf16 training against fp32; int8 inference against the CPU's QuantizedModel;
#   4. mlp_cuda: A, B and C on the GPU (training step, inference, batch 1; fp32 and int8), timed
#      with CUDA events, as a table.
# Every step has a time limit (60 + 270 + 30 + 60 + 60 s) so that the whole check ends within 8
# minutes; put its output in docs/benchmarks.md with the GPU named. Needs what a build of the
# tests needs (CMake >= 3.22, Ninja, Eigen 3.4, doctest; Debian: cmake ninja-build
# libeigen3-dev doctest-dev) and nvcc >= 12 with its CCCL headers. Exits 2 where there is no
# GPU, driver or nvcc.
#
#   bash scripts/gpu-check.sh [build-dir]       (default build/gpu-check)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${1:-build/gpu-check}"
start=$SECONDS
say() { printf 'gpu-check [%3ds]: %s\n' "$((SECONDS - start))" "$*"; }

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi >/dev/null 2>&1; then
    say "no NVIDIA GPU or driver here (nvidia-smi fails): nothing to check"
    exit 2
fi
nvcc="${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [[ ! -x "$nvcc" ]]; then
    say "no nvcc (set CUDACXX or put it on PATH)"
    exit 2
fi
gpu="$(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader | head -n 1)"
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' .')"
say "GPU: $gpu -> sm_$arch; $("$nvcc" --version | tail -n 1)"

jobs="$(nproc)"
timeout 60 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCTNN_ENABLE_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCTNN_BUILD_TESTS=ON \
    -DCTNN_BUILD_HEADER_TESTS=OFF -DCTNN_BUILD_EXAMPLES=OFF -DCTNN_BUILD_BENCHMARKS=ON \
    >"$dir.configure.log" 2>&1 || { tail -n 20 "$dir.configure.log"; exit 1; }
say "configured ($dir)"
timeout 270 cmake --build "$dir" --parallel "$jobs" \
    --target ctnn_cuda_kernels ctnn_cuda_models mlp_cuda >"$dir.build.log" 2>&1 ||
    { tail -n 30 "$dir.build.log"; exit 1; }
# ptxas statistics: one log per .cu file under $dir/ptxas (cmake/ctnn-ptxas-log.sh).
spills="$(cat "$dir"/ptxas/*/*.log | grep -c 'bytes spill stores' || true)"
nonzero="$(cat "$dir"/ptxas/*/*.log | grep 'bytes spill stores' |
    grep -vc ' 0 bytes spill stores, 0 bytes spill loads' || true)"
say "built; ptxas: $spills kernel compilations, $nonzero with spills"

status=0
say "ctnn_cuda_kernels (every test kernel on the GPU)"
timeout 30 "$dir/tests/cuda/ctnn_cuda_kernels" || status=1
say "ctnn_cuda_models (GPU against the CPU path; bf16; int8)"
timeout 60 "$dir/tests/cuda/ctnn_cuda_models" || status=1
say "mlp_cuda (CUDA events)"
timeout 60 "$dir/benchmarks/mlp_cuda" || status=1
say "done (status $status)"
exit "$status"
