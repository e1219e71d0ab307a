// Models on device::cuda(), run by host execution of the CUDA kernels, against the same models on
// the CPU (Eigen): forward, loss, backward and updates of several model types and batch sizes;
// kernel counts of a forward pass and of a training step; a 20-step training run; save/load and
// moving between devices; out-of-memory; errors.
//
// Tolerances: both backends run the same expressions in float, but the GEMMs sum in different
// orders (Eigen's blocked kernels vs the tiled CUDA GEMM), so values agree to a few float
// rounding errors of the dot products: relative 2e-5 plus an absolute 1e-6 floor
// (check_close); over 20 Adam steps the losses agree within 1e-4 relative.
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

using namespace ctnn;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
    const char* dir = std::getenv("CTNN_TEST_TMPDIR");
    return (dir ? fs::path(dir) : fs::temp_directory_path()) / name;
}

std::vector<float> uniform(std::size_t n, std::uint64_t stream, float lo = -1.0f, float hi = 1.0f) {
    const CounterRng rng{42, stream};
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rng.uniform(i);
    return v;
}

std::vector<std::int32_t> labels_for(std::size_t batch, std::size_t classes) {
    std::vector<std::int32_t> l(batch);
    for (std::size_t b = 0; b < batch; ++b) l[b] = static_cast<std::int32_t>((b * 7 + 3) % classes);
    return l;
}

void check_close(std::span<const float> got, std::span<const float> want, double rel = 2e-5,
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

/// One training-mode forward, loss and backward of Net on both backends from the same
/// parameters; outputs, loss and gradients must agree. Returns nothing; CHECKs inside.
template <class Net, class L>
void check_step(const L& loss, std::size_t batch, std::uint64_t seed) {
    CAPTURE(batch);
    CAPTURE(L::name());
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(seed);
    gpu.init(seed);
    const auto x = uniform(batch * Net::in_size, seed + 1, -2.0f, 2.0f);
    const auto labels = labels_for(batch, Net::out_size);
    const auto values = uniform(batch * Net::out_size, seed + 2, 0.0f, 1.0f);
    loss::Targets<float> t{labels.data(), values.data()};

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
using DeepNet =
    Sequential<Input<9>, Dense<70>, GELU, Dense<33, false>, Tanh, Dropout<0.5f>, Dense<1>, Sigmoid>;
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
// Upsample: a small encoder-decoder (conv, pool, conv, upsample with an epilogue, conv), and an
// upsample as the first stage with a factor of 3.
using EncoderDecoderNet =
    Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<5, 3, Same>, Tanh,
               Upsample<2>, SiLU, Conv2D<2, 3, Same>>;
using UpsampleFirstNet =
    Sequential<Input<2, 2, 3>, Upsample<3>, Conv2D<3, 3, Stride<2>>, ReLU, Flatten, Dense<2>>;
using BilinearNet = Sequential<Input<2, 6, 5>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>,
                               Upsample<3, Bilinear>, Tanh, Conv2D<2, 3, Same>>;

} // namespace

TEST_CASE("LogSoftmax of large equal inputs is -log(n) on CUDA as on the CPU") {
    // The rowwise kernel computes (x - m) - log(s); x - (m + log(s)) gave 0 for logits of 1e30.
    Model<Sequential<Input<3>, LogSoftmax>> gpu(device::cuda());
    const std::vector<float> x{1e30f, 1e30f, 1e30f, -1e30f, -1e30f, -1e30f};
    const auto y = gpu.forward(x, 2);
    for (const float v : y) CHECK(v == doctest::Approx(-std::log(3.0f)));
}

TEST_CASE("convolution and pooling stages on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
        check_step<ConvNet>(loss::SoftmaxCrossEntropy{}, batch, 41);
        check_step<GroupNet>(loss::MSE{}, batch, 42);
        check_step<PoolFirstNet>(loss::SoftmaxCrossEntropy{}, batch, 43);
    }
    // conv: 1 forward; dW (+db) and dX backward; pool: 1 forward, dX backward.
    static_assert(kernel_schedule<ConvNet>::forward == 4);
    static_assert(kernel_schedule<ConvNet>::backward == 2 + 2 + 1 + 1);
    static_assert(kernel_schedule<PoolFirstNet>::backward == 2 + 1 + 1);
}

TEST_CASE("upsampling stages on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{4}}) {
        check_step<EncoderDecoderNet>(loss::MSE{}, batch, 44);
        check_step<UpsampleFirstNet>(loss::SoftmaxCrossEntropy{}, batch, 45);
        check_step<BilinearNet>(loss::MSE{}, batch, 46);
    }
    // upsample: 1 forward (epilogue fused); 1 backward (dX, previous epilogue' fused), none when
    // it is the first stage.
    static_assert(kernel_schedule<EncoderDecoderNet>::forward == 5 - 1); // the pool: in k0
    static_assert(kernel_schedule<EncoderDecoderNet>::backward == 1 + 2 + 1 + 2 + 1);
    static_assert(kernel_schedule<UpsampleFirstNet>::backward == 2 + 1);
    Model<EncoderDecoderNet> m(device::cuda());
    m.init(3);
    const auto x = uniform(2 * EncoderDecoderNet::in_size, 9);
    const auto t = uniform(2 * EncoderDecoderNet::out_size, 10);
    m.reserve(2);
    cuda::reset_launch_count();
    (void)m.forward(x, 2, Mode::training);
    (void)m.loss(loss::MSE{}, {nullptr, t.data()});
    m.backward();
    CHECK(cuda::launch_count() == 4 + 1 + 7);
}

namespace {
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
    CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, {labels.data(), nullptr}) ==
          doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, {labels.data(), nullptr})));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients());
}
} // namespace

TEST_CASE("max pooling breaks ties as the CPU does (first maximum in row-major order)") {
    // A 2x2 convolution with weights 1 turns small integer inputs into exact integer sums, so
    // overlapping pooling windows hold ties; which tied value gets the gradient changes dW (the
    // inputs under the chosen position differ), so the two backends must choose alike.
    // Overlapping windows (a pooling kernel), and 2 x 2 windows tiling a 4 x 6 map (pooling in
    // the convolution's store).
    run_tie_test<Sequential<Input<1, 5, 6>, Conv2D<1, 2, NoBias>, MaxPool2D<2, Stride<1>>, Flatten,
                            Dense<2>>>();
    using Fused = Sequential<Input<1, 5, 7>, Conv2D<1, 2, NoBias>, MaxPool2D<2>, Flatten, Dense<2>>;
    static_assert(pool_fuses_into_previous<stages_of<Fused>, 1>);
    run_tie_test<Fused>();
}

TEST_CASE("forward, loss and backward on CUDA equal the CPU for several models and batches") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{7}, std::size_t{70}}) {
        check_step<SmallNet>(loss::SoftmaxCrossEntropy{}, batch, 11);
        check_step<DeepNet>(loss::MSE{}, batch, 12);
        check_step<DeepNet>(loss::BCEWithLogits{}, batch, 13);
        check_step<SoftmaxNet>(loss::L1{}, batch, 14);
        check_step<SoftmaxNet>(loss::Huber{.delta = 0.05f}, batch, 15);
        check_step<SoftmaxNet>(loss::NLLLoss{}, batch, 16);
        check_step<LeadingNet>(loss::MSE{}, batch, 16);
    }
}

TEST_CASE("the example's architecture agrees at full width (batch 3)") {
    check_step<ExampleNet>(loss::SoftmaxCrossEntropy{}, 3, 21);
}

TEST_CASE("a model without parameters runs forward and loss on CUDA") {
    check_step<MapNet>(loss::MSE{}, 9, 31);
}

TEST_CASE("kernel counts: one kernel per stage forward, 7 for the example's training step") {
    using K = kernel_schedule<ExampleNet>;
    static_assert(K::cuda_supported);
    static_assert(K::forward == 2 && K::loss == 1 && K::backward == 3 && K::optimizer == 1);
    static_assert(K::training_step == 7);
    static_assert(kernel_schedule<DeepNet>::forward == 3 &&
                  kernel_schedule<DeepNet>::backward == 5);
    // Softmax(no params) -> its backward is needed because Dense<12> precedes it.
    static_assert(kernel_schedule<SoftmaxNet>::forward == 4 &&
                  kernel_schedule<SoftmaxNet>::backward == 1 + 1 + 1 + 1 + 1);
    // A leading Tanh stage has nothing to propagate to.
    static_assert(kernel_schedule<LeadingNet>::forward == 2 &&
                  kernel_schedule<LeadingNet>::backward == 1);
    static_assert(kernel_schedule<MapNet>::training_step == 2);

    auto count_step = [&]<class Net, class L>(std::type_identity<Net>, const L& loss) {
        using S = kernel_schedule<Net>;
        Model<Net> m(device::cuda());
        m.init(5);
        const std::size_t batch = 4;
        const auto x = uniform(batch * Net::in_size, 3);
        const auto labels = labels_for(batch, Net::out_size);
        const auto values = uniform(batch * Net::out_size, 4);
        OptimizerState<optim::Adam> state(optim::Adam{}, Net::param_count);
        m.reserve(batch);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::inference);
        CHECK(cuda::launch_count() == S::forward_inference);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::training);
        CHECK(cuda::launch_count() == S::forward);
        (void)m.loss(loss, {labels.data(), values.data()});
        CHECK(cuda::launch_count() == S::forward + S::loss);
        m.backward();
        CHECK(cuda::launch_count() == S::forward + S::loss + S::backward);
        if constexpr (Net::param_count > 0) m.update(state, 1e-3f);
        CHECK(cuda::launch_count() == S::training_step);
        return cuda::launch_count();
    };
    CHECK(count_step(std::type_identity<SmallNet>{}, loss::SoftmaxCrossEntropy{}) == 7);
    CHECK(count_step(std::type_identity<DeepNet>{}, loss::MSE{}) == 3 + 1 + 5 + 1);
    CHECK(count_step(std::type_identity<SoftmaxNet>{}, loss::L1{}) == 4 + 1 + 5 + 1);
    CHECK(count_step(std::type_identity<LeadingNet>{}, loss::MSE{}) == 2 + 1 + 1 + 1);
}

TEST_CASE("describe() lists the CUDA kernels of a pass and of a training step") {
    const std::string d = describe<ExampleNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 2") != std::string::npos);
    CHECK(d.find("k0 stage 0: gemm      Z = X W^T [784 -> 256], fused: bias, ReLU, "
                 "Dropout(0.2)") != std::string::npos);
    CHECK(d.find("k1 stage 1: gemm      Z = X W^T [256 -> 10], fused: bias") != std::string::npos);
    CHECK(d.find("cuda kernels, backward: 3") != std::string::npos);
    CHECK(d.find("stage 1: gemm dW = dZ^T X, db = sum(dZ) as a ones column | gemm dX = dZ W x "
                 "epilogue'(stage 0)") != std::string::npos);
    CHECK(d.find("cuda kernels, training step: 7 = forward 2 + loss 1") != std::string::npos);
    CHECK(d.find("backward 3 + optimizer 1") != std::string::npos);
}

TEST_CASE("20 training steps on CUDA follow the CPU run step for step") {
    using Net = Sequential<Input<10>, Dense<24>, ReLU, Dropout<0.1f>, Dense<16>, Tanh, Dense<3>>;
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(77);
    gpu.init(77);
    OptimizerState<optim::Adam> s_cpu(optim::Adam{}, Net::param_count),
        s_gpu(optim::Adam{}, Net::param_count);
    const std::size_t batch = 16;
    for (int step = 0; step < 24; ++step) {
        CAPTURE(step);
        const auto x = uniform(batch * 10, 1000 + static_cast<std::uint64_t>(step));
        const auto labels = labels_for(batch + static_cast<std::size_t>(step), 3);
        const loss::Targets<float> t{labels.data() + step, nullptr};
        (void)cpu.forward(x, batch, Mode::training);
        (void)gpu.forward(x, batch, Mode::training);
        const float lc = cpu.loss(loss::SoftmaxCrossEntropy{}, t);
        const float lg = gpu.loss(loss::SoftmaxCrossEntropy{}, t);
        CHECK(lg == doctest::Approx(lc).epsilon(1e-4));
        cpu.backward();
        gpu.backward();
        cpu.update(s_cpu, 1e-2f);
        gpu.update(s_gpu, 1e-2f);
    }
    check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
    // The optimizer state comes back from the device on request.
    gpu.read_state(s_gpu);
    cpu.read_state(s_cpu);
    check_close(s_gpu.m, s_cpu.m, 1e-3, 1e-7);
    check_close(s_gpu.v, s_cpu.v, 1e-3, 1e-9);
}

TEST_CASE("train() and evaluate() run a CUDA model (XOR)") {
    using Net = Sequential<Input<2>, Dense<8>, Tanh, Dense<2>>;
    Dataset d;
    d.feature_count = 2;
    d.features = {0, 0, 0, 1, 1, 0, 1, 1};
    d.labels = {0, 1, 1, 0};
    Model<Net> m(device::cuda());
    m.init(3);
    std::ostringstream quiet;
    TrainOptions o;
    o.epochs = 150;
    o.batch = 4;
    o.progress = Progress::silent;
    o.out = &quiet;
    (void)train(m, d, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 0.05f}, o);
    const Evaluation e = evaluate(m, d, loss::SoftmaxCrossEntropy{});
    CHECK(e.accuracy == 1.0);
    CHECK(e.loss < 0.1);
}

TEST_CASE("parameters move between host and device: writes, save/load, to()") {
    Model<SmallNet> gpu(device::cuda()), cpu(device::cpu());
    gpu.init(9);
    const auto x = uniform(3 * 13, 5);
    // A host write through parameters() reaches the device before the next forward.
    auto p = gpu.parameters();
    p[0] += 1.0f;
    p[p.size() - 1] -= 2.0f;
    std::copy(p.begin(), p.end(), cpu.parameters().begin());
    const auto yc = cpu.forward(x, 3);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    check_close(gpu.forward(x, 3), y_cpu);

    // A copy is a second model on the same device with the same parameters.
    const Model<SmallNet> copy = gpu;
    CHECK(copy.device() == device::cuda());
    Model<SmallNet> copy2(device::cpu());
    copy2 = copy;
    CHECK(copy2.device() == device::cuda());
    check_close(copy2.forward(x, 3), y_cpu);

    // Saved from the device, loaded on the CPU (and back): the same function.
    const fs::path file = scratch("cuda_model_roundtrip.safetensors");
    gpu.save(file);
    Model<SmallNet> loaded(device::cpu());
    loaded.load(file);
    check_close(loaded.forward(x, 3), y_cpu, 0, 0);
    Model<SmallNet> gpu2(device::cuda());
    gpu2.load(file);
    check_close(gpu2.forward(x, 3), y_cpu);

    // to(): cpu -> cuda -> cpu keeps the parameters bit for bit.
    Model<SmallNet> mover(device::cpu());
    mover.init(9);
    const std::vector<float> before(mover.parameters().begin(), mover.parameters().end());
    mover.to(device::cuda());
    CHECK(mover.device() == device::cuda());
    mover.to(device::cpu());
    CHECK(mover.device() == device::cpu());
    CHECK(std::equal(before.begin(), before.end(), mover.parameters().begin()));
}

TEST_CASE("out of device memory throws cuda_error and leaks nothing") {
    CHECK(cuda::host::memory_in_use() == 0);
    {
        Model<SmallNet> m(device::cuda());
        m.init(1);
        const std::size_t held = cuda::host::memory_in_use();
        CHECK(held > 0);
        cuda::host::set_memory_limit(held + 4096);
        try {
            m.reserve(100000);
            FAIL("reserve beyond the memory limit did not throw");
        } catch (const cuda_error& e) {
            CHECK(e.error_name() == "cudaErrorMemoryAllocation");
            CHECK(std::string(e.what()).find("out of memory") != std::string::npos);
        }
        CHECK(cuda::host::memory_in_use() == held); // the failed reserve freed what it took
        cuda::host::set_memory_limit();
        // The model still works after the failure.
        const auto x = uniform(2 * 13, 1);
        Model<SmallNet> ref(device::cpu());
        ref.init(1);
        const auto yr = ref.forward(x, 2);
        const std::vector<float> y_ref(yr.begin(), yr.end());
        check_close(m.forward(x, 2), y_ref);

        cuda::host::set_memory_limit(cuda::host::memory_in_use() + 100);
        CHECK_THROWS_AS(Model<ExampleNet>(device::cuda()), cuda_error);
        cuda::host::set_memory_limit();
    }
    CHECK(cuda::host::memory_in_use() == 0);
}

TEST_CASE("bad devices, labels and batches are errors that name the problem") {
    CHECK_THROWS_WITH_AS(Model<SmallNet>(device::cuda(1)),
                         doctest::Contains("cuda:1 (host execution) is not available"),
                         argument_error);
    CHECK(device::best() == device::cpu()); // host execution is never chosen by best()
    Model<SmallNet> m(device::cuda());
    m.init(2);
    const auto x = uniform(2 * 13, 1);
    (void)m.forward(x, 2, Mode::training);
    const std::vector<std::int32_t> bad = {1, 5};
    CHECK_THROWS_WITH_AS(m.loss(loss::SoftmaxCrossEntropy{}, {bad.data(), nullptr}),
                         doctest::Contains("label 5 of sample 1 is outside [0, 5)"),
                         argument_error);
    CHECK_THROWS_AS(m.forward(std::span<const float>(x.data(), 5), 2), shape_error);
}

// --- BatchNorm and LayerNorm ---------------------------------------------------------------------

namespace {

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
using BnMlpNet = Sequential<Input<12>, Dense<16, false>, BatchNorm, ReLU, Dropout<0.2f>,
                            Dense<8, false>, BatchNormWith<0.05f, 1e-4f>, GELU, Dense<3>>;
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
    const loss::Targets<float> t{labels.data(), values.data()};
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

} // namespace

TEST_CASE("BatchNorm on CUDA equals the CPU: images, features, [C, L], options, first stage") {
    // (Batches of 3 and more: with 2 samples a 1-D BatchNorm's input gradient is a difference of
    // nearly equal terms, zero up to eps, and its float rounding is all that is left.)
    for (const std::size_t batch : {std::size_t{3}, std::size_t{13}}) {
        check_step<BnCnnNet>(loss::SoftmaxCrossEntropy{}, batch, 51);
        check_step<BnFirstNet>(loss::MSE{}, batch, 52);
        check_step<BnMlpNet>(loss::SoftmaxCrossEntropy{}, batch, 53);
        check_step<BnSeqNet>(loss::Huber{}, batch, 54);
    }
    // A batch of 70 images of 6 x 5 gives 2100 values per channel: the block loops stride.
    check_step<BnCnnNet>(loss::SoftmaxCrossEntropy{}, 70, 55);
    check_step<BnMlpNet>(loss::SoftmaxCrossEntropy{}, 300, 56);
}

TEST_CASE("LayerNorm on CUDA equals the CPU: features, images, first, middle and last stage") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{6}}) {
        check_step<LnNet>(loss::SoftmaxCrossEntropy{}, batch, 61);
        check_step<LnImageNet>(loss::MSE{}, batch, 62);
        check_step<LnLastNet>(loss::BCEWithLogits{}, batch, 63);
    }
    check_step<LnNet>(loss::L1{}, 40, 64);
}

TEST_CASE("training with BatchNorm and LayerNorm on CUDA follows the CPU step for step") {
    check_norm_training<BnCnnNet>(loss::SoftmaxCrossEntropy{}, 9, 71, 6);
    check_norm_training<BnFirstNet>(loss::MSE{}, 5, 72, 4);
    check_norm_training<BnMlpNet>(loss::SoftmaxCrossEntropy{}, 16, 73, 6);
    check_norm_training<BnSeqNet>(loss::MSE{}, 3, 74, 4);
    check_norm_training<LnNet>(loss::SoftmaxCrossEntropy{}, 8, 75, 4);
    check_norm_training<LnImageNet>(loss::MSE{}, 4, 76, 4);
    check_norm_training<NormCountNet>(loss::SoftmaxCrossEntropy{}, 10, 77, 6);
}

TEST_CASE("BatchNorm and LayerNorm on CUDA equal the CPU in double precision (1e-10)") {
    // In double, rounding no longer hides a wrong formula: outputs, gradients, parameters and
    // running statistics after several SGD steps agree to 1e-10.
    auto run = [&]<class Net>(std::type_identity<Net>, std::size_t batch) {
        CAPTURE(batch);
        Model<Net, double> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(91);
        gpu.init(91);
        OptimizerState<optim::SGD, double> s_cpu(optim::SGD{.lr = 0.05f, .momentum = 0.9f},
                                                 Net::param_count),
            s_gpu(optim::SGD{.lr = 0.05f, .momentum = 0.9f}, Net::param_count);
        const auto labels = labels_for(batch, Net::out_size);
        auto near = [](std::span<const double> a, std::span<const double> b) {
            REQUIRE(a.size() == b.size());
            double worst = 0;
            for (std::size_t i = 0; i < a.size(); ++i)
                worst = std::max(worst, std::fabs(a[i] - b[i]) / (1e-3 + std::fabs(b[i])));
            return worst;
        };
        for (int step = 0; step < 5; ++step) {
            const auto xf =
                uniform(batch * Net::in_size, 300 + static_cast<std::uint64_t>(step), -2.0f, 3.0f);
            const std::vector<double> x(xf.begin(), xf.end());
            const Mode mode = step == 4 ? Mode::inference : Mode::training;
            const auto yc = cpu.forward(x, batch, mode);
            const std::vector<double> y_cpu(yc.begin(), yc.end());
            CHECK(near(gpu.forward(x, batch, mode), y_cpu) < 1e-10);
            const loss::Targets<double> t{labels.data(), nullptr};
            CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, t) ==
                  doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, t)).epsilon(1e-12));
            cpu.backward();
            gpu.backward();
            CHECK(near(gpu.gradients(), cpu.gradients()) < 1e-10);
            cpu.update(s_cpu, 0.05f);
            gpu.update(s_gpu, 0.05f);
        }
        CHECK(near(gpu.parameters(), cpu.parameters()) < 1e-10);
        CHECK(near(gpu.buffers(), cpu.buffers()) < 1e-10);
    };
    run(std::type_identity<BnCnnNet>{}, 5);
    run(std::type_identity<NormCountNet>{}, 7);
    run(std::type_identity<LnImageNet>{}, 3);
}

TEST_CASE("BatchNorm on CUDA: running statistics as PyTorch's, and a batch of one is refused") {
    // The formula test of tests/unit/norm.cpp, on the device.
    using Net = Sequential<Input<2, 1, 3>, BatchNorm>;
    Model<Net> m(device::cuda());
    m.init(0);
    m.parameters()[0] = 2.0f;
    m.parameters()[3] = 0.5f;
    const std::vector<float> x{1, 2, 3, 10, 10, 10, /* sample 2 */ 4, 5, 6, 10, 10, 16};
    const auto y = m.forward(x, 2, Mode::training);
    const double inv0 = 1 / std::sqrt(35.0 / 12 + 1e-5);
    CHECK(y[0] == doctest::Approx(2 * (1 - 3.5) * inv0));
    CHECK(y[3] == doctest::Approx((10 - 11) / std::sqrt(5 + 1e-5) + 0.5));
    {
        const auto buf = m.buffers();
        CHECK(buf[0] == doctest::Approx(0.1 * 3.5));
        CHECK(buf[1] == doctest::Approx(0.1 * 11));
        CHECK(buf[2] == doctest::Approx(0.9 + 0.1 * 3.5)); // unbiased: 35/12 * 6/5
        CHECK(buf[3] == doctest::Approx(0.9 + 0.1 * 6.0));
        CHECK(buf[4] == 1.0f); // num_batches_tracked
    }
    (void)m.forward(x, 2, Mode::training);
    CHECK(m.buffers()[0] == doctest::Approx(0.9 * 0.35 + 0.35));
    CHECK(m.buffers()[4] == 2.0f);
    (void)m.forward(x, 2, Mode::inference); // inference leaves the statistics alone
    CHECK(m.buffers()[4] == 2.0f);

    Model<BnMlpNet> one(device::cuda());
    one.init(1);
    const auto x1 = uniform(BnMlpNet::in_size, 2);
    CHECK_THROWS_WITH_AS(one.forward(x1, 1, Mode::training),
                         doctest::Contains("needs more than one value per channel"),
                         argument_error);
    CHECK(one.forward(x1, 1, Mode::inference).size() == 3);
    // An image BatchNorm has H x W values per channel even in a batch of one.
    check_step<BnCnnNet>(loss::SoftmaxCrossEntropy{}, 1, 57);
}

TEST_CASE("kernel counts of BatchNorm and LayerNorm stages") {
    using K = kernel_schedule<NormCountNet>;
    static_assert(K::cuda_supported && kernel_schedule<BnCnnNet>::cuda_supported &&
                  kernel_schedule<LnImageNet>::cuda_supported);
    // dense+ReLU | BatchNorm | dense | LayerNorm+Tanh | dense: one kernel each forward.
    static_assert(K::forward == 5);
    // dense: dW, dX; LayerNorm: rows (dX), columns (dw, db); dense: dW, dX; BatchNorm: one
    // kernel (dgamma, dbeta, dX); the first dense: dW only.
    static_assert(K::backward_kernels[3] == 2 && K::backward_kernels[1] == 1);
    static_assert(K::backward == 2 + 2 + 2 + 1 + 1);
    static_assert(K::training_step == 5 + 1 + 8 + 1);
    // A first-stage BatchNorm or LayerNorm still computes its parameter gradients.
    static_assert(kernel_schedule<BnFirstNet>::backward_kernels[0] == 1);
    static_assert(kernel_schedule<LnImageNet>::backward_kernels[0] == 2);

    Model<NormCountNet> m(device::cuda());
    m.init(5);
    const std::size_t batch = 4;
    const auto x = uniform(batch * NormCountNet::in_size, 3);
    const auto labels = labels_for(batch, NormCountNet::out_size);
    OptimizerState<optim::Adam> state(optim::Adam{}, NormCountNet::param_count);
    m.reserve(batch);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::inference);
    CHECK(cuda::launch_count() == K::forward);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::training);
    CHECK(cuda::launch_count() == K::forward);
    (void)m.loss(loss::SoftmaxCrossEntropy{}, {labels.data(), nullptr});
    m.backward();
    CHECK(cuda::launch_count() == K::forward + K::loss + K::backward);
    m.update(state, 1e-3f);
    CHECK(cuda::launch_count() == 15);
    (void)m.buffers(); // reading the statistics back is a copy, not a kernel
    CHECK(cuda::launch_count() == 15);
}

TEST_CASE("describe() lists the BatchNorm and LayerNorm kernels") {
    const std::string d = describe<NormCountNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 5") != std::string::npos);
    CHECK(d.find("k1 stage 1: batchnorm BatchNorm [16] per channel") != std::string::npos);
    CHECK(d.find("k3 stage 3: layernorm LayerNorm [8] per sample, fused: Tanh") !=
          std::string::npos);
    CHECK(d.find("stage 3: LayerNorm backward rows: statistics, dX x epilogue'(stage 2) | "
                 "LayerNorm backward columns: dweight, dbias") != std::string::npos);
    CHECK(d.find("stage 1: BatchNorm backward: dgamma, dbeta (per-channel sums), dX x "
                 "epilogue'(stage 0)") != std::string::npos);
    CHECK(d.find("cuda kernels, training step: 15") != std::string::npos);
    const std::string first = describe<BnFirstNet>();
    CHECK(first.find("stage 0: BatchNorm backward: dgamma, dbeta (per-channel sums)\n") !=
          std::string::npos);
}

TEST_CASE("buffers on CUDA: read back, written through, saved, loaded, moved and copied") {
    using Net = BnCnnNet;
    const std::size_t batch = 6;
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(81);
    gpu.init(81);
    auto train_both = [&](int steps) {
        for (int s = 0; s < steps; ++s) {
            const auto x = uniform(batch * Net::in_size, 500 + static_cast<std::uint64_t>(s));
            (void)cpu.forward(x, batch, Mode::training);
            (void)gpu.forward(x, batch, Mode::training);
        }
    };
    train_both(3);
    const std::vector<float> trained(gpu.buffers().begin(), gpu.buffers().end());
    check_close(trained, cpu.buffers());
    CHECK(trained[2 * 4] == 3.0f); // num_batches_tracked of the first BatchNorm
    const auto x = uniform(batch * Net::in_size, 900);
    auto infer = [&](Model<Net>& m) {
        const auto y = m.forward(x, batch, Mode::inference);
        return std::vector<float>(y.begin(), y.end());
    };
    const std::vector<float> y_trained = infer(cpu);
    check_close(infer(gpu), y_trained);

    // A write through buffers() reaches the device before the next pass.
    cpu.buffers()[0] += 0.5f;
    gpu.buffers()[0] += 0.5f;
    cpu.buffers()[4 + 1] *= 3.0f;
    gpu.buffers()[4 + 1] *= 3.0f;
    const std::vector<float> y_written = infer(cpu);
    check_close(infer(gpu), y_written);

    // Copies take the device's statistics (newer than the host's after a training pass).
    train_both(1);
    const Model<Net> copy = gpu;
    CHECK(copy.device() == device::cuda());
    check_close(copy.buffers(), cpu.buffers());
    Model<Net> copy2 = copy;
    check_close(infer(copy2), infer(cpu));

    // save() reads the device statistics; load() uploads them.
    const fs::path file = scratch("cuda_model_buffers.safetensors");
    gpu.save(file);
    Model<Net> loaded_cpu(device::cpu()), loaded_gpu(device::cuda());
    loaded_cpu.load(file);
    loaded_gpu.load(file);
    CHECK(std::equal(loaded_cpu.buffers().begin(), loaded_cpu.buffers().end(),
                     gpu.buffers().begin()));
    const std::vector<float> y_loaded = infer(loaded_cpu);
    check_close(infer(loaded_gpu), y_loaded);
    check_close(infer(gpu), y_loaded);

    // to(): the statistics move with the model, both ways, bit for bit.
    Model<Net> mover(device::cpu());
    mover.load(file);
    mover.to(device::cuda());
    check_close(infer(mover), y_loaded);
    const auto xt = uniform(batch * Net::in_size, 901);
    (void)mover.forward(xt, batch, Mode::training); // statistics change on the device
    (void)loaded_cpu.forward(xt, batch, Mode::training);
    mover.to(device::cpu());
    check_close(mover.buffers(), loaded_cpu.buffers());
    const std::vector<float> moved(mover.buffers().begin(), mover.buffers().end());
    mover.to(device::cuda());
    mover.to(device::cpu());
    CHECK(std::equal(moved.begin(), moved.end(), mover.buffers().begin()));

    // init() resets the device statistics too.
    gpu.init(81);
    Model<Net> fresh(device::cpu());
    fresh.init(81);
    CHECK(std::equal(fresh.buffers().begin(), fresh.buffers().end(), gpu.buffers().begin()));
    check_close(infer(gpu), infer(fresh));
}

// --- BatchNorm folded into the previous stage in inference (folds_into_previous) -----------------

namespace {
// conv (no bias) + BatchNorm + ReLU, grouped conv (bias) + BatchNorm, depthwise conv + BatchNorm
// + SiLU, and Dense + BatchNorm pairs (with and without bias, BatchNorm last).
using FoldCnnNet = Sequential<Input<4, 5, 5>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU,
                              Conv2D<6, 3, Groups<2>, Padding<1>>, BatchNorm,
                              Conv2D<6, 3, Depthwise, Same, NoBias>, BatchNorm, SiLU, Flatten,
                              Dense<5>, BatchNorm, ReLU, Dense<3, false>, BatchNorm>;
} // namespace

TEST_CASE("fold: inference on CUDA folds BatchNorm into the GEMM store and equals the CPU") {
    using K = kernel_schedule<FoldCnnNet>;
    static_assert(K::forward == 10 && K::forward_inference == 5);
    static_assert(kernel_schedule<BnCnnNet>::forward_inference ==
                  kernel_schedule<BnCnnNet>::forward - 1);
    // Trained on the CPU (running statistics, gamma and beta away from their initial values),
    // then inference with folding on both devices from the same parameters and buffers: outputs,
    // the loss and the gradients of a backward pass after the inference forward agree. (Training
    // is compared by the BatchNorm tests above; a conv bias right before a BatchNorm has a
    // gradient that is zero up to rounding, which Adam's first steps turn into different signs.)
    for (const std::size_t batch : {std::size_t{1}, std::size_t{6}}) {
        CAPTURE(batch);
        Model<FoldCnnNet> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(91);
        OptimizerState<optim::Adam> state(optim::Adam{.lr = 5e-2f}, FoldCnnNet::param_count);
        const auto t = uniform(batch * FoldCnnNet::out_size, 94, 0.0f, 1.0f);
        const auto ts = uniform(6 * FoldCnnNet::out_size, 7, 0.0f, 1.0f);
        for (std::uint64_t step = 0; step < 4; ++step) {
            const auto xs = uniform(6 * FoldCnnNet::in_size, 95 + step, -2.0f, 3.0f);
            (void)cpu.forward(xs, 6, Mode::training);
            (void)cpu.loss(loss::MSE{}, {nullptr, ts.data()});
            cpu.backward();
            cpu.update(state, 5e-2f);
        }
        std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
        {
            const auto b = cpu.buffers();
            std::copy(b.begin(), b.end(), gpu.buffers().begin());
        }
        const auto xi = uniform(batch * FoldCnnNet::in_size, 96, -2.0f, 3.0f);
        const auto yc = cpu.forward(xi, batch, Mode::inference);
        const std::vector<float> y_cpu(yc.begin(), yc.end());
        check_close(gpu.forward(xi, batch, Mode::inference), y_cpu);
        CHECK(gpu.loss(loss::MSE{}, {nullptr, t.data()}) ==
              doctest::Approx(cpu.loss(loss::MSE{}, {nullptr, t.data()})).epsilon(2e-5));
        cpu.backward();
        gpu.backward();
        check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
        check_close(gpu.buffers(), cpu.buffers()); // inference leaves them alone
    }

    Model<FoldCnnNet> m(device::cuda());
    m.init(92);
    const std::size_t batch = 3;
    const auto x = uniform(batch * FoldCnnNet::in_size, 93);
    m.reserve(batch);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::inference);
    CHECK(cuda::launch_count() == 5);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::training);
    CHECK(cuda::launch_count() == 10);

    const std::string d = describe<FoldCnnNet>();
    INFO(d);
    CHECK(d.find("cuda kernels, inference forward: 5") != std::string::npos);
    CHECK(d.find("; inference: + BatchNorm, ReLU (stage 1 folded in)\n") != std::string::npos);
    CHECK(d.find("k1 stage 1: batchnorm BatchNorm") != std::string::npos);
    CHECK(d.find("fused: ReLU; inference: folded into k0\n") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Joins (Residual, Add, Concat) on CUDA: the join kernel, the branch gradients, the accumulation
// of each branch's gradient of the block input.

namespace {

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

} // namespace

TEST_CASE("joins on CUDA equal the CPU: Residual, Add, Concat, nested, from the input") {
    static_assert(kernel_schedule<ResidualNet>::cuda_supported);
    static_assert(kernel_schedule<InceptionNet>::cuda_supported);
    static_assert(kernel_schedule<NestedNet>::cuda_supported);
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
        check_step<ResidualNet>(loss::SoftmaxCrossEntropy{}, batch, 51);
        check_step<InceptionNet>(loss::SoftmaxCrossEntropy{}, batch, 52);
        check_step<AddNet>(loss::MSE{}, batch, 53);
        check_step<FromInputNet>(loss::MSE{}, batch, 54);
        check_step<NestedNet>(loss::SoftmaxCrossEntropy{}, batch, 55);
        check_step<NormBranchNet>(loss::MSE{}, batch, 56);
    }
}

TEST_CASE("joins on CUDA: kernel counts of a pass and of a training step") {
    // Dense | Dense, Tanh (body) | join, ReLU | Dense.
    using Small = Sequential<Input<6>, Dense<6>, Residual<Dense<6>, Tanh>, ReLU, Dense<2>>;
    using K = kernel_schedule<Small>;
    static_assert(K::cuda_supported && K::forward == 4 - 1); // the join runs in stage 1's store
    // Dense<2>: dW, dX | join: 1 | body: dW, dX, accumulate the skip | Dense<6>: dW (input).
    static_assert(K::backward == 2 + 1 + 3 + 1);
    // FromInputNet: Dense | Dense, ReLU | concat, Tanh | Dense: no input gradients into the input,
    // no accumulation.
    static_assert(kernel_schedule<FromInputNet>::backward == 2 + 1 + 1 + 1);
    // AddNet: stage 3 (Sigmoid branch, no anchor) propagates with one kernel (Tanh' of stage 0).
    static_assert(kernel_schedule<AddNet>::backward_kernels[3] == 1 + 1);

    auto count_step = [&]<class Net>(std::type_identity<Net>) {
        using S = kernel_schedule<Net>;
        Model<Net> m(device::cuda());
        m.init(5);
        const std::size_t batch = 4;
        const auto x = uniform(batch * Net::in_size, 3);
        const auto values = uniform(batch * Net::out_size, 4);
        OptimizerState<optim::Adam> state(optim::Adam{}, Net::param_count);
        m.reserve(batch);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::inference);
        CHECK(cuda::launch_count() == S::forward_inference);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::training);
        CHECK(cuda::launch_count() == S::forward);
        (void)m.loss(loss::MSE{}, {nullptr, values.data()});
        m.backward();
        CHECK(cuda::launch_count() == S::forward + S::loss + S::backward);
        m.update(state, 1e-3f);
        CHECK(cuda::launch_count() == S::training_step);
    };
    count_step(std::type_identity<Small>{});
    count_step(std::type_identity<InceptionNet>{});
    count_step(std::type_identity<AddNet>{});
    count_step(std::type_identity<NestedNet>{});

    const std::string d = describe<Small>(loss::MSE{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 3\n") != std::string::npos);
    CHECK(
        d.find("k1 stage 1: gemm      Z = X W^T [6 -> 6], fused: bias, Tanh; + join (stage 2)\n") !=
        std::string::npos);
    CHECK(d.find("-- stage 2: join      add stage 0 + stage 1, fused: ReLU; no kernel: in k1's "
                 "store\n") != std::string::npos);
    CHECK(d.find("stage 2: join backward: dZ x epilogue'(stage 1); stage 0's gradient started "
                 "with the skip's dZ x epilogue'(stage 0)") != std::string::npos);
    CHECK(d.find("stage 1: gemm dW = dZ^T X, db = sum(dZ) as a ones column | gemm dX = dZ W x "
                 "epilogue'(stage 0) | accumulate the kept gradients of stage 0 into dX") !=
          std::string::npos);
}

TEST_CASE("joins on CUDA: 10 training steps follow the CPU run") {
    auto run = [&]<class Net>(std::type_identity<Net>) {
        Model<Net> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(77);
        gpu.init(77);
        OptimizerState<optim::Adam> s_cpu(optim::Adam{}, Net::param_count),
            s_gpu(optim::Adam{}, Net::param_count);
        const std::size_t batch = 6;
        for (int step = 0; step < 10; ++step) {
            CAPTURE(step);
            const auto x = uniform(batch * Net::in_size, 2000 + static_cast<std::uint64_t>(step));
            const auto labels = labels_for(batch + static_cast<std::size_t>(step), Net::out_size);
            const loss::Targets<float> t{labels.data() + step, nullptr};
            (void)cpu.forward(x, batch, Mode::training);
            (void)gpu.forward(x, batch, Mode::training);
            const float lc = cpu.loss(loss::SoftmaxCrossEntropy{}, t);
            const float lg = gpu.loss(loss::SoftmaxCrossEntropy{}, t);
            CHECK(lg == doctest::Approx(lc).epsilon(1e-4));
            cpu.backward();
            gpu.backward();
            cpu.update(s_cpu, 1e-2f);
            gpu.update(s_gpu, 1e-2f);
        }
        check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
    };
    run(std::type_identity<InceptionNet>{});
    run(std::type_identity<NestedNet>{});
}

// ---------------------------------------------------------------------------------------------
// Join fusion: a two-branch Add whose last branch ends in a Conv2D or Dense stage is evaluated in
// that stage's GEMM store (every pass), or after a BatchNorm folded into it (inference only).

namespace {

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

} // namespace

TEST_CASE("join fusion: which joins run in a GEMM store, in which passes") {
    using ctnn::detail::stage_at;
    // ResConvNet: conv | conv, ReLU | conv | join, ReLU | dense.
    using RC = stages_of<ResConvNet>;
    static_assert(join_fuses_into_previous<RC, 3> && !join_fuses_through_fold<RC, 3>);
    static_assert(kernel_schedule<ResConvNet>::forward == 5 - 1 &&
                  kernel_schedule<ResConvNet>::forward_inference == 5 - 1);
    // The backward pass keeps the join's kernel.
    static_assert(kernel_schedule<ResConvNet>::backward_kernels[3] == 1);
    using RI = stages_of<ResInputNet>;
    static_assert(join_fuses_into_previous<RI, 1> && stage_at<RI, 1>::anchor::from_input);
    using TB = stages_of<TwoBranchNet>;
    static_assert(join_fuses_into_previous<TB, 3> && join_fuses_into_previous<TB, 5>);
    static_assert(kernel_schedule<TwoBranchNet>::forward == 7 - 2);
    // ResBnNet: conv | conv | BN, ReLU | conv | BN | join, ReLU | dense.
    using RB = stages_of<ResBnNet>;
    static_assert(folds_into_previous<RB, 4> && join_fuses_through_fold<RB, 5> &&
                  !join_fuses_into_previous<RB, 5>);
    static_assert(kernel_schedule<ResBnNet>::forward == 7 &&
                  kernel_schedule<ResBnNet>::forward_inference == 7 - 2 - 1);
    using NF = stages_of<NoFuseNet>;
    static_assert(fused_join_count<NF> == 0 && fused_join_inference_count<NF> == 0);
    static_assert(kernel_schedule<NoFuseNet>::forward == NF::size &&
                  kernel_schedule<NoFuseNet>::forward_inference == NF::size);
    // Joins of the earlier tests: AddNet (three branches) and InceptionNet (Concat) keep their
    // kernel; NestedNet's Residual<Concat<...>, Dense<6>> and inner Add<Branch<>, Dense<6>> fuse
    // (its Residual<Tanh> and three-branch Add do not).
    static_assert(fused_join_count<stages_of<AddNet>> == 0 &&
                  fused_join_count<stages_of<InceptionNet>> == 0);
    static_assert(fused_join_count<stages_of<NestedNet>> == 2);
}

TEST_CASE("join fusion: models with fused and unfused joins on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
        check_step<ResConvNet>(loss::SoftmaxCrossEntropy{}, batch, 61);
        check_step<ResInputNet>(loss::MSE{}, batch, 62);
        check_step<TwoBranchNet>(loss::SoftmaxCrossEntropy{}, batch, 63);
        check_step<ResBnNet>(loss::SoftmaxCrossEntropy{}, batch + 1, 64);
        check_step<NoFuseNet>(loss::MSE{}, batch + 1, 65);
    }
}

namespace {

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
        (void)cpu.loss(loss::SoftmaxCrossEntropy{}, {labels.data(), nullptr});
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
    const loss::Targets<float> t{labels.data(), nullptr};
    CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, t) ==
          doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, t)).epsilon(2e-5));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
    cuda::reset_launch_count();
    (void)gpu.forward(xi, batch, Mode::training);
    CHECK(cuda::launch_count() == kernel_schedule<Net>::forward);
}

} // namespace

TEST_CASE("join fusion: inference through a folded BatchNorm equals the CPU, and the launches") {
    using Net = ResBnNet;
    check_inference_after_training<Net>(66);

    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 7\n") != std::string::npos);
    CHECK(d.find("cuda kernels, inference forward: 4 ") != std::string::npos);
    CHECK(d.find("k3 stage 3: conv") != std::string::npos);
    CHECK(d.find("; inference: + BatchNorm (stage 4 folded in) + join (stage 5)\n") !=
          std::string::npos);
    CHECK(d.find("k5 stage 5: join      add stage 0 + stage 4, fused: ReLU; inference: in k3's "
                 "store\n") != std::string::npos);
}

TEST_CASE("join fusion: 10 training steps follow the CPU run") {
    auto run = [&]<class Net>(std::type_identity<Net>) {
        Model<Net> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(78);
        gpu.init(78);
        OptimizerState<optim::Adam> s_cpu(optim::Adam{}, Net::param_count),
            s_gpu(optim::Adam{}, Net::param_count);
        const std::size_t batch = 6;
        for (int step = 0; step < 10; ++step) {
            CAPTURE(step);
            const auto x = uniform(batch * Net::in_size, 3000 + static_cast<std::uint64_t>(step));
            const auto labels = labels_for(batch + static_cast<std::size_t>(step), Net::out_size);
            const loss::Targets<float> t{labels.data() + step, nullptr};
            (void)cpu.forward(x, batch, Mode::training);
            (void)gpu.forward(x, batch, Mode::training);
            const float lc = cpu.loss(loss::SoftmaxCrossEntropy{}, t);
            const float lg = gpu.loss(loss::SoftmaxCrossEntropy{}, t);
            CHECK(lg == doctest::Approx(lc).epsilon(1e-4));
            cpu.backward();
            gpu.backward();
            cpu.update(s_cpu, 1e-2f);
            gpu.update(s_gpu, 1e-2f);
        }
        check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
    };
    run(std::type_identity<ResConvNet>{});
    run(std::type_identity<TwoBranchNet>{});
}

// ---------------------------------------------------------------------------------------------
// Pooling fusion: a 2 x 2, stride-2 MaxPool2D / AvgPool2D tiling a Conv2D's output is evaluated in
// the convolution's GEMM store (every pass).

namespace {

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

} // namespace

TEST_CASE("pool fusion: which pooling stages run in a convolution's store") {
    using PF = stages_of<PoolFuseNet>;
    static_assert(pool_fuses_into_previous<PF, 1> && pool_fuses_into_previous<PF, 3>);
    static_assert(kernel_schedule<PoolFuseNet>::forward == 5 - 2 &&
                  kernel_schedule<PoolFuseNet>::forward_inference == 5 - 2);
    // The backward pass keeps the pooling kernels.
    static_assert(kernel_schedule<PoolFuseNet>::backward_kernels[1] == 1 &&
                  kernel_schedule<PoolFuseNet>::backward_kernels[3] == 1);
    static_assert(fused_pool_count<stages_of<PoolNoFuseNet>> == 0);
    static_assert(kernel_schedule<PoolNoFuseNet>::forward == stages_of<PoolNoFuseNet>::size);
    // Earlier models: ConvNet pools a 7 x 6 map, BnCnnNet pools after a BatchNorm, ResidualNet
    // after a join, PoolFirstNet overlapping windows: none fuses.
    static_assert(fused_pool_count<stages_of<ConvNet>> == 0 &&
                  fused_pool_count<stages_of<BnCnnNet>> == 0 &&
                  fused_pool_count<stages_of<ResidualNet>> == 0 &&
                  fused_pool_count<stages_of<PoolFirstNet>> == 0);
    // The example CNN: conv+pool, conv+pool, dense, dense: 4 forward kernels instead of 6.
    using K = kernel_schedule<CnnExampleNet>;
    static_assert(K::forward == 4 && K::backward == 2 + 2 + 1 + 2 + 1 + 1 &&
                  K::training_step == 4 + 1 + 9 + 1);

    const std::string d = describe<CnnExampleNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 4\n") != std::string::npos);
    CHECK(d.find("k0 stage 0: conv      Conv2D<4, 3, Same> (implicit gemm) [1, 12, 12] -> [4, 12, "
                 "12], fused: bias, ReLU; + MaxPool2D<2> (stage 1)\n") != std::string::npos);
    CHECK(d.find("-- stage 1: pool      MaxPool2D<2> [4, 12, 12] -> [4, 6, 6]; no kernel: in k0's "
                 "store\n") != std::string::npos);
    CHECK(d.find("-- stage 3: pool") != std::string::npos);
    CHECK(d.find("cuda kernels, training step: 15 = forward 4 + loss 1") != std::string::npos);
}

TEST_CASE("pool fusion: models with fused and unfused pooling on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{3}, std::size_t{5}}) {
        check_step<PoolFuseNet>(loss::SoftmaxCrossEntropy{}, batch, 71);
        check_step<CnnExampleNet>(loss::SoftmaxCrossEntropy{}, batch, 72);
    }
    check_step<PoolNoFuseNet>(loss::MSE{}, 4, 73);

    Model<CnnExampleNet> m(device::cuda());
    m.init(74);
    const std::size_t batch = 3;
    const auto x = uniform(batch * CnnExampleNet::in_size, 75);
    m.reserve(batch);
    for (const Mode mode : {Mode::inference, Mode::training}) {
        cuda::reset_launch_count();
        (void)m.forward(x, batch, mode);
        CHECK(cuda::launch_count() == 4);
    }
}

TEST_CASE("pool fusion: NaN and infinities pool as on the CPU") {
    // A NaN input makes the convolution outputs that read it NaN; an infinity makes them +-inf.
    // The fused max pooling must pick the same values (a NaN wins) as the pooling kernel and
    // the CPU; the average propagates them.
    using Net = Sequential<Input<1, 4, 4>, Conv2D<2, 1>, MaxPool2D<2>, Conv2D<2, 1, NoBias>,
                           AvgPool2D<2>, Flatten, Dense<2>>;
    static_assert(kernel_schedule<Net>::forward == 3);
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(76);
    std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
    const std::size_t batch = 2;
    auto x = uniform(batch * Net::in_size, 77);
    x[1] = std::numeric_limits<float>::quiet_NaN();
    x[16 + 5] = std::numeric_limits<float>::infinity();
    x[16 + 10] = -std::numeric_limits<float>::infinity();
    const auto yc = cpu.forward(x, batch, Mode::inference);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    const auto y_gpu = gpu.forward(x, batch, Mode::inference);
    REQUIRE(y_gpu.size() == y_cpu.size());
    for (std::size_t i = 0; i < y_cpu.size(); ++i) {
        CAPTURE(i);
        CHECK(std::isnan(y_gpu[i]) == std::isnan(y_cpu[i]));
        if (std::isinf(y_cpu[i])) CHECK(y_gpu[i] == y_cpu[i]);
        else if (!std::isnan(y_cpu[i])) CHECK(y_gpu[i] == doctest::Approx(y_cpu[i]).epsilon(2e-5));
    }
}

namespace {

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

} // namespace

TEST_CASE("pool fusion: conv_pool_forward equals conv_forward then pool_forward to the bit") {
    using Max =
        Sequential<Input<3, 6, 10>, Conv2D<5, 3, Same>, ReLU, Dropout<0.25f>, MaxPool2D<2>, Tanh>;
    using Avg =
        Sequential<Input<4, 8, 4>, Conv2D<6, 3, Groups<2>, Padding<1>, NoBias>, AvgPool2D<2>, SiLU>;
    using Plain = Sequential<Input<2, 4, 4>, Conv2D<70, 1>, MaxPool2D<2>>;
    // 15 windows per map (a partial 64-row tile), 8 (two maps per tile), 4 x 70 channels (two
    // column tiles); batches spanning one to several row tiles, under several schedules.
    for (const std::uint64_t s : {1u, 2u, 3u}) {
        cuda::host::set_seed(s);
        for (const std::size_t batch : {std::size_t{1}, std::size_t{2}, std::size_t{9}}) {
            check_conv_pool_bits<Max>(batch, 80 + s);
            check_conv_pool_bits<Avg>(batch, 90 + s);
            check_conv_pool_bits<Plain>(batch, 100 + s);
        }
    }
    cuda::host::reset_seed();
}

namespace {
// VGG-style blocks: Conv2D, BatchNorm, ReLU, MaxPool2D<2> and Conv2D, BatchNorm, AvgPool2D<2>,
// Tanh. In inference each BatchNorm folds into its convolution and the pooling follows in the
// same store; in training both keep their kernels (the BatchNorm needs batch statistics first).
using BnPoolNet =
    Sequential<Input<2, 8, 8>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, MaxPool2D<2>,
               Conv2D<4, 3, Same, NoBias>, BatchNorm, AvgPool2D<2>, Tanh, Flatten, Dense<3>>;
} // namespace

TEST_CASE("pool fusion: inference through a folded BatchNorm equals the CPU, and the launches") {
    using St = stages_of<BnPoolNet>;
    static_assert(pool_fuses_through_fold<St, 2> && pool_fuses_through_fold<St, 5> &&
                  !pool_fuses_into_previous<St, 2> && !pool_fuses_into_previous<St, 5>);
    static_assert(kernel_schedule<BnPoolNet>::forward == 7 &&
                  kernel_schedule<BnPoolNet>::forward_inference == 7 - 2 - 2);
    for (const std::size_t batch : {std::size_t{2}, std::size_t{5}})
        check_step<BnPoolNet>(loss::SoftmaxCrossEntropy{}, batch, 85);
    check_inference_after_training<BnPoolNet>(86);

    const std::string d = describe<BnPoolNet>();
    INFO(d);
    CHECK(d.find("cuda kernels, inference forward: 3 ") != std::string::npos);
    CHECK(d.find("; inference: + BatchNorm, ReLU (stage 1 folded in) + MaxPool2D<2> (stage 2)\n") !=
          std::string::npos);
    CHECK(d.find("k2 stage 2: pool      MaxPool2D<2> [4, 8, 8] -> [4, 4, 4]; inference: in k0's "
                 "store\n") != std::string::npos);
    CHECK(d.find("fused: Tanh; inference: in k3's store\n") != std::string::npos);
}
