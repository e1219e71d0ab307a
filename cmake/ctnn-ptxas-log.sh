#!/usr/bin/env bash
# Compiler launcher of ctnn's nvcc targets (cmake/CtnnCuda.cmake): runs the compile command and
# keeps a copy of its diagnostics (ptxas -v: registers, spills, shared memory per kernel) in
# <log dir>/<source file name>.log, one log per compiled .cu file (a target may have several),
# for the test cuda.no_register_spills. The diagnostics still reach the build log; the exit
# status is the compiler's.
#   ctnn-ptxas-log.sh <log dir> <compiler> <arguments...>
set -u
dir="$1"
shift
source=""
prev=""
for arg in "$@"; do
    [[ "$prev" == "-c" ]] && source="$arg"
    prev="$arg"
done
if [[ -z "$source" ]]; then
    echo "ctnn-ptxas-log.sh: no '-c <source>' in the compile command" >&2
    exit 2
fi
log="$dir/$(basename "$source").log"
mkdir -p "$dir"
tmp="$(mktemp)"
"$@" 2>"$tmp"
status=$?
cat "$tmp" >&2
mv "$tmp" "$log"
exit "$status"
