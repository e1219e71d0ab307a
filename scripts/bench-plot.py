"""Plots samples/s per implementation from the benchmarks' CSV (benchmarks/python/driver.py's
results.csv) as a PNG: one panel per workload and pass, one bar per implementation and thread
count, log scale (batch-1 latency spans two decades), ctnn first and highlighted.

    python scripts/bench-plot.py [RESULTS_CSV] [OUT_PNG]

Defaults: build/bench/results.csv and docs/benchmarks.png. Needs matplotlib (installed in the
benchmarks' virtualenv by scripts/bench-setup-python.sh).
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = ["ctnn", "eigen", "libtorch", "dlib", "ctnn (driver)", "pytorch", "torch.compile", "jax.jit", "keras",
         "onnxruntime"]
PASS_TITLES = {"train": "training step", "infer": "inference", "latency": "batch-1 inference"}
PYTHON = {"pytorch", "torch.compile", "jax.jit", "keras", "onnxruntime"}
WL_TITLES = {"A": "A: MLP 784-128-10", "B": "B: MLP 32-4x64-16", "C": "C: CNN (2 conv, 2 dense)"}


def main(argv):
    src = argv[1] if len(argv) > 1 else os.path.join(ROOT, "build", "bench", "results.csv")
    out = argv[2] if len(argv) > 2 else os.path.join(ROOT, "docs", "benchmarks.png")
    with open(src) as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok" and r["samples_per_s"]]
    if not rows:
        print(f"bench-plot: no results in {src}", file=sys.stderr)
        return 1
    threads = sorted({int(r["threads"]) for r in rows})
    workloads = [w for w in ("A", "B", "C") if any(r["workload"] == w for r in rows)]
    passes = [p for p in ("train", "infer", "latency") if any(r["pass"] == p for r in rows)]
    quick = any(r["quick"] == "1" for r in rows)
    colors = {1: "#4c72b0", 2: "#dd8452", 4: "#55a868", 8: "#c44e52"}

    fig, axes = plt.subplots(len(workloads), len(passes), squeeze=False,
                             figsize=(5.2 * len(passes), 0.5 + 3.6 * len(workloads)))
    for i, wl in enumerate(workloads):
        for j, p in enumerate(passes):
            ax = axes[i][j]
            sel = [r for r in rows if r["workload"] == wl and r["pass"] == p]
            impls = [n for n in ORDER if any(r["impl"] == n for r in sel)]
            impls += sorted({r["impl"] for r in sel} - set(impls))
            h = 0.8 / len(threads)
            for k, t in enumerate(threads):
                ys, xs = [], []
                for n, impl in enumerate(impls):
                    v = [float(r["samples_per_s"]) for r in sel
                         if r["impl"] == impl and int(r["threads"]) == t]
                    if v:
                        ys.append(n + (k - (len(threads) - 1) / 2) * h)
                        xs.append(v[0])
                bars = ax.barh(ys, xs, height=h, color=colors.get(t, None),
                               label=f"{t} thread{'s' if t > 1 else ''}")
                for b, x in zip(bars, xs):
                    label = (f"{x / 1e6:.3g}M" if x >= 1e6 else
                             f"{x / 1e3:.3g}k" if x >= 1e3 else f"{x:.3g}")
                    ax.text(x * 1.04, b.get_y() + b.get_height() / 2, label, va="center",
                            fontsize=7)
            ax.set_yticks(range(len(impls)))
            ax.set_yticklabels([f"{n} (Py)" if n in PYTHON else n for n in impls])
            for tick in ax.get_yticklabels():
                if tick.get_text().startswith("ctnn"):
                    tick.set_fontweight("bold")
            for n, impl in enumerate(impls):
                if impl.startswith("ctnn"):  # mlp_cpu's ctnn and the driver's (Python rounds)
                    ax.axhspan(n - 0.5, n + 0.5, color="#f2e6a0", alpha=0.5, zorder=0)
            ax.invert_yaxis()
            ax.set_xscale("log")
            lo = min(float(r["samples_per_s"]) for r in sel)
            hi = max(float(r["samples_per_s"]) for r in sel)
            ax.set_xlim(lo / 2, hi * 4)
            batch = sel[0]["batch"]
            ax.set_title(f"{WL_TITLES.get(wl, wl)} — {PASS_TITLES.get(p, p)}"
                         + ("" if p == "latency" else f", batch {batch}"), fontsize=9)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("samples/s (log scale, higher is better)", fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(axis="x", which="both", alpha=0.25)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=len(threads), fontsize=9)
    peak = {}
    for r in rows:
        if r.get("peak_gflops"):
            peak[int(r["threads"])] = float(r["peak_gflops"])
    subtitle = ", ".join(f"{t} thread{'s' if t > 1 else ''} {peak[t]:.0f}" for t in sorted(peak))
    busy = [t for t in peak if t > 1 and 1 in peak and peak[t] < 0.8 * t * peak[1]]
    fig.suptitle("ctnn vs its peers on the CPU (fp32), samples/s" +
                 (" — --quick run, indicative only" if quick else "") +
                 (f"\nmeasured fp32 peak (GFLOP/s): {subtitle}" if subtitle else "") +
                 (f" — cores were busy: the {'/'.join(map(str, busy))}-thread bars do not "
                  "measure the implementations" if busy else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"bench-plot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
