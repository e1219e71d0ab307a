#!/usr/bin/env bash
# ctnn on 64-bit ARM without ARM hardware: cross-compiles with Debian's g++-aarch64-linux-gnu (the
# `aarch64` preset: cmake/toolchains/aarch64-linux-gnu.cmake, CPU only, warnings as errors) and runs
# under qemu-aarch64
#   1. every unit test of the CPU path (target ctnn_cpu_unit_tests: all but the CUDA
#      host-execution and the build-host -march=native tests), through ctest;
#   2. examples/fashion_mnist_mlp on a slice of Fashion-MNIST (TRAIN_IMAGES training images,
#      EPOCHS epochs, TEST_IMAGES test images), once built for this x86 machine (the `ci` preset's build)
#      and once for aarch64 under qemu: the two test accuracies must agree within TOLERANCE points
#      (the same seeds and data; only the floating-point rounding of the two CPUs' kernels differs).
# Installs the Debian packages it needs when they are missing (as root). CI's aarch64 phase
# (.ci/run) runs exactly this. Build trees: build/aarch64 and build/ci.
#
#   bash scripts/check-aarch64.sh
#   CTNN_JOBS=N EPOCHS=2 TRAIN_IMAGES=2000 TEST_IMAGES=1000 TOLERANCE=0.5 bash scripts/check-aarch64.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/ensure-packages.sh
ensure_packages check-aarch64.sh cmake ninja-build g++ g++-aarch64-linux-gnu qemu-user \
    libeigen3-dev doctest-dev dataset-fashion-mnist

jobs="${CTNN_JOBS:-$(nproc)}"
data="${CTNN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
epochs="${EPOCHS:-2}"
train_images="${TRAIN_IMAGES:-2000}"
test_images="${TEST_IMAGES:-1000}"
tolerance="${TOLERANCE:-0.5}"

cmake --preset aarch64
cmake --build --preset aarch64 --parallel "$jobs"
ctest --preset aarch64 --parallel "$jobs"

# The x86 reference: the ci preset's build of the example (scripts/test.sh builds it; built here
# when missing).
[[ -f build/ci/CMakeCache.txt ]] || cmake --preset ci
cmake --build --preset ci --target fashion_mnist_mlp --parallel "$jobs"

accuracy() { # accuracy <label> <build dir> <command...>: runs the example in <build dir>
    local label="$1" dir="$2" out
    shift 2
    out=$(cd "$dir" && "$@" "$data" "$epochs" "$train_images" "$test_images" | tail -n 3)
    echo "${label}:" >&2
    echo "$out" | sed 's/^/    /' >&2
    echo "$out" | sed -n 's/^test accuracy: \([0-9.]*\)%$/\1/p'
}
# The aarch64 build has no zlib (the cross build finds no arm64 libz unless zlib1g-dev:arm64 is
# installed through multiarch): both runs read the same decompressed copy of the data.
plain="$PWD/build/aarch64/fashion-mnist"
mkdir -p "$plain"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [[ -f "$data/$f" ]]; then cp "$data/$f" "$plain/$f"
    elif [[ ! -f "$plain/$f" ]]; then gunzip -c "$data/$f.gz" > "$plain/$f.part" && mv "$plain/$f.part" "$plain/$f"
    fi
done
data="$plain"
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
x86=$(accuracy "x86-64 (build/ci)" build/ci ./examples/fashion_mnist_mlp)
arm=$(accuracy "aarch64 under qemu (build/aarch64)" build/aarch64 "${qemu[@]}" ./examples/fashion_mnist_mlp)
python3 - "$x86" "$arm" "$tolerance" <<'EOF'
import sys
x86, arm, tol = (float(v) if v else None for v in sys.argv[1:4])
if x86 is None or arm is None:
    sys.exit(f"fashion_mnist_mlp printed no test accuracy (x86: {sys.argv[1]!r}, aarch64: {sys.argv[2]!r})")
print(f"fashion_mnist_mlp test accuracy: x86-64 {x86:.2f}%, aarch64 {arm:.2f}%, "
      f"difference {abs(x86 - arm):.2f} points (tolerance {tol})")
if abs(x86 - arm) > tol:
    sys.exit("aarch64 and x86-64 disagree beyond the tolerance")
EOF
