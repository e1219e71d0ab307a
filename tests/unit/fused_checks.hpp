// Shared by tests/unit/fused.cpp (portable kernels) and tests/unit/native.cpp (this machine's
// widest kernels): the fused CPU executor against eigen::Executor on one model.
#pragma once
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <vector>

namespace ctnn::test {

using sizes = std::initializer_list<std::size_t>;

/// Deterministic values in [-1, 1].
std::vector<float> wave(std::size_t n, float phase) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(0.731f * static_cast<float>(i) + phase);
    return v;
}

/// max |a - b| / (1 + max |b|)
double rel_err(const float* a, const float* b, std::size_t n) {
    double diff = 0, mag = 0;
    for (std::size_t i = 0; i < n; ++i) {
        diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
        mag = std::max(mag, static_cast<double>(std::fabs(b[i])));
    }
    return diff / (1.0 + mag);
}

/// RAII: sets ctnn's thread count, restores 1 at the end.
struct Threads {
    explicit Threads(unsigned n) { set_num_threads(n); }
    ~Threads() { set_num_threads(1); }
    Threads(const Threads&) = delete;
    Threads& operator=(const Threads&) = delete;
};

/// Forward (training and inference) and backward of FusedExecutor against eigen::Executor.
/// (A model the fused executor does not take with this instruction set is not checked.)
template <class Net>
void check_against_eigen(std::size_t batch, unsigned threads) {
#if CTNN_CPU_FUSED
    if constexpr (cpu::fused_eligible<Net, float>) {
        INFO("batch " << batch << ", threads " << threads << ", " << describe<Net>());
        Threads t(threads);
        Model<Net> model(device::cpu());
        model.init(7);
        const std::vector<float> params(model.parameters().begin(), model.parameters().end());
        const std::vector<float> x = wave(batch * Net::in_size, 0.3f);
        const std::vector<float> dy = wave(batch * Net::out_size, 1.1f);
        constexpr std::size_t n_out = Net::out_size;

        eigen::Executor<Net, float> ref;
        cpu::FusedExecutor<Net> fused;
        for (const bool training : {false, true}) {
            ElemCtx ctx;
            ctx.seed = 99;
            ctx.training = training;
            ctx.step = training ? 3 : 0;
            const float* ye = ref.forward(params.data(), x.data(), batch, ctx);
            const float* yf = fused.forward(params.data(), x.data(), batch, ctx);
            CHECK(rel_err(yf, ye, batch * n_out) < 2e-5);
            CHECK(rel_err(fused.output(), ye, batch * n_out) < 2e-5);

            // Backward (after an inference forward too: the fused executor evaluates again).
            std::copy(dy.begin(), dy.end(), ref.output_grad());
            std::copy(dy.begin(), dy.end(), fused.output_grad());
            std::vector<float> ge(Net::param_count, 0.0f), gf(Net::param_count, 1.0f);
            ref.backward(params.data(), ge.data());
            fused.backward(params.data(), gf.data());
            CHECK(rel_err(gf.data(), ge.data(), ge.size()) < 1e-4);
        }
    }
#else
    (void)batch;
    (void)threads;
#endif
}

} // namespace ctnn::test
