"""Issue 5's measurements beyond mlp_cpu: the Python peers, peak memory, the seed run and compile
times, merged with mlp_cpu's CSV into one table. Run by scripts/bench.sh; stdlib only, so any
python3 runs it (the peers run in the benchmark virtualenv's python, given by --python).

    driver.py [--quick] [--threads 1,2] [--impl LIST] [--workload A,B,C] [--rounds N]
              [--build DIR] [--python PY] [--cpp-csv FILE] [--out DIR]
              [--phases throughput,memory,seed,compile]

Phases (each prints its table; the throughput table, all implementations, comes last):
  throughput  workloads A, B and C for the Python peers (mlp_peers.py) at every thread count, each
              worker its own process with its thread pools pinned (worker_env), interleaved per
              round with ctnn's own worker (mlp_cpu --worker ctnn), best round per case, as
              mlp_cpu does. Merged with mlp_cpu's CSV (--cpp-csv): one table of every
              implementation, ratio ctnn/impl, %peak against the fp32 peak mlp_cpu measured.
              Also a table of one-time costs: import + thread set-up, first call of each pass
              (trace/compile), never part of the timed loops.
  memory      max RSS (wait4) of one worker process per implementation that runs workload A, B or C
              (training step, inference, latency; 1 thread, quick), and of the same worker with
              nothing to run (framework loaded: the baseline).
  seed        the Keras seed program (keras_seed.py) and ctnn's (seed_fashion_mnist): test
              accuracy, training wall time, process wall time, max RSS, at each thread count.
  compile     wall seconds (and compiler max RSS) of g++ on each example, on the equivalent C++
              peer programs (mlp_cpu's four implementations of the same two networks) and on
              generated ctnn and dlib models of 2, 8 and 32 Dense layers; nvcc on the examples
              when the build has CUDA configured (CTNN_ENABLE_CUDA).

CSV files in --out: results.csv (the throughput table), first_call.csv, memory.csv, seed.csv,
compile_time.csv. scripts/bench-plot.py draws results.csv.
"""
import argparse
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CPP_IMPLS = ("ctnn", "ctnn-int8", "eigen", "libtorch", "dlib")
PY_IMPLS = ("pytorch", "torch.compile", "jax.jit", "keras", "onnxruntime", "onnxruntime-int8")
# ctnn measured by the driver's own worker, interleaved with the Python peers in the same rounds:
# their ratios use it, so a peer and ctnn are always compared under the same load; the C++
# peers' ratios use mlp_cpu's ctnn rows (mlp_cpu interleaves those).
CTNN_PY = "ctnn (driver)"
ORDER = CPP_IMPLS + (CTNN_PY,) + PY_IMPLS
PASSES = ("train", "infer", "latency")
WIDTHS = {"A": (784, 128, 10), "B": (32, 64, 64, 64, 64, 16), "C": (784, 10)}
WIDTHS_LABEL = {"A": "784-128-10", "B": "32-4x64-16", "C": "cnn-2conv"}
# GEMM FLOPs per sample of each layer of the CNN workload (benchmarks/common/bench.hpp).
LAYER_FLOPS = {"C": (2.0 * 28 * 28 * 32 * 9, 2.0 * 14 * 14 * 64 * 288, 2.0 * 3136 * 128,
                     2.0 * 128 * 10)}
INFERENCE_ONLY = {"onnxruntime", "onnxruntime-int8", "ctnn-int8"}
PIP_NAMES = {"pytorch": "torch", "torch.compile": "torch", "jax.jit": "jax[cpu]",
             "keras": "keras tensorflow-cpu", "onnxruntime": "onnxruntime onnx",
             "onnxruntime-int8": "onnxruntime onnx"}
# mlp_cpu's implementations the driver also runs as its own workers, interleaved with the Python
# peers, when --impl names them (ctnn always): ctnn-int8 against onnxruntime-int8 in one run.
DRIVER_CPP = ("ctnn", "ctnn-int8")


def forward_flops(workload):
    if workload in LAYER_FLOPS:
        return sum(LAYER_FLOPS[workload])
    w = WIDTHS[workload]
    return sum(2.0 * w[i] * w[i + 1] for i in range(len(w) - 1))


def pass_flops(workload, pass_name, batch):
    """GEMM FLOPs of one call, the convention of benchmarks/common/bench.hpp."""
    return forward_flops(workload) * (3.0 if pass_name == "train" else 1.0) * batch


def openblas_coretype():
    """What mlp_cpu sets: the user's OPENBLAS_CORETYPE, else the kernel family of this CPU."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return os.environ["OPENBLAS_CORETYPE"]
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return ""
    if "avx512_bf16" in flags:
        return "Cooperlake"
    if "avx512f" in flags:
        return "SkylakeX"
    return "Haswell" if "avx2" in flags else ""


def worker_env(threads, out_dir):
    """Every thread pool of every framework pinned to `threads` before the process starts."""
    env = dict(os.environ)
    t = str(threads)
    env.update({
        "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t,
        "TF_NUM_INTRAOP_THREADS": t, "TF_NUM_INTEROP_THREADS": "1",
        "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(out_dir, "torchinductor-cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    core = openblas_coretype()
    if core:
        env["OPENBLAS_CORETYPE"] = core
    return env


def env_summary(threads):
    core = openblas_coretype()
    return (f"OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=TF_NUM_INTRAOP_THREADS="
            f"{threads} TF_NUM_INTEROP_THREADS=1" + (f" OPENBLAS_CORETYPE={core}" if core else "")
            + ("; jax.jit: CPU affinity " + str(threads) + " core(s) (mlp_peers.py)"
               if threads < (os.cpu_count() or 1) else ""))


class _Popen(subprocess.Popen):
    """Popen that reaps its child with os.wait4 and keeps the child's max RSS (KiB): Linux
    reports the larger of the child's own and that of its reaped descendants (g++ -> cc1plus)."""

    maxrss_kib = 0
    cpu_s = 0.0  # user + system CPU seconds of the child and its reaped descendants

    def _try_wait(self, wait_flags):
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.maxrss_kib = ru.ru_maxrss
            self.cpu_s = ru.ru_utime + ru.ru_stime
        return pid, sts


def run(cmd, env=None, timeout=None, cwd=ROOT):
    """Runs cmd, returns (exit status, stdout lines, stderr text, max RSS KiB, wall seconds);
    the child's CPU seconds are in the global LAST_CPU_S afterwards."""
    global LAST_CPU_S
    t0 = time.perf_counter()
    p = _Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += f"\n(killed after {timeout} s)"
    LAST_CPU_S = p.cpu_s
    return p.returncode, out.splitlines(), err, p.maxrss_kib, time.perf_counter() - t0


LAST_CPU_S = 0.0


def fmt_time(s):
    return f"{s * 1e6:.2f} us" if s < 1e-3 else f"{s * 1e3:.3f} ms"


def fmt_rate(v):
    if v >= 1e6:
        return f"{v * 1e-6:.2f}M"
    return f"{v * 1e-3:.1f}k" if v >= 1e3 else f"{v:.0f}"


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


# --- throughput ---------------------------------------------------------------------------------


def throughput(args, log):
    """Python peers + ctnn's worker, interleaved per round; merged with mlp_cpu's CSV."""
    best = {}         # (impl, threads, workload, pass) -> [seconds, batch, source]
    first_call = {}   # (impl, threads, workload, pass) -> list of first-call seconds per round
    startup = {}      # (impl, threads) -> list of seconds
    cpu_ratio = {}    # (impl, threads, workload, pass) -> cpu/wall of the best round
    status = {}       # impl -> "ok" | "not installed (...)" | "failed (...)"
    notes = []
    wanted = [i for i in PY_IMPLS if not args.impl or i in args.impl]
    workloads = ",".join(args.workload)
    mode = "quick" if args.quick else "full"
    mlp_cpu = os.path.join(args.build, "benchmarks", "mlp_cpu")
    have_ctnn = os.access(mlp_cpu, os.X_OK)
    # torch.compile's first round starts from an empty inductor cache (the memory phase and
    # earlier runs fill it), so its first-call column is a cold compile.
    shutil.rmtree(os.path.join(args.out, "torchinductor-cache"), ignore_errors=True)
    if not have_ctnn:
        notes.append(f"ctnn reference worker: {mlp_cpu} not built; ctnn rows come from the CSV")

    def collect(lines, t, round_index):
        """Merges one worker's lines: a case keeps its best round (and that round's cpu/wall)."""
        results, cpu = {}, {}
        for line in lines:
            f = line.split(",")
            if f[0] == "result" and len(f) == 8:
                results[(f[1], int(f[2]), f[3], f[4])] = (float(f[6]), int(f[5]))
            elif f[0] == "cpu" and len(f) == 6:
                cpu[(f[1], int(f[2]), f[3], f[4])] = float(f[5])
            elif f[0] == "compile" and len(f) == 6:
                first_call.setdefault((f[1], int(f[2]), f[3], f[4]), []).append(float(f[5]))
            elif f[0] == "startup" and len(f) == 4:
                startup.setdefault((f[1], int(f[2])), []).append(float(f[3]))
            elif f[0] == "note" and round_index == 0:
                notes.append(f"{f[1]} ({t} thr): {line.split(',', 2)[2]}")
            elif f[0] == "unavailable":
                status[f[1]] = f[2]
        for key, (sec, batch) in results.items():
            ratio = cpu.get(key)
            if key[0] == "ctnn":
                key = (CTNN_PY,) + key[1:]
            if key not in best or sec < best[key][0]:
                best[key] = [sec, batch, "driver"]
                if ratio is not None:
                    cpu_ratio[key] = ratio

    for r in range(args.rounds):
        for t in args.threads:
            env = worker_env(t, args.out)
            for cpp in DRIVER_CPP if have_ctnn else ():
                if cpp != "ctnn" and cpp not in (args.impl or ()):
                    continue
                rc, lines, err, _, _ = run([mlp_cpu, "--worker", cpp, str(t), mode, workloads],
                                           env=env)
                collect(lines, t, r)
                if rc != 0:
                    status[cpp] = f"failed (status {rc}): {err.strip()[-300:]}"
            for impl in wanted:
                if status.get(impl, "ok") != "ok":
                    continue
                log(f"  round {r + 1}/{args.rounds}, {t} thread(s): {impl}")
                rc, lines, err, _, _ = run(
                    [args.python, os.path.join(HERE, "mlp_peers.py"), impl, str(t), mode,
                     workloads], env=env, timeout=3600)
                collect(lines, t, r)
                if rc != 0:
                    tail = " | ".join(err.strip().splitlines()[-3:])
                    status[impl] = f"failed (status {rc}): {tail[-400:]}"
                else:
                    status.setdefault(impl, "ok")

    # mlp_cpu's rows (C++ implementations, ctnn among them).
    peak = {}
    quick_cpp = False
    if args.cpp_csv and os.path.exists(args.cpp_csv):
        with open(args.cpp_csv) as f:
            for row in csv.DictReader(f):
                t = int(row["threads"])
                if t not in args.threads or row["workload"] not in args.workload:
                    continue
                peak[t] = float(row["peak_gflops"])
                quick_cpp = quick_cpp or row["quick"] == "1"
                key = (row["impl"], t, row["workload"], row["pass"])
                sec = float(row["seconds_per_call"])
                if key not in best or sec < best[key][0]:
                    best[key] = [sec, int(row["batch"]), "mlp_cpu"]
                status.setdefault(row["impl"], "ok")
    else:
        notes.append(f"no mlp_cpu CSV ({args.cpp_csv}): C++ peers and %peak missing")

    rows = []
    for wl in args.workload:
        for p in PASSES:
            for t in args.threads:
                ctnn_cpp = best.get(("ctnn", t, wl, p)) or best.get((CTNN_PY, t, wl, p))
                ctnn_py = best.get((CTNN_PY, t, wl, p)) or ctnn_cpp
                for impl in ORDER:
                    if args.impl and impl not in args.impl and not impl.startswith("ctnn"):
                        continue
                    if impl in INFERENCE_ONLY and p == "train":
                        continue
                    ctnn = ctnn_py if impl in PY_IMPLS else ctnn_cpp
                    key = (impl, t, wl, p)
                    if key not in best:
                        st = status.get(impl)
                        if impl in PY_IMPLS and st and st != "ok":
                            rows.append([wl, WIDTHS_LABEL[wl], p, 1 if p == "latency" else
                                         (256 if wl == "A" else 16384), t, impl,
                                         "", "", "", "", "", peak.get(t, ""), "", "",
                                         st.split(":")[0], int(args.quick)])
                        continue
                    sec, batch, _ = best[key]
                    sps = batch / sec
                    gf = pass_flops(wl, p, batch) / sec * 1e-9
                    pct = 100.0 * gf / peak[t] if t in peak else ""
                    ratio = sec / ctnn[0] if ctnn and impl not in ("ctnn", CTNN_PY) else ""
                    fc = first_call.get(key, [])
                    rows.append([wl, WIDTHS_LABEL[wl], p, batch, t, impl, f"{sec:.9g}",
                                 f"{sps:.6g}", f"{gf:.4g}", f"{pct:.4g}" if pct != "" else "",
                                 f"{ratio:.4g}" if ratio != "" else "", peak.get(t, ""),
                                 f"{fc[0]:.4g}" if fc else "",
                                 f"{cpu_ratio[key]:.3g}" if key in cpu_ratio else "", "ok",
                                 int(args.quick or quick_cpp)])
    header = ["workload", "widths", "pass", "batch", "threads", "impl", "seconds_per_call",
              "samples_per_s", "gflops", "pct_peak", "ctnn_over_impl", "peak_gflops",
              "first_call_s", "cpu_per_wall", "status", "quick"]
    write_csv(os.path.join(args.out, "results.csv"), header, rows)

    fc_rows = []
    for (impl, t), v in sorted(startup.items()):
        fc_rows.append([impl, t, "import", "", f"{v[0]:.4g}", f"{min(v):.4g}"])
    for (impl, t, wl, p), v in sorted(first_call.items()):
        if impl == "ctnn":
            continue
        fc_rows.append([impl, t, wl, p, f"{v[0]:.4g}", f"{min(v[1:] or v):.4g}"])
    write_csv(os.path.join(args.out, "first_call.csv"),
              ["impl", "threads", "workload", "pass", "first_run_s", "later_runs_min_s"], fc_rows)
    return rows, fc_rows, notes, status, peak


def print_throughput(args, rows, fc_rows, notes, status, peak):
    print("\n=== One-time costs of the Python peers (not in any timed loop) ===")
    print("import = importing the framework and pinning its threads; per pass = the first call "
          "(tracing, compiling,\nfirst-touch allocations; onnxruntime: 'session' = building the "
          "InferenceSession). Each cell: first run / best later run,\nfirst run = round 1 "
          "(torch.compile: empty inductor cache), later = the best of the later rounds "
          "(torch.compile: FX-graph cache warm).")
    cases = ["import"] + [f"{wl} {p}" for wl in args.workload for p in ("session",) + PASSES]
    table = {}
    for impl, t, wl, p, first, later in fc_rows:
        what = "import" if wl == "import" else f"{wl} {p}"
        table.setdefault((impl, t), {})[what] = (float(first), float(later))
    cases = [c for c in cases if any(c in v for v in table.values())]
    print(f"{'impl':<16} {'thr':>3} " + " ".join(f"{c:>15}" for c in cases))
    cell = lambda v: f"{v[0]:.2f}/{v[1]:.2f}s" if v else "-"
    for impl in PY_IMPLS:
        for t in args.threads:
            if (impl, t) in table:
                print(f"{impl:<16} {t:>3} " +
                      " ".join(f"{cell(table[(impl, t)].get(c)):>15}" for c in cases))
    print("\n=== ctnn and its peers, workloads A, B and C, fp32 (one table, same run) "
          + ("(--quick: indicative only) " if args.quick else "") + "===")
    for t in args.threads:
        if t in peak:
            print(f"measured fp32 peak (mlp_cpu, this run), {t} thread(s): {peak[t]:.1f} GFLOP/s")
    for t in args.threads:
        if t > 1 and 1 in peak and t in peak and peak[t] < 0.8 * t * peak[1]:
            print(f"WARNING: the {t}-thread peak is only {peak[t] / peak[1]:.2f}x the 1-thread "
                  f"peak: other processes hold cores, so the {t}-thread rows do not measure the "
                  "implementations")
    print("GFLOP/s counts GEMM FLOPs only (2*in*out per sample per Dense layer forward, "
          "2*pixels*out*in*taps per convolution, x3 for a training step), as mlp_cpu.\nctnn/impl = ctnn's samples/s over impl's, same workload, "
          "pass and threads (> 1: ctnn is faster): the C++ peers\nagainst 'ctnn' (mlp_cpu's "
          "rounds), the Python peers against 'ctnn (driver)' (ctnn's worker run in the same "
          "rounds\nas they are). Each case: best of its rounds, each round the median of 3 "
          "repetitions.\n"
          "Python peers time their own loop in-process (Python call overhead included: what a "
          "Python user pays);\ncpu/wall = process CPU seconds per wall second while timed "
          "(> threads: spinning or extra pools).")
    for t in args.threads:
        print(f"worker environment, {t} thread(s): {env_summary(t)}")
    print("C++ workers (mlp_cpu): OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=<thr> "
          f"OPENBLAS_CORETYPE={openblas_coretype()} (mlp_cpu's notes above)")
    for n in notes:
        print("  " + n)
    for impl in PY_IMPLS:
        st = status.get(impl)
        if args.impl and impl not in args.impl:
            continue
        if st and st != "ok":
            print(f"  {impl}: {st}" + (f" (pip install {PIP_NAMES[impl]})"
                                       if st.startswith("not installed") else ""))
    print(f"\n{'wl':<3} {'widths':<11} {'pass':<8} {'batch':>6} {'thr':>4} {'impl':<16} "
          f"{'time/call':>12} {'samples/s':>11} {'GFLOP/s':>9} {'%peak':>7} {'ctnn/impl':>10} "
          f"{'cpu/wall':>8}")
    last = None
    for r in rows:
        group = (r[0], r[2], r[4])
        if last and group != last:
            print()
        last = group
        if r[14] != "ok":
            print(f"{r[0]:<3} {r[1]:<11} {r[2]:<8} {r[3]:>6} {r[4]:>4} {r[5]:<16} {r[14]}")
            continue
        sec, sps, gf = float(r[6]), float(r[7]), float(r[8])
        pct = f"{float(r[9]):.1f}%" if r[9] else "-"
        ratio = f"{float(r[10]):.2f}" if r[10] else "-"
        cpu = r[13] or "-"
        print(f"{r[0]:<3} {r[1]:<11} {r[2]:<8} {r[3]:>6} {r[4]:>4} {r[5]:<16} {fmt_time(sec):>12} "
              f"{fmt_rate(sps):>11} {gf:>9.1f} {pct:>7} {ratio:>10} {cpu:>8}")
    print(f"\nCSV written to {os.path.join(args.out, 'results.csv')} (one-time costs: "
          f"first_call.csv)")


# --- memory -------------------------------------------------------------------------------------


def memory(args, log):
    mlp_cpu = os.path.join(args.build, "benchmarks", "mlp_cpu")
    rows = []
    impls = [i for i in CPP_IMPLS + PY_IMPLS if not args.impl or i in args.impl or i == "ctnn"]
    env = worker_env(1, args.out)
    for impl in impls:
        result = {}
        for wl in ["none"] + args.workload:
            if impl in CPP_IMPLS:
                if not os.access(mlp_cpu, os.X_OK):
                    break
                cmd = [mlp_cpu, "--worker", impl, "1", "quick", wl]
            else:
                cmd = [args.python, os.path.join(HERE, "mlp_peers.py"), impl, "1", "quick", wl]
            log(f"  memory: {impl} {wl}")
            rc, lines, err, rss, _ = run(cmd, env=env, timeout=3600)
            if any(l.startswith("unavailable,") for l in lines):
                result = {"status": "not installed"}
                break
            if rc != 0:
                # mlp_cpu's worker exits 2 for an implementation it was built without.
                result = {"status": "not built" if impl in CPP_IMPLS and rc == 2 else
                          f"failed (status {rc})"}
                break
            result[wl] = rss
        if not result:
            continue
        base = result.get("none")
        row = [impl, "C++ (mlp_cpu)" if impl in CPP_IMPLS else "Python", base or ""]
        for wl in args.workload:
            v = result.get(wl)
            row += [v or "", (v - base) if v and base else ""]
        row.append(result.get("status", "ok"))
        rows.append(row)
    header = ["impl", "process", "baseline_kib"]
    for wl in args.workload:
        header += [f"{wl}_maxrss_kib", f"{wl}_over_baseline_kib"]
    header.append("status")
    write_csv(os.path.join(args.out, "memory.csv"), header, rows)
    return header, rows


def print_memory(args, header, rows):
    print("\n=== Peak memory (max RSS, wait4) of one worker process, 1 thread ===")
    print("Each process runs one workload's training step, inference and batch-1 latency "
          "(--quick iteration counts: the\npeak is reached in the first steps); 'baseline' is "
          "the same worker with nothing to run (libraries loaded).\nThe C++ rows are all one "
          "binary, mlp_cpu, which links libtorch, dlib and OpenBLAS whichever implementation\n"
          "runs: compare the 'over baseline' columns; ctnn alone is the seed table's "
          "seed_fashion_mnist.")
    cols = f"{'impl':<16} {'process':<14} {'baseline':>10}"
    for wl in args.workload:
        cols += f" {wl + ' max RSS':>11} {'over base':>10}"
    print(cols)
    mib = lambda v: f"{int(v) / 1024:.1f} MiB" if v != "" else "-"
    for r in rows:
        if r[-1] != "ok":
            print(f"{r[0]:<16} {r[1]:<14} {r[-1]}")
            continue
        line = f"{r[0]:<16} {r[1]:<14} {mib(r[2]):>10}"
        for i in range(len(args.workload)):
            line += f" {mib(r[3 + 2 * i]):>11} {mib(r[4 + 2 * i]):>10}"
        print(line)
    print(f"CSV written to {os.path.join(args.out, 'memory.csv')}")


# --- seed -------------------------------------------------------------------------------------


def seed(args, log):
    data = args.data
    epochs, limit = (1, 4000) if args.quick else (5, 0)
    threads = args.threads[:1] if args.quick else args.threads
    prog = os.path.join(args.build, "benchmarks", "seed_fashion_mnist")
    rows = []
    for t in threads:
        env = worker_env(t, args.out)
        for impl, cmd in (("ctnn", [prog, data, str(epochs), str(limit)]),
                          ("keras", [args.python, os.path.join(HERE, "keras_seed.py"), data,
                                     str(epochs), str(limit)])):
            if args.impl and impl not in args.impl and impl != "ctnn":
                continue
            if impl == "ctnn" and not os.access(prog, os.X_OK):
                rows.append([impl, t, epochs, "", "", "", "", "", "", "not built"])
                continue
            log(f"  seed: {impl}, {t} thread(s), {epochs} epoch(s)")
            rc, lines, err, rss, wall = run(cmd, env=env, timeout=7200)
            res = [l.split(",") for l in lines if l.startswith("seed,")]
            if rc != 0 or not res:
                st = ("not installed" if "No module named" in err else
                      f"failed (status {rc}): {' | '.join(err.strip().splitlines()[-2:])[-300:]}")
                rows.append([impl, t, epochs, "", "", "", "", "", "", st])
                continue
            f = res[-1]
            rows.append([impl, t, f[2], f[3], f[4], f[5], f[6], f"{wall:.4g}", rss, "ok"])
    header = ["impl", "threads", "epochs", "train_samples", "train_s", "test_accuracy", "test_s",
              "process_wall_s", "maxrss_kib", "status"]
    write_csv(os.path.join(args.out, "seed.csv"), header, rows)
    return rows


def print_seed(args, rows):
    print("\n=== Seed: Flatten(28x28) -> Dense(128, relu) -> Dense(10), Adam, sparse categorical "
          "cross-entropy from logits,\n    batch 32, Fashion-MNIST"
          + (" (--quick: 1 epoch on 4000 images)" if args.quick else ", 5 epochs") + " ===")
    print("train = wall time of model.fit / ctnn::train (Keras: verbose=2, metrics=['accuracy']; "
          "ctnn: one line per epoch,\ntraining accuracy computed too); process = the whole "
          "program (start-up, data loading, training, test).")
    print(f"{'impl':<6} {'thr':>3} {'epochs':>6} {'train':>9} {'test acc':>9} {'process':>9} "
          f"{'max RSS':>11}")
    for r in rows:
        if r[-1] != "ok":
            print(f"{r[0]:<6} {r[1]:>3} {r[2]:>6} {r[-1]}")
            continue
        print(f"{r[0]:<6} {r[1]:>3} {r[2]:>6} {float(r[4]):>8.2f}s {100 * float(r[5]):>8.2f}% "
              f"{float(r[7]):>8.1f}s {int(r[8]) / 1024:>7.1f} MiB")
    print(f"CSV written to {os.path.join(args.out, 'seed.csv')}")


# --- compile ---------------------------------------------------------------------------------


def ctnn_depth_source(depth):
    hidden = "".join("ctnn::Dense<64>, ctnn::ReLU, " for _ in range(depth - 1))
    return f"""// Generated by benchmarks/python/driver.py: a ctnn model of {depth} Dense layers.
#include <ctnn/ctnn.hpp>
#include <vector>
using Net = ctnn::Sequential<ctnn::Input<64>, {hidden}ctnn::Dense<10>>;
int main() {{
    ctnn::Model<Net> model(ctnn::device::cpu());
    model.init(42);
    ctnn::OptimizerState<ctnn::optim::SGD> state(ctnn::optim::SGD{{.lr = 1e-3f}}, Net::param_count);
    const std::size_t batch = 32;
    model.reserve(batch);
    std::vector<float> x(batch * 64, 0.5f);
    std::vector<std::int32_t> labels(batch, 1);
    model.forward(x, batch, ctnn::Mode::training);
    const float loss = model.loss(ctnn::loss::SoftmaxCrossEntropy{{}}, {{labels}});
    model.backward();
    model.update(state, 1e-3f);
    return model.forward(x, batch, ctnn::Mode::inference).data()[0] > loss ? 0 : 1;
}}
"""


def dlib_depth_source(depth):
    net = "dlib::input<dlib::matrix<float>>"
    for _ in range(depth - 1):
        net = f"dlib::relu<dlib::fc<64, {net}>>"
    net = f"dlib::loss_multiclass_log<dlib::fc<10, {net}>>"
    return f"""// Generated by benchmarks/python/driver.py: a dlib network of {depth} fc layers.
#include <dlib/dnn.h>
#include <vector>
using Net = {net};
int main() {{
    Net net;
    std::vector<dlib::matrix<float>> x(32, dlib::matrix<float>(64, 1));
    for (auto& m : x) m = 0.5f;
    std::vector<unsigned long> labels(32, 1);
    dlib::resizable_tensor t;
    net.to_tensor(x.begin(), x.end(), t);
    std::vector<dlib::sgd> solvers(Net::num_computational_layers, dlib::sgd(0.0f, 0.0f));
    const double loss = net.compute_parameter_gradients(t, labels.begin());
    net.update_parameters(solvers, 1e-3);
    return net.forward(t).host()[0] > loss ? 0 : 1;
}}
"""


def compile_times(args, log):
    db_path = os.path.join(args.build, "compile_commands.json")
    rows = []
    if not os.path.exists(db_path):
        return [["-", "-", "-", "", "", "", f"no {db_path} (configure with "
                 "CMAKE_EXPORT_COMPILE_COMMANDS=ON)"]]
    db = {os.path.realpath(e["file"]): e for e in json.load(open(db_path))}

    def command_for(source, like):
        entry = db.get(os.path.realpath(source)) or db.get(os.path.realpath(like))
        if entry is None:
            return None
        cmd = entry.get("arguments") or shlex.split(entry["command"])
        out = []
        skip = False
        for a in cmd:
            if skip:
                skip = False
                continue
            if a in ("-o", "-MF", "-MT", "-MQ"):
                skip = True
                continue
            if a in ("-MD", "-MMD", "-c") or a == entry["file"] or os.path.realpath(a) == \
                    os.path.realpath(entry["file"]):
                continue
            out.append(a)
        return out + ["-c", source, "-o", "/dev/null"], entry["directory"]

    # ctnn sources without a compile command of their own (generated ones) take an example's
    # (ctnn's warnings and speed flags, nothing else), else mlp_cpu's ctnn.cpp's.
    ctnn_tu = next((os.path.join(ROOT, "examples", f) for f in ("fashion_mnist_mlp.cpp",)
                    if os.path.realpath(os.path.join(ROOT, "examples", f)) in db),
                   os.path.join(ROOT, "benchmarks", "mlp_cpu", "ctnn.cpp"))
    dlib_tu = os.path.join(ROOT, "benchmarks", "mlp_cpu", "dlib.cpp")
    gen = os.path.join(args.out, "compile_time")
    os.makedirs(gen, exist_ok=True)
    jobs = []  # (group, name, source, like)
    examples = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".cpp"))
    for f in examples:
        jobs.append(("example", f"examples/{f}", os.path.join(ROOT, "examples", f), ctnn_tu))
    jobs.append(("seed", "benchmarks/seed_fashion_mnist.cpp",
                 os.path.join(ROOT, "benchmarks", "seed_fashion_mnist.cpp"), ctnn_tu))
    for impl in CPP_IMPLS:
        src = os.path.join(ROOT, "benchmarks", "mlp_cpu", f"{impl}.cpp")
        if os.path.realpath(src) in db:
            jobs.append(("A+B in each impl", f"benchmarks/mlp_cpu/{impl}.cpp", src, src))
    depths = [2] if args.quick else [2, 8, 32]
    for d in depths:
        path = os.path.join(gen, f"ctnn_dense_{d}.cpp")
        open(path, "w").write(ctnn_depth_source(d))
        jobs.append(("depth", f"ctnn, {d} Dense layers (generated)", path, ctnn_tu))
    if os.path.realpath(dlib_tu) in db:
        for d in depths:
            path = os.path.join(gen, f"dlib_fc_{d}.cpp")
            open(path, "w").write(dlib_depth_source(d))
            jobs.append(("depth", f"dlib, {d} fc layers (generated)", path, dlib_tu))
    if args.quick:
        jobs = [j for j in jobs if j[0] == "depth"][:1]

    for group, name, source, like in jobs:
        got = command_for(source, like)
        if got is None:
            rows.append([group, name, "g++", "", "", "", "no compile command"])
            continue
        cmd, cwd = got
        log(f"  compile: {name}")
        best_wall, best_cpu, best_rss, st = None, None, None, "ok"
        for _ in range(args.compile_reps):
            rc, _, err, rss, wall = run(cmd, cwd=cwd)
            if rc != 0:
                st = "failed: " + " | ".join(err.strip().splitlines()[:2])[:300]
                break
            best_wall = wall if best_wall is None else min(best_wall, wall)
            best_cpu = LAST_CPU_S if best_cpu is None else min(best_cpu, LAST_CPU_S)
            best_rss = rss if best_rss is None else min(best_rss, rss)
        rows.append([group, name, os.path.basename(cmd[0]),
                     f"{best_wall:.4g}" if best_wall else "",
                     f"{best_cpu:.4g}" if best_cpu else "", best_rss or "", st])

    # nvcc on the examples, when this build has CUDA configured.
    cache = os.path.join(args.build, "CMakeCache.txt")
    text = open(cache).read() if os.path.exists(cache) else ""
    nvcc = re.search(r"^CMAKE_CUDA_COMPILER:\w+=(.+)$", text, re.M)
    cuda_on = re.search(r"^CTNN_ENABLE_CUDA:BOOL=ON$", text, re.M)
    if cuda_on and nvcc and not args.quick:
        inc = os.path.join(ROOT, "include")
        archs = re.search(r"^CMAKE_CUDA_ARCHITECTURES:\w+=(.+)$", text, re.M)
        host = re.search(r"^CMAKE_CUDA_HOST_COMPILER:\w+=(.+)$", text, re.M)
        arch_flags = [f"--generate-code=arch=compute_{a},code=sm_{a}"
                      for a in (archs.group(1).strip().split(";") if archs else [])
                      if a.isdigit()]
        for f in examples:
            # ctnn's nvcc flags (cmake/CtnnCuda.cmake), the host side as g++ builds it.
            cmd = [nvcc.group(1).strip(), "-x", "cu", "-std=c++20", "-O3", "-DNDEBUG",
                   *arch_flags, *(["-ccbin", host.group(1).strip()] if host and
                                  host.group(1).strip() else []),
                   "-Xcompiler=-march=native,-fno-math-errno", "-I", inc,
                   "-isystem", "/usr/include/eigen3", "-c", os.path.join(ROOT, "examples", f),
                   "-o", "/dev/null"]
            log(f"  compile (nvcc): examples/{f}")
            rc, _, err, rss, wall = run(cmd)
            st = "ok" if rc == 0 else "failed: " + " | ".join(err.strip().splitlines()[:2])[:300]
            rows.append(["example", f"examples/{f}", "nvcc", f"{wall:.4g}" if st == "ok" else "",
                         f"{LAST_CPU_S:.4g}" if st == "ok" else "", rss if st == "ok" else "",
                         st])
    else:
        rows.append(["example", "examples/*.cpp", "nvcc", "", "", "",
                     "skipped: --quick" if args.quick and cuda_on else
                     "skipped: no CUDA build configured (CTNN_ENABLE_CUDA is not ON in "
                     f"{cache})"])
    write_csv(os.path.join(args.out, "compile_time.csv"),
              ["group", "source", "compiler", "wall_s", "cpu_s", "compiler_maxrss_kib", "status"],
              rows)
    return rows


def print_compile(args, rows):
    print("\n=== Compile time: one translation unit to an object file (-c), Release flags of the "
          "build (-O3 -march=native ...),\n    one compiler process at a time, best of "
          f"{args.compile_reps}; cpu = user+system seconds of the compiler (steadier than wall "
          "on a busy machine) ===")
    print(f"{'what':<17} {'source':<44} {'compiler':<8} {'wall':>8} {'cpu':>8} {'max RSS':>10}")
    for r in rows:
        if r[6] != "ok":
            print(f"{r[0]:<17} {r[1]:<44} {r[2]:<8} {r[6]}")
            continue
        print(f"{r[0]:<17} {r[1]:<44} {r[2]:<8} {float(r[3]):>7.2f}s {float(r[4]):>7.2f}s "
              f"{int(r[5]) / 1024:>6.0f} MiB")
    print(f"CSV written to {os.path.join(args.out, 'compile_time.csv')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--impl", default="")
    ap.add_argument("--workload", default="A,B,C")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--compile-reps", type=int, default=0)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--cpp-csv", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--phases", default="throughput,memory,seed,compile")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.out = os.path.abspath(args.out or args.build)
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.impl = [i for i in args.impl.split(",") if i]
    args.workload = [w for w in args.workload.split(",") if w in WIDTHS]
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.compile_reps = args.compile_reps or 1
    args.cpp_csv = args.cpp_csv or os.path.join(args.build, "mlp_cpu.csv")
    os.makedirs(args.out, exist_ok=True)
    phases = [p for p in args.phases.split(",") if p]
    log = lambda s: print(s, file=sys.stderr, flush=True)

    pyver = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    print(f"driver: Python peers run in {args.python} (Python {pyver or 'not found'}); "
          f"results in {args.out}")
    results = {}
    t0 = time.perf_counter()
    if "compile" in phases:  # first: the machine is not yet warm from the runs
        log("compile times ...")
        results["compile"] = compile_times(args, log)
    if "memory" in phases:
        log("peak memory ...")
        results["memory"] = memory(args, log)
    if "seed" in phases:
        log("seed runs ...")
        results["seed"] = seed(args, log)
    if "throughput" in phases:
        log("throughput (Python peers and ctnn, interleaved) ...")
        results["throughput"] = throughput(args, log)
    if "compile" in results:
        print_compile(args, results["compile"])
    if "memory" in results:
        print_memory(args, *results["memory"])
    if "seed" in results:
        print_seed(args, results["seed"])
    if "throughput" in results:
        print_throughput(args, *results["throughput"])
    print(f"\ndriver: {time.perf_counter() - t0:.0f} s; load average now "
          f"{open('/proc/loadavg').read().split()[:3]}")
    st = results.get("throughput", (None, None, None, {}))[3]
    return 1 if str(st.get("ctnn", "ok")).startswith("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
