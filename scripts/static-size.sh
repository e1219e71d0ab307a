#!/usr/bin/env bash
# Code size of a StaticModel program against the same program with hand-written loops (issue 19:
# "code beyond the weights <= 2x the hand-written loops' size for 784-128-10"), for x86-64 (AVX2)
# and aarch64 (Jetson Orin's Cortex-A78AE), and a check that the programs agree.
#
#   bash scripts/static-size.sh [BUILD_DIR]      (default build/static-size)
#
# benchmarks/static_size/{null,hand,ctnn}.cpp embed the same weights (examples/data's 784-128-10
# checkpoint, through cmake/ctnn-embed.cmake) and differ only in the computation: null.cpp does
# none (the baseline: startup, stdio, the weights), hand.cpp runs plain loops, ctnn.cpp runs
# StaticModel. Each is built with -O2 -fno-exceptions -fno-rtti and stripped; "code" is the text
# segment (code, read-only data, unwind tables: `size`'s text column) beyond null's. The three
# then classify the same 200 Fashion-MNIST test images (x86 natively, aarch64 under qemu-aarch64
# when present) and must print the same classes. Needs g++ and, for the aarch64 column,
# g++-aarch64-linux-gnu.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-build/static-size}"
mkdir -p "$out"
cmake -DCHECKPOINT=examples/data/fashion_mnist_mlp128.safetensors \
    -DOUTPUT="$out/fashion_mnist_mlp128.hpp" -DNAME=fashion_mnist_mlp128 -P cmake/ctnn-embed.cmake

# 200 test images as raw floats in [0, 1] (python3 only; any machine with the dataset).
images="$out/images.f32"
python3 - "$images" <<'PY'
import gzip, struct, sys
raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
pixels = raw[16:16 + 200 * 784]
open(sys.argv[1], "wb").write(struct.pack("<%df" % len(pixels), *[p / 255.0 for p in pixels]))
PY

printf '%-8s %-6s %9s %9s %12s %14s\n' target prog text bss stripped-file "code beyond null"
for target in x86-64 aarch64; do
    case "$target" in
    x86-64) cxx=g++ flags=(-march=x86-64-v3) run=() ;;
    aarch64)
        cxx=aarch64-linux-gnu-g++ flags=(-mcpu=cortex-a78ae -Wno-psabi)
        run=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
        command -v "$cxx" > /dev/null || { echo "aarch64: $cxx not found, skipped"; continue; }
        ;;
    esac
    base=0
    for prog in null hand ctnn; do
        bin="$out/$prog.$target"
        "$cxx" -std=c++20 -O2 -fno-exceptions -fno-rtti "${flags[@]}" -Iinclude -I"$out" \
            "benchmarks/static_size/$prog.cpp" -o "$bin"
        strip "$bin" 2> /dev/null || "${cxx%g++}strip" "$bin"
        read -r text _ bss _ < <(size "$bin" | tail -n 1)
        [ "$prog" = null ] && base=$text
        printf '%-8s %-6s %9d %9d %12d %14d\n' "$target" "$prog" "$text" "$bss" \
            "$(stat -c %s "$bin")" $((text - base))
    done
    if [ "${#run[@]}" -eq 0 ] || command -v "${run[0]}" > /dev/null; then
        "${run[@]}" "$out/hand.$target" < "$images" > "$out/hand.$target.out"
        "${run[@]}" "$out/ctnn.$target" < "$images" > "$out/ctnn.$target.out"
        if cmp -s "$out/hand.$target.out" "$out/ctnn.$target.out"; then
            echo "$target: hand and ctnn classify the 200 images alike"
        else
            echo "$target: hand and ctnn DISAGREE on some of the 200 images" >&2
            exit 1
        fi
    fi
done
