// The fused CPU executor (backend/cpu): same forward values, input gradients and parameter
// gradients as eigen::Executor on every qualifying model (odd widths, Dropout, smooth activations,
// Dense without bias), batch 1, batches that are not a multiple of the slice, 1 and 2 threads;
// training runs through Model (SGD, Adam, AdamW; weights, gradients and optimizer state kept in
// the fused executor's layout) against the Eigen path; the dispatch rule.
#include "fused_checks.hpp"

#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <vector>

using namespace ctnn;
using namespace ctnn::test;

namespace {

using NetB = Sequential<Input<32>, Dense<64>, ReLU, Dense<64>, ReLU, Dense<64>, ReLU, Dense<64>,
                        ReLU, Dense<16>>;
using Odd = Sequential<Input<3>, Dense<17>, ReLU, Dense<1>>;
using Smooth = Sequential<Input<65>, Dense<64>, GELU, Dropout<0.25f>, Dense<65>, Tanh,
                          Dense<3, NoBias>, Sigmoid>;
using Wide =
    Sequential<Input<17>, Dense<65, NoBias>, ReLU, Dropout<0.5f>, Dense<1>, Tanh, Dense<5>, ReLU>;
using Flat = Sequential<Input<2, 3>, Flatten, Dense<7>, SiLU, Dense<2>>;
// The stage kinds BatchParallel splits: convolution, Dropout (its mask keyed by sample), pooling,
// a join (a residual Add), LayerNorm, Dense, Softmax.
using CNN = Sequential<Input<2, 7, 7>, Conv2D<4, 3, Same>, ReLU, Dropout<0.3f>, MaxPool2D<2>,
                       Add<Branch<Conv2D<4, 3, Same>, Tanh>, Branch<>>, Flatten, Dense<6>,
                       LayerNorm, Tanh, Dense<5>, Softmax>;

} // namespace

TEST_CASE("dispatch: Model uses the fused executor for chains of Dense stages of float") {
#if CTNN_CPU_FUSED
    static_assert(cpu::fused_eligible<NetB, float>);
    static_assert(cpu::fused_eligible<Odd, float>);
    static_assert(cpu::fused_eligible<Smooth, float>);
    static_assert(cpu::fused_eligible<Flat, float>);
    // Layers up to 1024 wide with AVX-512, 256 with AVX2, 128 with the portable kernels.
    using NetA = Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>;
    static_assert(cpu::fused_eligible<NetA, float> == (cpu::fused_max_width >= 784));
    static_assert(cpu::fused_max_width >= 128);
    static_assert(std::is_same_v<cpu::executor_for<NetB, float>, cpu::FusedExecutor<NetB>>);
#endif
    // Double precision, other layer kinds (Softmax), a leading activation (an anchor-less stage)
    // and layers wider than the limit keep the Eigen executor.
    // and layers wider than the limit run on eigen::Executor split by batch between threads
    // (BatchParallel), unless a stage needs the whole batch (BatchNorm): then on one executor.
    static_assert(!cpu::fused_eligible<NetB, double>);
    static_assert(
        std::is_same_v<cpu::executor_for<NetB, double>, cpu::BatchParallel<NetB, double>>);
    using WithSoftmax = Sequential<Input<8>, Dense<4>, Softmax>;
    static_assert(!cpu::fused_eligible<WithSoftmax, float>);
    static_assert(std::is_same_v<cpu::executor_for<WithSoftmax, float>,
                                 cpu::BatchParallel<WithSoftmax, float>>);
    using WithNorm = Sequential<Input<8>, Dense<4>, BatchNorm>;
    static_assert(!cpu::batch_splittable<WithNorm>);
    static_assert(
        std::is_same_v<cpu::executor_for<WithNorm, float>, eigen::Executor<WithNorm, float>>);
    static_assert(cpu::batch_splittable<CNN>);
    static_assert(!cpu::fused_eligible<Sequential<Input<8>, ReLU, Dense<4>>, float>);
    static_assert(
        !cpu::fused_eligible<Sequential<Input<8>, Dense<cpu::fused_max_width + 1>>, float>);
    CHECK(num_threads() >= 1);
}

TEST_CASE("fused: forward and gradients match eigen::Executor, 1 thread") {
    for (const std::size_t batch : sizes{1, 2, 7, 96, 97, 250}) {
        check_against_eigen<NetB>(batch, 1);
        check_against_eigen<Odd>(batch, 1);
        check_against_eigen<Smooth>(batch, 1);
        check_against_eigen<Wide>(batch, 1);
        check_against_eigen<Flat>(batch, 1);
    }
}

TEST_CASE(
    "fused: layers wider than 128 match eigen::Executor where the instruction set fuses them") {
    // Workload A's 784-128-10 and a 200-wide layer: fused with NEON (aarch64) and AVX-512 (whose
    // own run is native_mlp.cpp); the portable 4-wide kernels stop at 128, and there this case
    // checks only that (check_against_eigen skips a model the instruction set does not fuse).
    using NetA = Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>;
    using Wide200 = Sequential<Input<20>, Dense<200>, ReLU, Dense<9>>;
    MESSAGE("fused_max_width " << cpu::fused_max_width);
    if (cpu::fused_max_width < 784) CHECK(!cpu::fused_eligible<NetA, float>);
    for (const std::size_t batch : sizes{1, 97, 256}) {
        check_against_eigen<NetA>(batch, 1);
        check_against_eigen<Wide200>(batch, 1);
    }
    check_against_eigen<NetA>(600, 2);
}

TEST_CASE("fused: forward and gradients match eigen::Executor, 2 threads") {
    for (const std::size_t batch : sizes{191, 192, 600}) {
        check_against_eigen<NetB>(batch, 2);
        check_against_eigen<Smooth>(batch, 2);
        check_against_eigen<Wide>(batch, 2);
    }
}

TEST_CASE("fused: results do not depend on timing, and batch 1 takes the fixed-size path") {
#if CTNN_CPU_FUSED
    Threads t(2);
    Model<Smooth> a(device::cpu()), b(device::cpu());
    a.init(3);
    b.init(3);
    const std::vector<float> x = wave(500 * Smooth::in_size, 0.9f);
    const auto ya = a.forward(x, 500, Mode::training);
    const auto yb = b.forward(x, 500, Mode::training);
    CHECK(std::equal(ya.begin(), ya.end(), yb.begin()));
    // Batch-1 inference of a sample equals that sample's row of a batched inference.
    const auto batched = a.forward(x, 500);
    const std::vector<float> row(batched.begin(), batched.end());
    for (const std::size_t s : sizes{0, 17, 499}) {
        const auto y1 = a.forward(std::span(x).subspan(s * Smooth::in_size, Smooth::in_size), 1);
        CHECK(rel_err(y1.data(), row.data() + s * Smooth::out_size, Smooth::out_size) < 1e-5);
    }
#endif
}

namespace {

/// Five training steps through Model (on the fused executor: weights, gradients and optimizer
/// state kept in its own layout, written in PyTorch's when read) against the same steps by hand
/// on eigen::Executor: the loss of every step, the gradients (read on even steps, before the
/// update), the parameters and, read back with read_state(), the optimizer state.
template <class O>
void check_training(const O& opt, unsigned threads, std::size_t batch) {
    INFO(O::name() << ", " << threads << " thread(s), batch " << batch);
    Threads t(threads);
    // Widths that are not multiples of the register width: padded columns in the fused layout.
    using Net = Sequential<Input<5>, Dense<33>, ReLU, Dropout<0.1f>, Dense<17>, Tanh, Dense<4>>;
    Model<Net> model(device::cpu());
    model.init(11);
    OptimizerState<O> state(opt, Net::param_count);
    const std::vector<float> x = wave(batch * Net::in_size, 0.2f);
    const std::vector<float> target = wave(batch * Net::out_size, 2.0f);

    // The reference: the same steps by hand on eigen::Executor.
    std::vector<float> p(model.parameters().begin(), model.parameters().end());
    std::vector<float> g(Net::param_count);
    OptimizerState<O> ref_state(opt, Net::param_count);
    eigen::Executor<Net, float> ref;

    for (int step = 0; step < 5; ++step) {
        CAPTURE(step);
        model.forward(x, batch, Mode::training);
        const float l = model.loss(loss::MSE{}, {.values = target});
        model.backward();
        if (step % 2 == 0) {
            const std::vector<float> gm(model.gradients().begin(), model.gradients().end());
            ElemCtx ctx;
            ctx.seed = model.seed();
            ctx.training = true;
            ctx.step = static_cast<std::uint64_t>(step) + 1;
            (void)ref.forward(p.data(), x.data(), batch, ctx);
            (void)loss::MSE{}(ref.output(), {.values = target}, batch, Net::out_size,
                              ref.output_grad());
            ref.backward(p.data(), g.data());
            CHECK(rel_err(gm.data(), g.data(), g.size()) < 1e-4);
        }
        model.update(state, 0.01f);

        ElemCtx ctx;
        ctx.seed = model.seed();
        ctx.training = true;
        ctx.step = static_cast<std::uint64_t>(step) + 1;
        const float* y = ref.forward(p.data(), x.data(), batch, ctx);
        const float lr =
            loss::MSE{}(y, {.values = target}, batch, Net::out_size, ref.output_grad());
        ref.backward(p.data(), g.data());
        ++ref_state.step;
        eigen::apply_update(ref_state.optimizer, ref_state.optimizer.scalars(0.01f, ref_state.step),
                            p.data(), g.data(), ref_state.m.data(), ref_state.v.data(),
                            Net::param_count);
        CHECK(std::fabs(l - lr) <= 1e-5f * (1.0f + std::fabs(lr)));
    }
    CHECK(rel_err(model.parameters().data(), p.data(), p.size()) < 1e-4);
    CHECK(state.step == ref_state.step);
    model.read_state(state);
    CHECK(rel_err(state.m.data(), ref_state.m.data(), state.m.size()) < 1e-4);
    CHECK(rel_err(state.v.data(), ref_state.v.data(), state.v.size()) < 1e-4);
}

} // namespace

TEST_CASE(
    "fused: training through Model matches the Eigen executor (SGD and Adam, 1 and 2 threads)") {
    // 300 samples: one part; 500: two parts at 2 threads, each with its gradient accumulators.
    check_training(optim::Adam{}, 2, 300);
    check_training(optim::Adam{}, 2, 500);
    check_training(optim::SGD{.lr = 0.01f, .momentum = 0.9f}, 1, 300);
    check_training(optim::SGD{.lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-3f}, 2, 500);
    check_training(optim::AdamW{}, 1, 64);
}

TEST_CASE("fused: a copy of a model updates with the gradients it was copied with") {
    using Net = Sequential<Input<20>, Dense<33>, ReLU, Dense<3>>;
    constexpr std::size_t batch = 40;
    Model<Net> a(device::cpu());
    a.init(8);
    const std::vector<float> x = wave(batch * Net::in_size, 0.3f);
    const std::vector<float> target = wave(batch * Net::out_size, 1.1f);
    a.forward(x, batch, Mode::training);
    a.loss(loss::MSE{}, {.values = target});
    a.backward();
    Model<Net> b(a);
    CHECK(rel_err(b.gradients().data(), a.gradients().data(), Net::param_count) == 0.0);
    OptimizerState<optim::SGD> sa(optim::SGD{.lr = 0.1f, .momentum = 0.5f}, Net::param_count),
        sb(sa);
    for (int i = 0; i < 2; ++i) { // the second update reuses the same gradients
        a.update(sa, 0.1f);
        b.update(sb, 0.1f);
    }
    CHECK(rel_err(b.parameters().data(), a.parameters().data(), Net::param_count) < 1e-7);
    CHECK(rel_err(b.gradients().data(), a.gradients().data(), Net::param_count) == 0.0);
    // The parameters moved: the update used non-zero gradients.
    Model<Net> fresh(device::cpu());
    fresh.init(8);
    CHECK(rel_err(a.parameters().data(), fresh.parameters().data(), Net::param_count) > 1e-3);
}

namespace {

/// Forward (training and inference) and backward of Net's CPU executor at `threads` threads
/// against one eigen::Executor on the whole batch; returns the parts the batch was split into.
template <class Net>
unsigned check_batch_parallel(std::size_t batch, unsigned threads) {
    INFO("batch " << batch << ", threads " << threads);
    Threads t(threads);
    Model<Net> model(device::cpu());
    model.init(5);
    const std::vector<float> p(model.parameters().begin(), model.parameters().end());
    const std::vector<float> x = wave(batch * Net::in_size, 0.4f);
    const std::vector<float> dy = wave(batch * Net::out_size, 1.3f);
    ElemCtx ctx;
    ctx.seed = 99;
    ctx.step = 4;
    ctx.training = true;

    eigen::Executor<Net, float> ref;
    cpu::BatchParallel<Net, float> par;
    std::vector<float> gref(Net::param_count), gpar(Net::param_count);
    for (const bool training : {true, false}) {
        ctx.training = training;
        const float* yr = ref.forward(p.data(), x.data(), batch, ctx);
        const float* yp = par.forward(p.data(), x.data(), batch, ctx);
        CHECK(rel_err(yp, yr, batch * Net::out_size) < 1e-5);
    }
    ctx.training = true;
    ref.forward(p.data(), x.data(), batch, ctx);
    par.forward(p.data(), x.data(), batch, ctx);
    std::copy(dy.begin(), dy.end(), ref.output_grad());
    std::copy(dy.begin(), dy.end(), par.output_grad());
    ref.backward(p.data(), gref.data());
    par.backward(p.data(), gpar.data());
    CHECK(rel_err(gpar.data(), gref.data(), gpar.size()) < 1e-4);
    CHECK(par.last_forward_stages() == ref.last_forward_stages());
    return par.last_parts();
}

} // namespace

TEST_CASE("BatchParallel: a CNN split between threads matches one eigen::Executor") {
    constexpr std::size_t m = cpu::BatchParallel<CNN, float>::min_part;
    // Split into 2 parts (even and odd batches), and not split (too few samples, 1 thread).
    CHECK(check_batch_parallel<CNN>(4 * m, 2) == 2);
    CHECK(check_batch_parallel<CNN>(4 * m + 3, 2) == 2);
    CHECK(check_batch_parallel<CNN>(2 * m - 1, 2) == 1);
    CHECK(check_batch_parallel<CNN>(4 * m, 1) == 1);
    // A small model needs larger parts (an unpadded convolution, a smooth activation).
    using Small = Sequential<Input<3, 5, 5>, Conv2D<2, 3>, SiLU, Flatten, Dense<2>>;
    constexpr std::size_t ms = cpu::BatchParallel<Small, float>::min_part;
    static_assert(ms > m);
    CHECK(check_batch_parallel<Small>(2 * ms + 1, 2) == 2);
    CHECK(check_batch_parallel<Small>(2 * ms - 1, 2) == 1);
}

TEST_CASE("BatchParallel: a training run at 2 threads follows the 1-thread run") {
    constexpr std::size_t batch = 96;
    const std::vector<float> x = wave(batch * CNN::in_size, 0.7f);
    std::vector<float> target(batch * CNN::out_size, 0.0f);
    for (std::size_t b = 0; b < batch; ++b) target[b * CNN::out_size + b % CNN::out_size] = 1.0f;

    auto train = [&](unsigned threads, unsigned& parts) {
        Threads t(threads);
        Model<CNN> model(device::cpu());
        model.init(21);
        OptimizerState<optim::Adam> state(optim::Adam{}, CNN::param_count);
        for (int step = 0; step < 4; ++step) {
            model.forward(x, batch, Mode::training);
            model.loss(loss::MSE{}, {.values = target});
            model.backward();
            model.update(state, 0.01f);
        }
        parts = model.cpu_executor().last_parts();
        return std::vector<float>(model.parameters().begin(), model.parameters().end());
    };
    unsigned parts1 = 0, parts2 = 0;
    const std::vector<float> one = train(1, parts1);
    const std::vector<float> two = train(2, parts2);
    CHECK(parts1 == 1);
    CHECK(parts2 == (batch >= 2 * cpu::BatchParallel<CNN, float>::min_part ? 2u : 1u));
    CHECK(rel_err(two.data(), one.data(), one.size()) < 1e-4);
}
