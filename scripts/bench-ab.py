#!/usr/bin/env python3
"""Interleaved A/B of two builds of benchmarks/mlp_cpu (ctnn's worker): is a change faster or slower?

    python3 scripts/bench-ab.py BEFORE/mlp_cpu AFTER/mlp_cpu [--pairs 10] [--threads 1,2]
                                [--workloads A,B,C]

Runs `mlp_cpu --worker ctnn T full W` of each build in turn, alternating which goes first, and
prints per workload, pass and thread count the median of the per-pair time ratios after/before
(< 1: the change is faster) with their standard error. Interleaving cancels most of this VM's
speed drift (5-15% within an hour); a lone absolute time does not. Build both binaries with the
same preset (e.g. a git worktree at the old commit, -DCTNN_BUILD_BENCHMARKS=ON)."""
import argparse
import collections
import math
import os
import statistics
import subprocess


def run(exe, threads, workloads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([exe, "--worker", "ctnn", str(threads), "full", workloads], env=env,
                         capture_output=True, text=True, check=True).stdout
    times = {}
    for line in out.splitlines():
        f = line.split(",")
        if f[0] == "result":  # result,impl,threads,workload,pass,batch,seconds,calls
            times[(f[3], f[4], threads)] = float(f[6])
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workloads", default="A,B,C")
    a = ap.parse_args()
    samples = collections.defaultdict(lambda: ([], []))
    for i in range(a.pairs):
        for t in (int(x) for x in a.threads.split(",")):
            order = [(0, a.before), (1, a.after)] if i % 2 == 0 else [(1, a.after), (0, a.before)]
            for which, exe in order:
                for key, seconds in run(exe, t, a.workloads).items():
                    samples[key][which].append(seconds)
    print("workload  pass     threads  after/before (median of pair ratios) +- SE  pairs")
    for key in sorted(samples):
        before, after = samples[key]
        ratios = [x / y for x, y in zip(after, before)]
        se = statistics.stdev(ratios) / math.sqrt(len(ratios)) if len(ratios) > 1 else 0.0
        print(f"{key[0]:>8}  {key[1]:<8} {key[2]:>7}  {statistics.median(ratios):.3f} +- {se:.3f}"
              f"  {len(ratios):>5}")


if __name__ == "__main__":
    main()
