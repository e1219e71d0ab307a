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
#include <filesystem>
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

} // namespace

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

TEST_CASE("max pooling breaks ties as the CPU does (first maximum in row-major order)") {
    // A 2x2 convolution with weights 1 turns small integer inputs into exact integer sums, so
    // overlapping pooling windows hold ties; which tied value gets the gradient changes dW (the
    // inputs under the chosen position differ), so the two backends must choose alike.
    using Net = Sequential<Input<1, 5, 6>, Conv2D<1, 2, NoBias>, MaxPool2D<2, Stride<1>>, Flatten,
                           Dense<2>>;
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(3);
    for (std::size_t i = 0; i < 4; ++i) cpu.parameters()[i] = 1.0f;
    std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
    const std::size_t batch = 3;
    std::vector<float> x(batch * 30);
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

TEST_CASE("forward, loss and backward on CUDA equal the CPU for several models and batches") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{7}, std::size_t{70}}) {
        check_step<SmallNet>(loss::SoftmaxCrossEntropy{}, batch, 11);
        check_step<DeepNet>(loss::MSE{}, batch, 12);
        check_step<DeepNet>(loss::BCEWithLogits{}, batch, 13);
        check_step<SoftmaxNet>(loss::L1{}, batch, 14);
        check_step<SoftmaxNet>(loss::Huber{.delta = 0.05f}, batch, 15);
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
        CHECK(cuda::launch_count() == S::forward);
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
