"""Prints the CSVs of a benchmark run (scripts/bench.sh) as the Markdown tables of
docs/benchmarks.md, so the documented tables are pasted from a run, never typed.

    python3 scripts/bench-tables.py [RESULTS_DIR]      (default build/bench)

Reads results.csv, seed.csv, memory.csv, compile_time.csv and first_call.csv from RESULTS_DIR
(whichever exist); stdlib only.
"""
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = {"pytorch", "torch.compile", "jax.jit", "keras", "onnxruntime"}


def rows(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def fmt_time(s):
    return f"{s * 1e6:.2f} µs" if s < 1e-3 else f"{s * 1e3:.3f} ms"


def fmt_rate(v):
    return f"{v * 1e-6:.2f}M" if v >= 1e6 else (f"{v * 1e-3:.1f}k" if v >= 1e3 else f"{v:.0f}")


def results(directory):
    data = rows(directory, "results.csv")
    if not data:
        return
    print("| workload | pass | batch | thr | impl | time/call | samples/s | GFLOP/s | %peak | "
          "ctnn/impl | cpu/wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in data:
        wl = f"{r['workload']} {r['widths']}"
        impl = f"**{r['impl']}**" if r["impl"].startswith("ctnn") else (
            f"{r['impl']} (Py)" if r["impl"] in PY else r["impl"])
        if r["status"] != "ok":
            print(f"| {wl} | {r['pass']} | {r['batch']} | {r['threads']} | {impl} | "
                  f"{r['status']} | | | | | |")
            continue
        pct = f"{float(r['pct_peak']):.0f}%" if r["pct_peak"] else "—"
        ratio = f"{float(r['ctnn_over_impl']):.2f}" if r["ctnn_over_impl"] else "—"
        print(f"| {wl} | {r['pass']} | {r['batch']} | {r['threads']} | {impl} | "
              f"{fmt_time(float(r['seconds_per_call']))} | {fmt_rate(float(r['samples_per_s']))} "
              f"| {float(r['gflops']):.1f} | {pct} | {ratio} | {r['cpu_per_wall'] or '—'} |")
    print()


def ratios(directory):
    data = [r for r in rows(directory, "results.csv") if r["status"] == "ok"]
    impls = []
    for r in data:
        if not r["impl"].startswith("ctnn") and r["impl"] not in impls:
            impls.append(r["impl"])
    threads = sorted({r["threads"] for r in data})
    if not impls:
        return
    print("| ctnn/impl (" + " / ".join(f"{t} thr" for t in threads) + ") | "
          + " | ".join(impls) + " |")
    print("|---|" + "---|" * len(impls))
    cases = []
    for r in data:
        c = (r["workload"], r["pass"])
        if c not in cases:
            cases.append(c)
    names = {"train": "training step", "infer": "inference", "latency": "batch-1 latency"}
    for wl, p in cases:
        cells = []
        for impl in impls:
            v = []
            for t in threads:
                m = [r for r in data if r["workload"] == wl and r["pass"] == p and
                     r["impl"] == impl and r["threads"] == t and r["ctnn_over_impl"]]
                v.append(f"{float(m[0]['ctnn_over_impl']):.2f}" if m else "—")
            cells.append(" / ".join(v))
        print(f"| {wl} {names.get(p, p)} | " + " | ".join(cells) + " |")
    print()


def seed(directory):
    data = rows(directory, "seed.csv")
    if not data:
        return
    print("| impl | threads | epochs | training (fit / train) | test accuracy | whole process | "
          "max RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in data:
        if r["status"] != "ok":
            print(f"| {r['impl']} | {r['threads']} | {r['epochs']} | {r['status']} | | | |")
            continue
        print(f"| {r['impl']} | {r['threads']} | {r['epochs']} | {float(r['train_s']):.2f} s | "
              f"{100 * float(r['test_accuracy']):.2f}% | {float(r['process_wall_s']):.1f} s | "
              f"{int(r['maxrss_kib']) / 1024:.0f} MiB |")
    print()


def memory(directory):
    data = rows(directory, "memory.csv")
    if not data:
        return
    wls = [k[:-len("_maxrss_kib")] for k in data[0] if k.endswith("_maxrss_kib")]
    print("| impl | process | baseline (libraries loaded) | "
          + " | ".join(f"{w}: max RSS (over baseline)" for w in wls) + " |")
    print("|---|---|---|" + "---|" * len(wls))
    mib = lambda v: f"{int(v) / 1024:.0f} MiB" if v else "—"
    for r in data:
        if r["status"] != "ok":
            print(f"| {r['impl']} | {r['process']} | {r['status']} |" + " |" * len(wls))
            continue
        print(f"| {r['impl']} | {r['process']} | {mib(r['baseline_kib'])} | " + " | ".join(
            f"{mib(r[w + '_maxrss_kib'])} (+{int(r[w + '_over_baseline_kib']) / 1024:.1f})"
            for w in wls) + " |")
    print()


def compile_time(directory):
    data = rows(directory, "compile_time.csv")
    if not data:
        return
    print("| what | source | compiler | wall | CPU (user+sys) | compiler max RSS |")
    print("|---|---|---|---|---|---|")
    for r in data:
        if r["status"] != "ok":
            status = r["status"].replace("|", "/")
            print(f"| {r['group']} | {r['source']} | {r['compiler']} | {status} | | |")
            continue
        cpu = f"{float(r['cpu_s']):.1f} s" if r.get("cpu_s") else "—"
        print(f"| {r['group']} | {r['source']} | {r['compiler']} | {float(r['wall_s']):.1f} s | "
              f"{cpu} | {int(r['compiler_maxrss_kib']) / 1024:.0f} MiB |")
    print()


def first_call(directory):
    data = rows(directory, "first_call.csv")
    if not data:
        return
    present = {"import" if r["workload"] == "import" else f"{r['workload']} {r['pass']}"
               for r in data}
    cases = [c for c in ["import"] + [f"{w} {p}" for w in ("A", "B")
                                      for p in ("session", "train", "infer", "latency")]
             if c in present]
    table = {}
    for r in data:
        c = "import" if r["workload"] == "import" else f"{r['workload']} {r['pass']}"
        table.setdefault((r["impl"], r["threads"]), {})[c] = (r["first_run_s"],
                                                               r["later_runs_min_s"])
    print("| impl | thr | " + " | ".join(cases) + " |")
    print("|---|---|" + "---|" * len(cases))
    for (impl, t), v in table.items():
        cells = [f"{float(v[c][0]):.2f} / {float(v[c][1]):.2f}" if c in v else "—" for c in cases]
        print(f"| {impl} | {t} | " + " | ".join(cells) + " |")
    print()


def main(argv):
    directory = argv[1] if len(argv) > 1 else os.path.join(ROOT, "build", "bench")
    for title, f in (("Throughput (results.csv)", results), ("Ratios ctnn/impl", ratios),
                     ("Seed (seed.csv)", seed), ("Peak memory (memory.csv)", memory),
                     ("Compile time (compile_time.csv)", compile_time),
                     ("One-time costs, seconds: first run / best later run (first_call.csv)",
                      first_call)):
        print(f"<!-- {title} -->")
        f(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
