#!/usr/bin/env bash
# Demo: trains an example (Release) on Fashion-MNIST and prints its test accuracy.
#
#   scripts/demo.sh [extra arguments for the example]          the MLP (examples/fashion_mnist_mlp)
#   scripts/demo.sh --cnn [EPOCHS]                             the CNN (examples/fashion_mnist_cnn,
#                                                              10 epochs by default)
#
# Installs the Debian packages it needs when they are missing (as root), builds only that example
# in build/demo and runs it on $CTNN_FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

example=fashion_mnist_mlp
if [[ "${1:-}" == "--cnn" ]]; then
    example=fashion_mnist_cnn
    shift
fi

source scripts/ensure-packages.sh
ensure_packages demo.sh cmake ninja-build g++ libeigen3-dev zlib1g-dev dataset-fashion-mnist

data="${CTNN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCTNN_BUILD_TESTS=OFF -DCTNN_BUILD_BENCHMARKS=OFF -DCTNN_BUILD_EXAMPLES=ON
cmake --build build/demo --target "$example" --parallel "${CTNN_JOBS:-$(nproc)}"
exec "build/demo/examples/$example" "$data" "$@"
