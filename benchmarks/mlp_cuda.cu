// mlp_cuda: workloads A, B and C (benchmarks/common/bench.hpp) on a CUDA GPU: a training step
// (forward, loss, backward, SGD update), inference at the throughput batch, batch-1 latency (also
// as predict() through pinned and mapped host buffers, lat-pin and lat-map, and as a replayed CUDA
// graph, lat-graph), and the int8 model's inference and latency (QuantizedModel on CUDA, issue
// 18). One table; run by scripts/gpu-check.sh, which builds it with the cuda preset for the local
// GPU.
//
// Timing: CUDA events on the legacy default stream bracket `calls` consecutive calls, the best of
// 5 repetitions after 3 warm-up calls. Every ctnn call waits for its results (forward() copies the
// output to the host, loss() its value), so an interval covers the calls' kernels, launches and
// host copies: what a program using the Model API gets. Without a GPU (or a driver) it says so
// and exits 0.
#include "common/bench.hpp"
#include "mlp_cpu/nets.hpp"

#include <ctnn/ctnn.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace {

using bench::Data;
using bench::Workload;

/// Throws std::runtime_error for a failed CUDA runtime call.
void check(cudaError_t code, const char* what) {
    if (code != cudaSuccess)
        throw std::runtime_error(std::string("mlp_cuda: ") + what + ": " +
                                 cudaGetErrorString(code));
}

/// Seconds per call of f: `calls` calls per repetition (grown until a repetition takes at least
/// 20 ms), the best of 5, timed with CUDA events.
template <class F>
double time_calls(F&& f) {
    cudaEvent_t start{}, stop{};
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    for (int i = 0; i < 3; ++i) f();
    const auto run = [&](int calls) {
        check(cudaEventRecord(start, nullptr), "cudaEventRecord");
        for (int i = 0; i < calls; ++i) f();
        check(cudaEventRecord(stop, nullptr), "cudaEventRecord");
        check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        return static_cast<double>(ms) * 1e-3;
    };
    int calls = 1;
    while (run(calls) < 0.02 && calls < (1 << 20)) calls *= 2;
    double best = 1e30;
    for (int r = 0; r < 5; ++r) best = std::min(best, run(calls) / calls);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return best;
}

void row(const Workload& w, const char* pass, const char* precision, std::size_t batch,
         double seconds) {
    const double flops = w.forward_flops() * static_cast<double>(batch) *
                         (std::string(pass) == "train" ? w.train_gemm_factor() : 1.0);
    std::printf("%-2s %-11s %-8s %-5s %6zu %12.2f us %12.0f %9.1f\n", w.name, w.label, pass,
                precision, batch, seconds * 1e6, static_cast<double>(batch) / seconds,
                flops / seconds * 1e-9);
}

template <class Net, class Loss>
void run(const Workload& w, Loss loss) {
    ctnn::Model<Net> model(ctnn::device::cuda());
    model.init(42);
    ctnn::OptimizerState<ctnn::optim::SGD> state(ctnn::optim::SGD{.lr = bench::sgd_lr},
                                                 Net::param_count);
    const Data d = bench::make_data(w, w.batch);
    const ctnn::loss::Targets<float> targets{d.labels, d.values};
    const std::span<const float> x(d.x), x1 = x.first(w.in());
    row(w, "train", "fp32", w.batch, time_calls([&] {
            model.forward(x, w.batch, ctnn::Mode::training);
            bench::keep(model.loss(loss, targets));
            model.backward();
            model.update(state, bench::sgd_lr);
        }));
    row(w, "infer", "fp32", w.batch, time_calls([&] {
            bench::keep(model.forward(x, w.batch, ctnn::Mode::inference).data()[0]);
        }));
    row(w, "latency", "fp32", 1,
        time_calls([&] { bench::keep(model.forward(x1, 1, ctnn::Mode::inference).data()[0]); }));
    // Batch-1 predict() from and into page-locked buffers: pinned (DMA copies) and mapped (the
    // input read in place; on an integrated GPU such as a Jetson's, no copy at all).
    // lat-graph: the mapped pass captured once as a CUDA graph, one graph launch per call.
    for (const char* pass : {"lat-pin", "lat-map", "lat-graph"}) {
        const auto kind = std::string(pass) == "lat-pin" ? ctnn::cuda::HostMemory::pinned
                                                         : ctnn::cuda::HostMemory::mapped;
        model.use_cuda_graphs(std::string(pass) == "lat-graph");
        ctnn::cuda::HostBuffer<float> hx(w.in(), kind), hy(w.out(), kind);
        std::copy(x1.begin(), x1.end(), hx.begin());
        row(w, pass, "fp32", 1, time_calls([&] {
                model.predict(hx, hy);
                bench::keep(hy.data()[0]);
            }));
    }
    model.use_cuda_graphs(false);
    ctnn::QuantizedModel<Net> q = ctnn::quantize(model, x); // on the model's device
    row(w, "infer", "int8", w.batch,
        time_calls([&] { bench::keep(q.forward(x, w.batch).data()[0]); }));
    row(w, "latency", "int8", 1, time_calls([&] { bench::keep(q.forward(x1, 1).data()[0]); }));
}

} // namespace

int main() {
    int count = 0;
    const cudaError_t probe = cudaGetDeviceCount(&count);
    if (probe != cudaSuccess || count == 0) {
        std::printf("mlp_cuda: no CUDA device (%s): nothing to time\n",
                    probe != cudaSuccess ? cudaGetErrorString(probe) : "0 devices");
        return 0;
    }
    try {
        cudaDeviceProp p{};
        check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
        std::printf("mlp_cuda: %s (sm_%d%d, %d SMs, %.1f GiB); CUDA events around synchronous "
                    "calls, best of 5\n",
                    p.name, p.major, p.minor, p.multiProcessorCount,
                    static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
        std::printf("%-2s %-11s %-8s %-5s %6s %15s %12s %9s\n", "wl", "widths", "pass", "prec",
                    "batch", "time/call", "samples/s", "GFLOP/s");
        run<bench::NetA>(bench::workload_a(), ctnn::loss::SoftmaxCrossEntropy{});
        run<bench::NetB>(bench::workload_b(), ctnn::loss::MSE{});
        run<bench::NetC>(bench::workload_c(), ctnn::loss::SoftmaxCrossEntropy{});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
