// benchmarks/common/bench.hpp — what every implementation in mlp_cpu shares: the workloads (sizes,
// FLOP counts, the same synthetic data for everyone) and the timing loop.
//
// An implementation is a function `void run_<impl>(bench::Recorder&)` that builds its networks
// for workloads A and B and hands each pass to Recorder::measure as a callable. The recorder times
// it and prints one machine-readable line per case on stdout; the parent process of mlp_cpu
// collects those lines from every implementation and thread count into one table.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

/// The workloads of issue 5 (fp32):
///   A: MLP 784-128(ReLU)-10, softmax cross-entropy, training/inference batch 256 (Fashion-MNIST).
///   B: MLP 32-64-64-64-64-16 with ReLU, mean squared error, batch 16384 (a coordinate MLP).
///   C: the CNN of examples/fashion_mnist_cnn.cpp on [1, 28, 28] images: Conv2D(32, 3x3, same),
///      ReLU, MaxPool 2, Conv2D(64, 3x3, same), ReLU, MaxPool 2, Flatten, Dense 128, ReLU,
///      Dropout 0.3, Dense 10; softmax cross-entropy, batch 128.
struct Workload {
    const char* name;
    std::vector<std::size_t> widths; ///< MLPs: input, hidden..., output; C: input, output
    bool classification;             ///< softmax cross-entropy on labels, else MSE on values
    std::size_t batch;               ///< training and inference throughput batch
    const char* label;               ///< the architecture in a few characters, for tables
    double layer_flops[4] = {};      ///< non-MLP (C): GEMM FLOPs per sample of each layer

    [[nodiscard]] bool is_mlp() const { return layer_flops[0] == 0; }
    [[nodiscard]] std::size_t in() const { return widths.front(); }
    [[nodiscard]] std::size_t out() const { return widths.back(); }
    /// GEMM FLOPs per sample of the first layer's forward pass.
    [[nodiscard]] double first_layer_flops() const {
        return is_mlp() ? 2.0 * static_cast<double>(widths[0] * widths[1]) : layer_flops[0];
    }
    /// GEMM FLOPs of a forward pass, per sample: 2 * in * out per Dense layer, 2 * pixels *
    /// out channels * (in channels * taps) per convolution.
    [[nodiscard]] double forward_flops() const {
        double f = 0;
        if (is_mlp())
            for (std::size_t l = 0; l + 1 < widths.size(); ++l)
                f += 2.0 * static_cast<double>(widths[l] * widths[l + 1]);
        else
            for (double lf : layer_flops) f += lf;
        return f;
    }
    /// GEMM work actually done by a training step, over the forward's: forward, weight gradients,
    /// and input gradients of every layer but the first (nobody computes dLoss/dInput).
    [[nodiscard]] double train_gemm_factor() const {
        return 3.0 - first_layer_flops() / forward_flops();
    }
};

inline const Workload& workload_a() {
    static const Workload w{"A", {784, 128, 10}, true, 256, "784-128-10"};
    return w;
}
inline const Workload& workload_b() {
    static const Workload w{"B", {32, 64, 64, 64, 64, 16}, false, 16384, "32-4x64-16"};
    return w;
}
inline const Workload& workload_c() {
    static const Workload w{"C",
                            {784, 10},
                            true,
                            128,
                            "cnn-2conv",
                            {2.0 * 28 * 28 * 32 * (1 * 9),  // conv 1 -> 32, 3x3 same, 28x28
                             2.0 * 14 * 14 * 64 * (32 * 9), // conv 32 -> 64, 3x3 same, 14x14
                             2.0 * (64 * 7 * 7) * 128,      // dense 3136 -> 128
                             2.0 * 128 * 10}};              // dense 128 -> 10
    return w;
}
/// The workload called `name` ("A", "B" or "C").
inline const Workload& workload_named(const std::string& name) {
    if (name == "A") return workload_a();
    if (name == "B") return workload_b();
    if (name == "C") return workload_c();
    throw std::invalid_argument("unknown workload " + name);
}

/// The three passes measured per workload.
enum class Pass { train, infer, latency };
inline const char* pass_name(Pass p) {
    return p == Pass::train ? "train" : (p == Pass::infer ? "infer" : "latency");
}
/// FLOP multiplier of a pass over the forward FLOPs (the convention: a training step is
/// 3x the forward GEMMs, although the first layer's input gradient is never computed by anyone).
inline double pass_flop_factor(Pass p) { return p == Pass::train ? 3.0 : 1.0; }

/// Learning rate of the SGD steps: small, so thousands of timed steps stay finite.
inline constexpr float sgd_lr = 1e-4f;

/// The same inputs and targets for every implementation: x [batch, in] row-major uniform in
/// [0, 1) (A, C) or [-1, 1) (B); labels in [0, out) (A); values [batch, out] in [-1, 1) (B).
struct Data {
    std::size_t batch = 0;
    std::vector<float> x, values;
    std::vector<std::int32_t> labels;
};
inline Data make_data(const Workload& w, std::size_t batch, std::uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(w.classification ? 0.0f : -1.0f, 1.0f);
    std::uniform_real_distribution<float> t(-1.0f, 1.0f);
    Data d;
    d.batch = batch;
    d.x.resize(batch * w.in());
    for (float& v : d.x) v = u(rng);
    if (w.classification) {
        std::uniform_int_distribution<std::int32_t> c(0, static_cast<std::int32_t>(w.out()) - 1);
        d.labels.resize(batch);
        for (auto& l : d.labels) l = c(rng);
    } else {
        d.values.resize(batch * w.out());
        for (float& v : d.values) v = t(rng);
    }
    return d;
}

/// Times callables and prints one result line per case:
///   result,<impl>,<threads>,<workload>,<pass>,<batch>,<seconds per call>,<calls timed>
///   cpu,<impl>,<threads>,<workload>,<pass>,<process CPU seconds per wall second while timed>
/// and `note,<impl>,<text>` lines for settings worth stating in the table. The cpu line tells
/// how much of the machine the case really had (about `threads` on free cores, less when other
/// processes take the CPU, more when idle threads spin); benchmarks/python/driver.py shows it.
class Recorder {
public:
    Recorder(std::string impl, unsigned threads, bool quick, std::string workloads)
        : impl_(std::move(impl)), threads_(threads), quick_(quick),
          workloads_(std::move(workloads)) {}

    [[nodiscard]] unsigned threads() const { return threads_; }
    [[nodiscard]] bool quick() const { return quick_; }
    /// Whether workload `w` was asked for (--workload).
    [[nodiscard]] bool wants(const Workload& w) const {
        return workloads_.find(w.name) != std::string::npos;
    }

    void note(const std::string& text) const {
        std::printf("note,%s,%s\n", impl_.c_str(), text.c_str());
        std::fflush(stdout);
    }

    /// Times `step()` (one training step or one forward pass of `batch` samples): warm-up, then
    /// `reps` repetitions of a calibrated number of calls; reports the median time per call.
    template <class F>
    void measure(const Workload& w, Pass pass, std::size_t batch, F&& step) const {
        using clock = std::chrono::steady_clock;
        const double target = quick_ ? 0.02 : 0.15; // seconds per repetition
        const int reps = 3;
        // Warm-up (first-touch allocations, lazy initialization, caches, clocks).
        const auto w0 = clock::now();
        std::size_t warm = 0;
        do {
            step();
            ++warm;
        } while (std::chrono::duration<double>(clock::now() - w0).count() < target / 2 &&
                 warm < 1000000);
        const double per_call =
            std::chrono::duration<double>(clock::now() - w0).count() / static_cast<double>(warm);
        const auto calls = static_cast<std::size_t>(std::max(1.0, target / per_call));
        std::vector<double> times;
        const std::clock_t cpu0 = std::clock();
        const auto wall0 = clock::now();
        for (int r = 0; r < reps; ++r) {
            const auto t0 = clock::now();
            for (std::size_t i = 0; i < calls; ++i) step();
            times.push_back(std::chrono::duration<double>(clock::now() - t0).count() /
                            static_cast<double>(calls));
        }
        const double cpu_per_wall =
            static_cast<double>(std::clock() - cpu0) / static_cast<double>(CLOCKS_PER_SEC) /
            std::max(1e-9, std::chrono::duration<double>(clock::now() - wall0).count());
        std::nth_element(times.begin(), times.begin() + reps / 2, times.end());
        std::printf("result,%s,%u,%s,%s,%zu,%.9g,%zu\n", impl_.c_str(), threads_, w.name,
                    pass_name(pass), batch, times[static_cast<std::size_t>(reps / 2)],
                    calls * static_cast<std::size_t>(reps));
        std::printf("cpu,%s,%u,%s,%s,%.3f\n", impl_.c_str(), threads_, w.name, pass_name(pass),
                    cpu_per_wall);
        std::fflush(stdout);
    }

private:
    std::string impl_;
    unsigned threads_;
    bool quick_;
    std::string workloads_;
};

/// Keeps a value alive so the optimizer cannot drop the computation that produced it.
template <class T>
inline void keep(const T& v) {
    __asm__ volatile("" : : "g"(&v) : "memory");
}

// The implementations (each in its own translation unit; peers only when found by CMake).
void run_ctnn(Recorder& r);
void run_ctnn_int8(Recorder& r);
void run_ctnn_static(Recorder& r);
void run_eigen(Recorder& r);
void run_libtorch(Recorder& r);
void run_dlib(Recorder& r);

} // namespace bench
