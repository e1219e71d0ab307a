// mlp_cpu — ctnn against its C++ peers on the CPU, workloads A, B and C of issue 5, one table.
//
//   mlp_cpu [--quick] [--csv FILE] [--threads 1,2]
//           [--impl ctnn,ctnn-int8,ctnn-static,eigen,libtorch,dlib]
//           [--workload A,B,C] [--rounds N]
//
// Workloads (benchmarks/common/bench.hpp): A and B are the MLPs of issue 5, C the CNN of
// examples/fashion_mnist_cnn.cpp (the hand-written Eigen peer has no CNN: its C rows are absent).
//
// For every thread count and implementation, mlp_cpu runs itself again as a worker process
// (`--worker IMPL THREADS`) with every thread pool pinned in its environment before any library
// starts: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS (plus OPENBLAS_CORETYPE, so Debian's OpenBLAS uses
// the kernels of this CPU), and in the worker Eigen::setNbThreads and torch::set_num_threads. One
// implementation's threads never compete with another's. Workers print result lines
// (bench::Recorder); this parent prints the table, with the machine's fp32 FMA peak measured in
// the same run (common/peak.hpp), and writes the CSV.
//
// The whole set runs --rounds times (default 3; 1 with --quick), implementations interleaved, and
// each case reports its best round: on a machine shared with other work, a burst of load then
// spoils one round of a case, not the table.
//
// --quick: a few calls per case (what CI runs to prove the programs work; < 20 s in total).
#include "common/bench.hpp"
#include "common/peak.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

// OpenBLAS reports which kernels it picked, when a peer linked it (weak: absent otherwise).
extern "C" char* openblas_get_corename() __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace {

struct Impl {
    const char* name;
    void (*run)(bench::Recorder&);
    const char* missing; ///< why it is not built, or nullptr
};

const std::vector<Impl>& implementations() {
    static const std::vector<Impl> impls = {
        {"ctnn", &bench::run_ctnn, nullptr},               // fp32
        {"ctnn-int8", &bench::run_ctnn_int8, nullptr},     // QuantizedModel
        {"ctnn-static", &bench::run_ctnn_static, nullptr}, // StaticModel (A and B)
        {"eigen", &bench::run_eigen, nullptr},
#ifdef CTNN_BENCH_HAS_LIBTORCH
        {"libtorch", &bench::run_libtorch, nullptr},
#else
        {"libtorch", nullptr, "not found by CMake (Debian: libtorch-dev)"},
#endif
#ifdef CTNN_BENCH_HAS_DLIB
        {"dlib", &bench::run_dlib, nullptr},
#else
        {"dlib", nullptr, "not found by CMake (Debian: libdlib-dev)"},
#endif
    };
    return impls;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, sep);)
        if (!item.empty()) out.push_back(item);
    return out;
}

std::string first_line_with(const char* path, const char* key) {
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);)
        if (line.rfind(key, 0) == 0) {
            const auto colon = line.find(':');
            return colon == std::string::npos ? line : line.substr(colon + 2);
        }
    return "unknown";
}

std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return a.empty() ? std::string("unknown") : a + " " + b + " " + c;
}

/// OpenBLAS kernel family for this CPU, unless the user set OPENBLAS_CORETYPE. Debian's OpenBLAS
/// 0.3.21 does not recognize recent AMD cores and falls back to old kernels without it.
std::string openblas_coretype() {
    if (const char* e = std::getenv("OPENBLAS_CORETYPE")) return e;
#ifdef CTNN_BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bf16")) return "Cooperlake";
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2")) return "Haswell";
#endif
    return "";
}

int worker(const std::string& impl, unsigned threads, bool quick, const std::string& workloads) {
    for (const Impl& i : implementations()) {
        if (impl != i.name) continue;
        bench::Recorder r(i.name, threads, quick, workloads);
        if (openblas_get_corename && (impl == "libtorch" || impl == "dlib"))
            r.note(std::string("OpenBLAS core ") + openblas_get_corename() + ", " +
                   std::to_string(openblas_get_num_threads()) + " threads");
        i.run(r);
        return 0;
    }
    std::cerr << "mlp_cpu: unknown implementation " << impl << '\n';
    return 2;
}

struct Row {
    std::string impl, workload, pass;
    unsigned threads = 0;
    std::size_t batch = 0;
    double seconds = 0;
};

std::string fmt_time(double s) {
    char buf[32];
    if (s < 1e-3) std::snprintf(buf, sizeof buf, "%.2f us", s * 1e6);
    else std::snprintf(buf, sizeof buf, "%.3f ms", s * 1e3);
    return buf;
}

std::string fmt_rate(double v) {
    char buf[32];
    if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v * 1e-6);
    else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", v * 1e-3);
    else std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

int parent(int argc, char** argv) {
    bool quick = false;
    std::string csv, threads_arg = "1,2", impl_arg, workload_arg = "A,B,C";
    int rounds = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--quick") quick = true;
        else if (a == "--csv") csv = value();
        else if (a == "--threads") threads_arg = value();
        else if (a == "--impl") impl_arg = value();
        else if (a == "--workload") workload_arg = value();
        else if (a == "--rounds") rounds = std::max(1, std::stoi(value()));
        else {
            std::cerr << "usage: mlp_cpu [--quick] [--csv FILE] [--threads 1,2] "
                         "[--impl ctnn,ctnn-int8,ctnn-static,eigen,libtorch,dlib] [--workload "
                         "A,B,C] [--rounds N]\n";
            return a == "--help" || a == "-h" ? 0 : 2;
        }
    }
    std::vector<unsigned> thread_counts;
    for (const auto& t : split(threads_arg, ',')) thread_counts.push_back(std::stoul(t) & 0xffffu);
    const std::vector<std::string> wanted = split(impl_arg, ',');
    auto is_wanted = [&](const std::string& n) {
        return wanted.empty() || std::find(wanted.begin(), wanted.end(), n) != wanted.end();
    };

    const std::string load_before = load_average();
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const bench::PeakKernel kernel = bench::best_peak_kernel();
    std::map<unsigned, double> peak; // best over the rounds, like the cases

    // Run every implementation at every thread count in its own worker process.
    const std::string self = "/proc/self/exe";
    const std::string coretype = openblas_coretype();
    if (rounds == 0) rounds = quick ? 1 : 3;
    std::vector<Row> rows;
    std::vector<std::string> notes, round_loads;
    bool failed = false; // a worker that crashed or threw fails the run (CI runs --quick)
    for (const Impl& impl : implementations())
        if (is_wanted(impl.name) && !impl.run)
            notes.push_back(std::string(impl.name) + ": skipped, " + impl.missing);
    for (int round = 0; round < rounds; ++round)
        for (unsigned t : thread_counts) {
            round_loads.push_back(load_average());
            peak[t] = std::max(peak[t], bench::measure_peak_gflops(kernel, t, quick ? 0.05 : 0.3));
            for (const Impl& impl : implementations()) {
                if (!is_wanted(impl.name) || !impl.run) continue;
                std::string cmd = "OMP_NUM_THREADS=" + std::to_string(t) +
                                  " OPENBLAS_NUM_THREADS=" + std::to_string(t) +
                                  " MKL_NUM_THREADS=" + std::to_string(t);
                if (!coretype.empty()) cmd += " OPENBLAS_CORETYPE=" + coretype;
                char exe[4096] = {};
                const auto n = readlink(self.c_str(), exe, sizeof exe - 1);
                cmd += std::string(" '") + (n > 0 ? exe : argv[0]) + "' --worker " + impl.name +
                       " " + std::to_string(t) + " " + (quick ? "quick" : "full") + " " +
                       workload_arg;
                std::FILE* p = popen(cmd.c_str(), "r");
                if (!p) throw std::runtime_error("cannot start " + cmd);
                char line[1024];
                while (std::fgets(line, sizeof line, p)) {
                    std::string s(line);
                    if (!s.empty() && s.back() == '\n') s.pop_back();
                    const auto f = split(s, ',');
                    if (f.size() == 8 && f[0] == "result") {
                        Row r{f[1],
                              f[3],
                              f[4],
                              static_cast<unsigned>(std::stoul(f[2])),
                              std::stoul(f[5]),
                              std::stod(f[6])};
                        auto same = std::find_if(rows.begin(), rows.end(), [&](const Row& o) {
                            return o.impl == r.impl && o.workload == r.workload &&
                                   o.pass == r.pass && o.threads == r.threads;
                        });
                        if (same == rows.end()) rows.push_back(r);
                        else same->seconds = std::min(same->seconds, r.seconds);
                    } else if (!f.empty() && f[0] == "cpu") {
                        continue; // CPU per wall second: benchmarks/python/driver.py shows it
                    } else if (f.size() >= 3 && f[0] == "note") {
                        if (round > 0) continue;
                        const std::string text = f[1] + " (" + std::to_string(t) + " thr): " +
                                                 s.substr(f[0].size() + f[1].size() + 2);
                        notes.push_back(text);
                    } else {
                        std::cout << s << '\n';
                    }
                }
                const int status = pclose(p);
                failed = failed || status != 0;
                if (status != 0)
                    notes.push_back(std::string(impl.name) + " (" + std::to_string(t) +
                                    " thr): worker FAILED (status " + std::to_string(status) + ")");
            }
        }

    // The table.
    auto widths_of = [](const std::string& wl) { return bench::workload_named(wl).label; };
    auto flops_of = [](const Row& r) {
        const bench::Workload& w = bench::workload_named(r.workload);
        const bench::Pass p = r.pass == "train"   ? bench::Pass::train
                              : r.pass == "infer" ? bench::Pass::infer
                                                  : bench::Pass::latency;
        return w.forward_flops() * bench::pass_flop_factor(p) * static_cast<double>(r.batch);
    };
    auto ctnn_seconds = [&](const Row& r) -> double {
        for (const Row& c : rows)
            if (c.impl == "ctnn" && c.workload == r.workload && c.pass == r.pass &&
                c.threads == r.threads)
                return c.seconds;
        return 0;
    };
    std::printf("\nctnn CPU benchmark, fp32%s — %s, %u hardware threads\n",
                quick ? " (--quick: few iterations, numbers are indicative only)" : "",
                first_line_with("/proc/cpuinfo", "model name").c_str(), hw);
    for (unsigned t : thread_counts)
        std::printf("measured fp32 peak (%s FMA, best of the rounds), %u thread%s: %.1f GFLOP/s\n",
                    kernel.isa, t, t > 1 ? "s" : "", peak[t]);
    for (unsigned t : thread_counts)
        if (t > 1 && peak.count(1) && peak[t] < 0.8 * t * peak[1])
            std::printf("WARNING: the %u-thread peak is only %.2fx the 1-thread peak: other "
                        "processes hold cores, so the %u-thread rows do not measure the "
                        "implementations (spinning thread pools collapse when a core is taken)\n",
                        t, peak[t] / peak[1], t);
    std::printf("load average before: %s; at the start of each round and thread count:",
                load_before.c_str());
    for (const auto& l : round_loads) std::printf(" [%s]", l.c_str());
    std::printf("; after: %s\n(other processes make timings noisy: each case shows the best of "
                "%d round%s, each round the median of 3 repetitions)\n",
                load_average().c_str(), rounds, rounds > 1 ? "s" : "");
    std::printf("GFLOP/s counts GEMM FLOPs only: 2*in*out per sample per Dense layer forward, "
                "2*pixels*out*in*taps per convolution, x3 for a training step (SGD, lr %g).\n",
                static_cast<double>(bench::sgd_lr));
    std::printf("(a training step really does %.2fx (A), %.2fx (B) and %.2fx (C) the forward GEMM "
                "work: no input gradient for the first layer, so its %%peak at x3 overstates GEMM "
                "efficiency by %.2fx, %.2fx and %.2fx)\n",
                bench::workload_a().train_gemm_factor(), bench::workload_b().train_gemm_factor(),
                bench::workload_c().train_gemm_factor(),
                3.0 / bench::workload_a().train_gemm_factor(),
                3.0 / bench::workload_b().train_gemm_factor(),
                3.0 / bench::workload_c().train_gemm_factor());
    std::printf("ctnn/impl = ctnn's samples/s divided by impl's, same workload, pass and threads "
                "(> 1: ctnn is faster).\n");
    std::printf(
        "worker environment: OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=<thr>%s\n",
        coretype.empty() ? "" : (" OPENBLAS_CORETYPE=" + coretype).c_str());
    for (const auto& n : notes) std::printf("  %s\n", n.c_str());
    std::printf("\n%-3s %-11s %-8s %6s %4s %-9s %12s %11s %9s %7s %10s\n", "wl", "widths", "pass",
                "batch", "thr", "impl", "time/call", "samples/s", "GFLOP/s", "%peak", "ctnn/impl");
    std::ofstream out;
    if (!csv.empty()) {
        out.open(csv);
        if (!out) throw std::runtime_error("cannot write " + csv);
        out << "workload,widths,pass,batch,threads,impl,seconds_per_call,samples_per_s,gflops,"
               "pct_peak,ctnn_over_impl,peak_gflops,quick\n";
    }
    const char* passes[] = {"train", "infer", "latency"};
    std::string last_group;
    for (const char* wl : {"A", "B", "C"})
        for (const char* pass : passes)
            for (unsigned t : thread_counts)
                for (const Impl& impl : implementations())
                    for (const Row& r : rows) {
                        if (r.workload != wl || r.pass != pass || r.threads != t ||
                            r.impl != impl.name)
                            continue;
                        const std::string group = r.workload + r.pass + std::to_string(t);
                        if (!last_group.empty() && group != last_group) std::printf("\n");
                        last_group = group;
                        const double sps = static_cast<double>(r.batch) / r.seconds;
                        const double gf = flops_of(r) / r.seconds * 1e-9;
                        const double pct = 100.0 * gf / peak[t];
                        const double c = ctnn_seconds(r);
                        char ratio[16] = "-";
                        if (c > 0 && r.impl != "ctnn")
                            std::snprintf(ratio, sizeof ratio, "%.2f", r.seconds / c);
                        std::printf("%-3s %-11s %-8s %6zu %4u %-9s %12s %11s %9.1f %6.1f%% %10s\n",
                                    r.workload.c_str(), widths_of(r.workload), r.pass.c_str(),
                                    r.batch, t, r.impl.c_str(), fmt_time(r.seconds).c_str(),
                                    fmt_rate(sps).c_str(), gf, pct, ratio);
                        if (out)
                            out << r.workload << ',' << widths_of(r.workload) << ',' << r.pass
                                << ',' << r.batch << ',' << t << ',' << r.impl << ',' << r.seconds
                                << ',' << sps << ',' << gf << ',' << pct << ','
                                << (c > 0 ? r.seconds / c : 0.0) << ',' << peak[t] << ','
                                << (quick ? 1 : 0) << '\n';
                    }
    if (!csv.empty()) std::printf("\nCSV written to %s\n", csv.c_str());
    return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) try {
    if (argc == 6 && std::strcmp(argv[1], "--worker") == 0)
        return worker(argv[2], static_cast<unsigned>(std::stoul(argv[3])),
                      std::strcmp(argv[4], "quick") == 0, argv[5]);
    return parent(argc, argv);
} catch (const std::exception& e) {
    std::cerr << "mlp_cpu: " << e.what() << '\n';
    return 1;
}
