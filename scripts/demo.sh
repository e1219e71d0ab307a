#!/usr/bin/env bash
# Demo: trains examples/fashion_mnist_mlp (Release) on Fashion-MNIST.
#
#   scripts/demo.sh [extra arguments for the example]
#
# Installs the Debian packages it needs when they are missing (as root), builds only that example
# in build/demo and runs it on $CTNN_FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/ensure-packages.sh
ensure_packages demo.sh cmake ninja-build g++ libeigen3-dev zlib1g-dev dataset-fashion-mnist

data="${CTNN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCTNN_BUILD_TESTS=OFF -DCTNN_BUILD_BENCHMARKS=OFF -DCTNN_BUILD_EXAMPLES=ON
cmake --build build/demo --target fashion_mnist_mlp --parallel "${CTNN_JOBS:-$(nproc)}"
exec build/demo/examples/fashion_mnist_mlp "$data" "$@"
