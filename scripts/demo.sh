#!/usr/bin/env bash
# Demo: trains examples/fashion_mnist_mlp (Release) on Fashion-MNIST.
#
#   scripts/demo.sh [extra arguments for the example]
#
# Installs the Debian packages it needs when they are missing (as root), builds only that example
# in build/demo and runs it on $CTNN_FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(cmake ninja-build g++ libeigen3-dev zlib1g-dev dataset-fashion-mnist)
missing=()
if command -v dpkg >/dev/null; then
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
fi
if ((${#missing[@]})); then
    if ((EUID != 0)); then
        echo "demo.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "demo.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

data="${CTNN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCTNN_BUILD_TESTS=OFF -DCTNN_BUILD_BENCHMARKS=OFF -DCTNN_BUILD_EXAMPLES=ON
cmake --build build/demo --target fashion_mnist_mlp --parallel "${CTNN_JOBS:-$(nproc)}"
exec build/demo/examples/fashion_mnist_mlp "$data" "$@"
