// Shared by the tests/unit/cuda_*.cpp files: models run on device::cuda() by host execution of
// the CUDA kernels, against the same models on the CPU (Eigen).
//
// Tolerances: both backends run the same expressions in float, but the GEMMs sum in different
// orders (Eigen's blocked kernels vs the tiled CUDA GEMM), so values agree to a few float
// rounding errors of the dot products: relative 2e-5 plus an absolute 1e-6 floor
// (check_close); over 20 Adam steps the losses agree within 1e-4 relative.
#pragma once
#define CTNN_HOST_EXECUTION 1 // this executable runs the CUDA backend on the CPU
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace ctnn::test::cuda_checks {

namespace fs = std::filesystem;

inline fs::path scratch(const std::string& name) {
    const char* dir = std::getenv("CTNN_TEST_TMPDIR");
    return (dir ? fs::path(dir) : fs::temp_directory_path()) / name;
}

inline std::vector<float> uniform(std::size_t n, std::uint64_t stream, float lo = -1.0f,
                                  float hi = 1.0f) {
    const CounterRng rng{42, stream};
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rng.uniform(i);
    return v;
}

inline std::vector<std::int32_t> labels_for(std::size_t batch, std::size_t classes) {
    std::vector<std::int32_t> l(batch);
    for (std::size_t b = 0; b < batch; ++b) l[b] = static_cast<std::int32_t>((b * 7 + 3) % classes);
    return l;
}

inline void check_close(std::span<const float> got, std::span<const float> want, double rel = 2e-5,
                        double abs = 1e-6) {
    REQUIRE(got.size() == want.size());
    double scale = 0;
    for (float w : want) scale = std::max(scale, std::fabs(double(w)));
    std::size_t bad = 0, first = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double tol = abs + rel * std::max(std::fabs(double(want[i])), 1e-3 * scale);
        if (std::fabs(double(got[i]) - double(want[i])) > tol) {
            if (bad++ == 0) first = i;
        }
    }
    INFO("first mismatch at " << first << ": " << got[first] << " vs " << want[first]);
    CHECK(bad == 0);
}

/// Inputs and targets of `batch` samples of Net, from `seed`, for the checks below.
template <class Net>
struct StepData {
    StepData(std::size_t batch, std::uint64_t seed)
        : x(uniform(batch * Net::in_size, seed + 1, -2.0f, 2.0f)),
          labels(labels_for(batch, Net::out_size)),
          values(uniform(batch * Net::out_size, seed + 2, 0.0f, 1.0f)) {}
    std::vector<float> x;
    std::vector<std::int32_t> labels;
    std::vector<float> values;
    [[nodiscard]] loss::Targets<float> targets() const { return {labels, values}; }
};

/// One training-mode forward, loss and backward of Net on both backends from the same
/// parameters; outputs, loss and gradients must agree. Returns nothing; CHECKs inside.
template <class Net, class L>
void check_step(const L& loss, std::size_t batch, std::uint64_t seed) {
    CAPTURE(batch);
    CAPTURE(L::name());
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(seed);
    gpu.init(seed);
    const StepData<Net> data(batch, seed);
    const auto& x = data.x;
    const loss::Targets<float> t = data.targets();

    for (const Mode mode : {Mode::inference, Mode::training}) {
        const auto yc = cpu.forward(x, batch, mode);
        const std::vector<float> y_cpu(yc.begin(), yc.end());
        const auto y_gpu = gpu.forward(x, batch, mode);
        check_close(y_gpu, y_cpu);
    }
    const float l_cpu = cpu.loss(loss, t);
    const float l_gpu = gpu.loss(loss, t);
    CHECK(l_gpu == doctest::Approx(l_cpu).epsilon(2e-5));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients());
}

// The Fashion-MNIST example's architecture, at test-sized widths.
using ExampleNet = Sequential<Input<784>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
using SmallNet = Sequential<Input<13>, Dense<17>, ReLU, Dropout<0.25f>, Dense<5>>;
using DeepNet = Sequential<Input<9>, Dense<70>, GELU, Dense<33, NoBias>, Tanh, Dropout<0.5f>,
                           Dense<1>, Sigmoid>;
using SoftmaxNet = Sequential<Input<6>, Dense<12>, SiLU, Softmax, Dense<4>, LogSoftmax>;
using LeadingNet = Sequential<Input<2, 4>, Flatten, Tanh, Dense<3>, ELU<1.0f>>;
using MapNet = Sequential<Input<5>, Sigmoid, LeakyReLU<0.1f>>;

// Convolutions and pooling: padding, stride, dilation, groups, depthwise, no bias, overlapping
// and padded windows, a pool as the first stage, epilogues after each anchor.
using ConvNet = Sequential<Input<2, 7, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                           Conv2D<6, 3, Stride<2>, Padding<1>, NoBias>, Tanh, Flatten, Dense<3>>;
using GroupNet =
    Sequential<Input<4, 6, 6>, Conv2D<8, 3, Groups<2>, Dilation<2>, Padding<2>>, GELU,
               Conv2D<8, 3, Depthwise, Same>, Dropout<0.2f>, AvgPool2D<3, Stride<2>, Padding<1>>,
               SiLU, GlobalAvgPool, Flatten, Dense<2>>;
using PoolFirstNet = Sequential<Input<1, 5, 5>, MaxPool2D<3, Stride<1>>, Conv2D<2, 2>, Sigmoid,
                                MaxPool2D<2, Stride<1>>, Flatten, Dense<3>>;
// Rectangular kernels (Kernel{KH, KW}) of convolutions and both pools.
using RectNet = Sequential<Input<2, 6, 7>, Conv2D<4, Kernel{1, 3}, Same>, ReLU,
                           MaxPool2D<Kernel{2, 1}>, Conv2D<5, Kernel{3, 2}, Stride<1, 2>, NoBias>,
                           Tanh, AvgPool2D<Kernel{1, 2}, Stride<1>>, Flatten, Dense<3>>;
// Upsample: a small encoder-decoder (conv, pool, conv, upsample with an epilogue, conv), and an
// upsample as the first stage with a factor of 3.
using EncoderDecoderNet =
    Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<5, 3, Same>, Tanh,
               Upsample<2>, SiLU, Conv2D<2, 3, Same>>;
using UpsampleFirstNet =
    Sequential<Input<2, 2, 3>, Upsample<3>, Conv2D<3, 3, Stride<2>>, ReLU, Flatten, Dense<2>>;
using BilinearNet = Sequential<Input<2, 6, 5>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>,
                               Upsample<3, Bilinear>, Tanh, Conv2D<2, 3, Same>>;

template <class Net>
void run_tie_test() {
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(3);
    for (std::size_t i = 0; i < 4; ++i) cpu.parameters()[i] = 1.0f;
    std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
    const std::size_t batch = 3;
    std::vector<float> x(batch * Net::in_size);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * i) % 5 % 3);
    const std::vector<std::int32_t> labels = {0, 1, 1};
    (void)cpu.forward(x, batch, Mode::training);
    (void)gpu.forward(x, batch, Mode::training);
    CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, {labels}) ==
          doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, {labels})));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients());
}

// BatchNorm over images (after a convolution with and without an epilogue, as a first stage, with
// options), over 1-D features and over [C, L] samples; LayerNorm over features and images, first,
// middle and last. No Residual blocks. A layer right before a BatchNorm has no bias: BatchNorm
// removes it, so its gradient is rounding noise, which Adam's first steps (about lr * sign(g))
// would turn into different updates on the two backends.
using BnCnnNet =
    Sequential<Input<3, 6, 5>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, MaxPool2D<2>,
               Conv2D<6, 3, Padding<1>>, ReLU, BatchNormWith<0.3f, 1e-3f>, Tanh, Flatten, Dense<3>>;
using BnFirstNet =
    Sequential<Input<2, 4, 4>, BatchNorm, ReLU, Conv2D<3, 3, NoBias>, Flatten, BatchNorm, Dense<2>>;
using BnMlpNet = Sequential<Input<12>, Dense<16, NoBias>, BatchNorm, ReLU, Dropout<0.2f>,
                            Dense<8, NoBias>, BatchNormWith<0.05f, 1e-4f>, GELU, Dense<3>>;
using BnSeqNet = Sequential<Input<3, 7>, BatchNorm, Flatten, Dense<4>>;
using LnNet = Sequential<Input<10>, Dense<300>, LayerNorm, GELU, Dense<12>, Tanh,
                         LayerNormWith<1e-3f>, Dense<4>>;
using LnImageNet =
    Sequential<Input<2, 5, 5>, LayerNorm, Conv2D<3, 3>, ReLU, LayerNorm, Flatten, Dense<3>>;
using LnLastNet = Sequential<Input<7>, Dense<9>, Sigmoid, LayerNorm, Sigmoid>;
// No stage of this one folds into another in any mode (kernel counts below).
using NormCountNet =
    Sequential<Input<12>, Dense<16>, ReLU, BatchNorm, Dense<8>, LayerNorm, Tanh, Dense<3>>;

/// `steps` training steps (forward, loss, backward, SGD with momentum) of Net on both backends
/// from the same initialization: every output, loss and gradient, and the parameters and running
/// statistics after the steps, agree; then an inference pass (running statistics) and a backward
/// pass after it agree too. (SGD, not Adam: a normalization makes some gradients vanish up to
/// rounding, and Adam's early steps move such parameters by about lr * sign(g), which differs
/// between two correct float backends; the double-precision case below holds them to 1e-10.)
template <class Net, class L>
void check_norm_training(const L& loss, std::size_t batch, std::uint64_t seed, int steps) {
    CAPTURE(batch);
    CAPTURE(L::name());
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(seed);
    gpu.init(seed);
    const optim::SGD sgd{.lr = 1e-2f, .momentum = 0.9f};
    OptimizerState<optim::SGD> s_cpu(sgd, Net::param_count), s_gpu(sgd, Net::param_count);
    const auto labels = labels_for(batch, Net::out_size);
    const auto values = uniform(batch * Net::out_size, seed + 2, 0.0f, 1.0f);
    const loss::Targets<float> t{labels, values};
    for (int step = 0; step < steps; ++step) {
        CAPTURE(step);
        const auto x = uniform(batch * Net::in_size, seed + 10 + static_cast<std::uint64_t>(step),
                               -2.0f, 3.0f);
        const auto yc = cpu.forward(x, batch, Mode::training);
        const std::vector<float> y_cpu(yc.begin(), yc.end());
        check_close(gpu.forward(x, batch, Mode::training), y_cpu);
        CHECK(gpu.loss(loss, t) == doctest::Approx(cpu.loss(loss, t)).epsilon(2e-5));
        cpu.backward();
        gpu.backward();
        check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
        check_close(gpu.buffers(), cpu.buffers());
        cpu.update(s_cpu, 1e-2f);
        gpu.update(s_gpu, 1e-2f);
    }
    check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
    check_close(gpu.buffers(), cpu.buffers(), 1e-4, 1e-6);
    // Inference reads the running statistics; a backward pass after it differentiates that map.
    const auto x = uniform(batch * Net::in_size, seed + 99, -2.0f, 3.0f);
    const auto yc = cpu.forward(x, batch, Mode::inference);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    check_close(gpu.forward(x, batch, Mode::inference), y_cpu, 1e-4, 1e-6);
    CHECK(gpu.loss(loss, t) == doctest::Approx(cpu.loss(loss, t)).epsilon(1e-4));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
    check_close(gpu.buffers(), cpu.buffers(), 1e-4, 1e-6); // inference leaves them alone
}

// conv (no bias) + BatchNorm + ReLU, grouped conv (bias) + BatchNorm, depthwise conv + BatchNorm
// + SiLU, and Dense + BatchNorm pairs (with and without bias, BatchNorm last).
using FoldCnnNet = Sequential<Input<4, 5, 5>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU,
                              Conv2D<6, 3, Groups<2>, Padding<1>>, BatchNorm,
                              Conv2D<6, 3, Depthwise, Same, NoBias>, BatchNorm, SiLU, Flatten,
                              Dense<5>, BatchNorm, ReLU, Dense<3, NoBias>, BatchNorm>;

using ResidualNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                               Residual<Conv2D<4, 3, Same>, ReLU, Conv2D<4, 3, Same>>, ReLU,
                               MaxPool2D<2>, Flatten, Dense<3>>;
using InceptionNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                                Concat<Branch<Conv2D<3, 1>, ReLU>, Branch<Conv2D<2, 3, Same>, Tanh>,
                                       MaxPool2D<3, Stride<1>, Padding<1>>, Branch<>>,
                                ReLU, GlobalAvgPool, Flatten, Dense<3>>;
// Two identities, an elementwise-only branch (a stage without anchor that propagates) and a
// Dropout in the join's epilogue.
using AddNet =
    Sequential<Input<7>, Dense<8>, Tanh,
               Add<Branch<Dense<8>, ReLU>, Dense<8>, Branch<>, Branch<Sigmoid>, Branch<>>,
               Dropout<0.2f>, Dense<3>>;
// Branches reading the model input (no input gradient), a Concat of features.
using FromInputNet =
    Sequential<Input<6>, Concat<Dense<5>, Branch<Dense<3>, ReLU>, Branch<>>, Tanh, Dense<2>>;
// Nested blocks: a Concat in a Residual, an Add in a Branch, a Residual at the input.
using NestedNet =
    Sequential<Input<5>, Residual<Tanh>, Dense<6>, ReLU,
               Residual<Concat<Dense<2>, Branch<Dense<4>, Tanh>>, Dense<6>>,
               Add<Branch<Add<Branch<>, Dense<6>>, Tanh>, Branch<>, Branch<Dense<6>, SiLU>>,
               Dense<2>>;

// Normalizations first in a branch: their input gradient goes to the block's source (with its
// epilogue'), not to the stage before them.
using NormBranchNet =
    Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, Tanh,
               Concat<Conv2D<2, 1>, Branch<BatchNorm, ReLU>, Branch<LayerNorm, Sigmoid>>, Flatten,
               Dense<2>>;

// The body's last stage is a Conv2D without epilogue (the skip is stage 0's output).
using ResConvNet =
    Sequential<Input<2, 6, 6>, Conv2D<3, 3, Same>, ReLU,
               Residual<Conv2D<3, 3, Same>, ReLU, Conv2D<3, 3, Same>>, ReLU, Flatten, Dense<3>>;
// At the model input (the skip is the input), a Dense body with an epilogue, and a Dropout in the
// join's epilogue (the same mask in the fused store as in the join kernel).
using ResInputNet =
    Sequential<Input<6>, Residual<Dense<6>, Tanh>, ReLU, Dropout<0.3f>, Dense<8>, SiLU, Dense<2>>;
// Two computed branches (the other branch's output is added first), and a computed branch before
// an identity (the branch's value is added first).
using TwoBranchNet =
    Sequential<Input<5>, Dense<6>, Tanh, Add<Branch<Dense<6>, ReLU>, Branch<Dense<6>, Sigmoid>>,
               Add<Branch<Dense<6>, GELU>, Branch<>>, Dense<3>>;
// A ResNet block: Conv2D, BatchNorm, ReLU, Conv2D, BatchNorm, then the ReLU after the add. In
// inference the last BatchNorm folds into the convolution and the join follows in its store; in
// training the join keeps its kernel.
using ResBnNet = Sequential<
    Input<2, 5, 5>, Conv2D<4, 3, Same>, ReLU,
    Residual<Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, Conv2D<4, 3, Same, NoBias>, BatchNorm>,
    ReLU, Flatten, Dense<3>>;
// Must not fuse: a body ending in a LayerNorm (no GEMM), three branches, a Concat, and a body
// ending in an elementwise-only stage after a Dense stage.
using NoFuseNet =
    Sequential<Input<2, 4, 4>, Conv2D<2, 3, Same>, Tanh, Residual<Conv2D<2, 3, Same>, LayerNorm>,
               Flatten, Dense<4>, Add<Branch<Dense<4>, ReLU>, Dense<4>, Branch<Sigmoid>>,
               Concat<Dense<3>, Branch<>>, Residual<Dense<7>, ReLU, Residual<Tanh>>, Dense<2>>;

/// As the fold test: parameters and running statistics trained on the CPU, then an inference
/// forward of Net on CUDA with BatchNorms folded and the stages after them in the same store, its
/// loss and the backward pass after it, against the CPU; and the launches of both passes.
template <class Net>
void check_inference_after_training(std::uint64_t seed) {
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(seed);
    OptimizerState<optim::Adam> state(optim::Adam{.lr = 5e-2f}, Net::param_count);
    const auto labels = labels_for(6, Net::out_size);
    for (std::uint64_t step = 0; step < 3; ++step) {
        const auto xs = uniform(6 * Net::in_size, seed + 1 + step, -2.0f, 3.0f);
        (void)cpu.forward(xs, 6, Mode::training);
        (void)cpu.loss(loss::SoftmaxCrossEntropy{}, {labels});
        cpu.backward();
        cpu.update(state, 5e-2f);
    }
    std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
    {
        const auto b = cpu.buffers();
        std::copy(b.begin(), b.end(), gpu.buffers().begin());
    }
    const std::size_t batch = 4;
    const auto xi = uniform(batch * Net::in_size, seed + 4, -2.0f, 3.0f);
    const auto yc = cpu.forward(xi, batch, Mode::inference);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    gpu.reserve(batch);
    cuda::reset_launch_count();
    const auto yg = gpu.forward(xi, batch, Mode::inference);
    CHECK(cuda::launch_count() == kernel_schedule<Net>::forward_inference);
    check_close(yg, y_cpu);
    const loss::Targets<float> t{std::span(labels).first(batch)};
    CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, t) ==
          doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, t)).epsilon(2e-5));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
    cuda::reset_launch_count();
    (void)gpu.forward(xi, batch, Mode::training);
    CHECK(cuda::launch_count() == kernel_schedule<Net>::forward);
}

// conv, ReLU, Dropout | max pool, Tanh (fused; 16 windows per map) | grouped conv (no bias, no
// epilogue) | avg pool (fused; 4 windows per map: partial 64-row tiles) | dense.
using PoolFuseNet =
    Sequential<Input<2, 8, 8>, Conv2D<4, 3, Same>, ReLU, Dropout<0.2f>, MaxPool2D<2>, Tanh,
               Conv2D<4, 3, Groups<2>, Same, NoBias>, AvgPool2D<2>, Flatten, Dense<3>>;
// Must not fuse: a pool at the input, overlapping windows, a pool after a BatchNorm, a padded
// pool over an odd map.
using PoolNoFuseNet =
    Sequential<Input<2, 12, 12>, MaxPool2D<2>, Conv2D<3, 3, Same>, ReLU,
               MaxPool2D<3, Stride<1>, Padding<1>>, Conv2D<3, 3, Same>, BatchNorm, Tanh,
               MaxPool2D<2>, Conv2D<2, 1>, MaxPool2D<2, Padding<1>>, Flatten, Dense<2>>;
// The Fashion-MNIST CNN example at test width.
using CnnExampleNet =
    Sequential<Input<1, 12, 12>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<6, 3, Same>, ReLU,
               MaxPool2D<2>, Flatten, Dense<8>, ReLU, Dropout<0.3f>, Dense<3>>;

/// conv_pool_forward against conv_forward followed by pool_forward on the first two stages of
/// Net (a Conv2D stage and the pooling stage that fuses into it). Both GEMMs sum each output over
/// k in the same order, and the pooling repeats pool_forward's operations, so every stored value
/// (the convolution's Z and Y, the pooling's Z and Y) must be equal to the bit.
template <class Net>
void check_conv_pool_bits(std::size_t batch, std::uint64_t seed) {
    using St = stages_of<Net>;
    using C = ctnn::detail::stage_at<St, 0>;
    using P = ctnn::detail::stage_at<St, 1>;
    static_assert(pool_fuses_into_previous<St, 1>);
    using Shape = cuda::detail::conv_shape_of<typename C::anchor>;
    using Geo = typename P::anchor::bound;
    constexpr bool max = P::anchor::layer::op == PoolOp::max;
    CAPTURE(batch);
    const auto x = uniform(batch * Shape::in_size, seed, -2.0f, 2.0f);
    const auto w = uniform(std::size_t{Shape::og} * Shape::groups * Shape::taps, seed + 1);
    const auto b = uniform(std::size_t{Shape::og} * Shape::groups, seed + 2);
    const std::size_t n = batch * Shape::out_size, np = batch * P::out_size;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> z1(n, nan), y1(n, nan), z2(n, nan), y2(n, nan);
    std::vector<float> pz1(np, nan), py1(np, nan), pz2(np, nan), py2(np, nan);
    ElemCtx ctx{};
    ctx.seed = seed;
    ctx.step = 3;
    ctx.training = true; // Dropout in an epilogue draws its mask
    const float* bias = C::anchor::layer::has_bias ? b.data() : nullptr;
    cuda::conv_forward<Shape, typename C::epilogue>(x.data(), w.data(), bias, z1.data(), y1.data(),
                                                    batch, ctx);
    cuda::pool_forward<Geo, max, typename P::epilogue>(
        C::epilogue::size > 0 ? y1.data() : z1.data(), pz1.data(), py1.data(), batch, ctx);
    cuda::reset_launch_count();
    cuda::conv_pool_forward<Shape, typename C::epilogue, Geo, max, typename P::epilogue>(
        x.data(), w.data(), bias, z2.data(), y2.data(), pz2.data(), py2.data(), batch, ctx);
    CHECK(cuda::launch_count() == 1);
    auto same = [](const std::vector<float>& got, const std::vector<float>& want) {
        std::size_t bad = 0;
        for (std::size_t i = 0; i < got.size(); ++i)
            if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) ++bad;
        return bad;
    };
    CHECK(same(z2, z1) == 0);
    CHECK(same(y2, y1) == 0);
    CHECK(same(pz2, pz1) == 0);
    CHECK(same(py2, py1) == 0);
}

// VGG-style blocks: Conv2D, BatchNorm, ReLU, MaxPool2D<2> and Conv2D, BatchNorm, AvgPool2D<2>,
// Tanh. In inference each BatchNorm folds into its convolution and the pooling follows in the
// same store; in training both keep their kernels (the BatchNorm needs batch statistics first).
using BnPoolNet =
    Sequential<Input<2, 8, 8>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, MaxPool2D<2>,
               Conv2D<4, 3, Same, NoBias>, BatchNorm, AvgPool2D<2>, Tanh, Flatten, Dense<3>>;

/// input_gradient of Net on both backends from the same parameters, in `mode`.
template <class Net, class L>
void check_input_grad(const L& l, std::size_t batch, std::uint64_t seed,
                      Mode mode = Mode::inference) {
    CAPTURE(batch);
    CAPTURE(seed);
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(seed);
    gpu.init(seed);
    const StepData<Net> data(batch, seed);
    const auto& x = data.x;
    const loss::Targets<float> t = data.targets();
    const auto want = cpu.input_gradient(x, l, t, mode);
    const auto got = gpu.input_gradient(x, l, t, mode);
    REQUIRE(got.size() == x.size());
    check_close(got, want);
    double norm = 0;
    for (float v : want) norm += double(v) * v;
    CHECK(norm > 0);
    CHECK(gpu.step() == cpu.step());
}

} // namespace ctnn::test::cuda_checks
