// fused_mlp_b — the experiment behind proposal 1 of docs/benchmarks.md: workload B's inference
// (32-64-64-64-64-16, ReLU) as a "fully fused" CPU MLP, against ctnn's Model::forward on the same
// weights and inputs, in one program. Not a ctnn API: a measured sketch for the CPU backend.
//
// The whole network runs on slices of 48 samples whose activations (2 x 12 KiB) stay in L1. Each
// Dense layer is a register-blocked AVX-512 micro-kernel: weights transposed once to column-major
// out x in (the 64 outputs of one input are 4 zmm loads), 6 samples x 64 outputs = 24 zmm
// accumulators started at the bias, ReLU applied to the accumulators before the only store. No
// packing, no zeroing, no separate epilogue sweep. Batch-1 latency uses the same kernel with one
// sample.
//
//   fused_mlp_b [--quick]
#include "../common/bench.hpp"

#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>

namespace {

using NetB =
    ctnn::Sequential<ctnn::Input<32>, ctnn::Dense<64>, ctnn::ReLU, ctnn::Dense<64>, ctnn::ReLU,
                     ctnn::Dense<64>, ctnn::ReLU, ctnn::Dense<64>, ctnn::ReLU, ctnn::Dense<16>>;

// y[s*Out + o] = act(b[o] + sum_k wt[k*Out + o] * x[s*K + k]) for Ns samples.
template <int Out, int K, int Ns, bool Relu>
inline void block(const float* __restrict wt, const float* __restrict b, const float* __restrict x,
                  float* __restrict y) {
    constexpr int V = Out / 16;
    __m512 acc[static_cast<std::size_t>(Ns)][static_cast<std::size_t>(V)];
    for (int s = 0; s < Ns; ++s)
        for (int v = 0; v < V; ++v) acc[s][v] = _mm512_loadu_ps(b + 16 * v);
    for (int k = 0; k < K; ++k) {
        __m512 w[static_cast<std::size_t>(V)];
        for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(wt + k * Out + 16 * v);
        for (int s = 0; s < Ns; ++s) {
            const __m512 xs = _mm512_set1_ps(x[s * K + k]);
            for (int v = 0; v < V; ++v) acc[s][v] = _mm512_fmadd_ps(w[v], xs, acc[s][v]);
        }
    }
    // ReLU as a masked max with an explicit source: GCC 12's _mm512_max_ps trips
    // -Wuninitialized inside its own header (the `__Y = __Y` idiom).
    const __m512 zero = _mm512_setzero_ps();
    for (int s = 0; s < Ns; ++s)
        for (int v = 0; v < V; ++v)
            _mm512_storeu_ps(y + s * Out + 16 * v,
                             Relu ? _mm512_mask_max_ps(zero, 0xFFFF, acc[s][v], zero) : acc[s][v]);
}

template <int Out, int K, int Ns, bool Relu>
void dense(const float* wt, const float* b, const float* x, float* y, int samples) {
    for (int s = 0; s < samples; s += Ns) block<Out, K, Ns, Relu>(wt, b, x + s * K, y + s * Out);
}

/// The network's weights transposed from ctnn's [out, in] row-major to [in, out] row-major.
struct Fused {
    std::vector<std::vector<float>> wt, b;
    explicit Fused(const ctnn::Model<NetB>& m, const std::vector<std::size_t>& widths) {
        const float* p = m.parameters().data();
        for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
            const std::size_t in = widths[l], out = widths[l + 1];
            std::vector<float> t(in * out);
            for (std::size_t o = 0; o < out; ++o)
                for (std::size_t k = 0; k < in; ++k) t[k * out + o] = p[o * in + k];
            wt.push_back(std::move(t));
            b.emplace_back(p + in * out, p + in * out + out);
            p += in * out + out;
        }
    }
    template <int Ns, int NsOut>
    void run(const float* x, float* y, float* h1, float* h2, int samples) const {
        dense<64, 32, Ns, true>(wt[0].data(), b[0].data(), x, h1, samples);
        dense<64, 64, Ns, true>(wt[1].data(), b[1].data(), h1, h2, samples);
        dense<64, 64, Ns, true>(wt[2].data(), b[2].data(), h2, h1, samples);
        dense<64, 64, Ns, true>(wt[3].data(), b[3].data(), h1, h2, samples);
        dense<16, 64, NsOut, false>(wt[4].data(), b[4].data(), h2, y, samples);
    }
};

template <class F>
double best_seconds(F&& f, int calls, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) f();
        best = std::min(
            best,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls);
    }
    return best;
}

} // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const bench::Workload& w = bench::workload_b();
    const int batch = static_cast<int>(w.batch), slice = 48;
    const bench::Data d = bench::make_data(w, w.batch);
    ctnn::Model<NetB> model(ctnn::device::cpu());
    model.init(42);
    model.reserve(w.batch);
    const Fused fused(model, w.widths);

    std::vector<float> y(w.batch * w.out());
    alignas(64) float h1[48 * 64], h2[48 * 64];
    auto fused_batch = [&] {
        for (int s0 = 0; s0 < batch; s0 += slice)
            fused.run<6, 12>(d.x.data() + s0 * 32, y.data() + s0 * 16, h1, h2, slice);
        bench::keep(y[0]);
    };
    auto fused_one = [&] {
        fused.run<1, 1>(d.x.data(), y.data(), h1, h2, 1);
        bench::keep(y[0]);
    };
    const std::span<const float> x(d.x);
    auto ctnn_batch = [&] { bench::keep(model.forward(x, w.batch).data()[0]); };
    auto ctnn_one = [&] { bench::keep(model.forward(x.first(32), 1).data()[0]); };

    // Same results as ctnn (up to summation order).
    fused_batch();
    const auto ref = model.forward(x, w.batch);
    double err = 0;
    for (std::size_t i = 0; i < ref.size(); ++i)
        err = std::max(err, static_cast<double>(std::fabs(ref[i] - y[i])));

    const int reps = quick ? 2 : 7, big = quick ? 2 : 40, small = quick ? 1000 : 200000;
    const double tf = best_seconds(fused_batch, big, reps),
                 tc = best_seconds(ctnn_batch, big, reps);
    const double lf = best_seconds(fused_one, small, reps),
                 lc = best_seconds(ctnn_one, small, reps);
    const double flops = w.forward_flops() * static_cast<double>(w.batch);
    std::printf(
        "workload B inference, batch %d, 1 thread (best of %d); max |fused - ctnn| = %.2g\n", batch,
        reps, err);
    std::printf("  ctnn Model::forward   %8.3f ms  %6.1f GFLOP/s\n", tc * 1e3, flops / tc * 1e-9);
    std::printf("  fused, 48-sample slices %6.3f ms  %6.1f GFLOP/s  (%.2fx ctnn)\n", tf * 1e3,
                flops / tf * 1e-9, tc / tf);
    std::printf("batch-1 latency: ctnn %.3f us, fused %.3f us (%.2fx)\n", lc * 1e6, lf * 1e6,
                lc / lf);
    return err < 1e-3 ? 0 : 1;
}
#else
#include <cstdio>
int main() {
    std::puts("fused_mlp_b: built without AVX-512 (-march=native on an AVX-512 CPU); skipped");
    return 0;
}
#endif
