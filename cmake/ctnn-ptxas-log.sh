#!/usr/bin/env bash
# Compiler launcher of ctnn's nvcc targets (cmake/CtnnCuda.cmake): runs the compile command and
# keeps a copy of its diagnostics (ptxas -v: registers, spills, shared memory per kernel) in the
# log file given first, for the test cuda.no_register_spills. The diagnostics still reach the
# build log; the exit status is the compiler's.
#   ctnn-ptxas-log.sh <log file> <compiler> <arguments...>
set -u
log="$1"
shift
mkdir -p "$(dirname "$log")"
tmp="$(mktemp)"
"$@" 2>"$tmp"
status=$?
cat "$tmp" >&2
mv "$tmp" "$log"
exit "$status"
