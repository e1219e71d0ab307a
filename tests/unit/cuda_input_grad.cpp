// Model::input_gradient on device::cuda() (host execution of the CUDA kernels) against the CPU,
// for models that start with each stage kind and with blocks whose branches read the input.
// Helpers and tolerances: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

namespace {

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

} // namespace

TEST_CASE("input_gradient on CUDA equals the CPU: Dense, a leading activation, no parameters") {
    check_input_grad<SmallNet>(loss::SoftmaxCrossEntropy{}, 3, 1);
    check_input_grad<DeepNet>(loss::MSE{}, 2, 2, Mode::training);
    check_input_grad<LeadingNet>(loss::MSE{}, 3, 3);
    check_input_grad<MapNet>(loss::MSE{}, 2, 4);
    check_input_grad<SoftmaxNet>(loss::NLLLoss{}, 2, 5);
}

TEST_CASE("input_gradient on CUDA equals the CPU: convolutions, pools, upsampling first") {
    check_input_grad<ConvNet>(loss::SoftmaxCrossEntropy{}, 2, 10);
    check_input_grad<PoolFirstNet>(loss::SoftmaxCrossEntropy{}, 2, 11);
    check_input_grad<RectNet>(loss::SoftmaxCrossEntropy{}, 2, 12);
    check_input_grad<UpsampleFirstNet>(loss::MSE{}, 2, 13);
    check_input_grad<PoolFuseNet>(loss::SoftmaxCrossEntropy{}, 2, 14);
}

TEST_CASE("input_gradient on CUDA equals the CPU: normalization first, blocks at the input") {
    check_input_grad<BnFirstNet>(loss::SoftmaxCrossEntropy{}, 3, 20, Mode::inference);
    check_input_grad<BnFirstNet>(loss::SoftmaxCrossEntropy{}, 3, 21, Mode::training);
    check_input_grad<LnImageNet>(loss::SoftmaxCrossEntropy{}, 2, 22);
    check_input_grad<FromInputNet>(loss::SoftmaxCrossEntropy{}, 3, 23);
    check_input_grad<NestedNet>(loss::MSE{}, 2, 24);
    check_input_grad<ResInputNet>(loss::MSE{}, 2, 25, Mode::training);
    // Inference folds BatchNorm into the convolution's store, with the join (ResBnNet) or the
    // pool (BnPoolNet) after it: the stores keep every value the backward pass reads.
    check_input_grad<ResBnNet>(loss::SoftmaxCrossEntropy{}, 2, 26);
    check_input_grad<BnPoolNet>(loss::SoftmaxCrossEntropy{}, 3, 27);
}

TEST_CASE("input_gradient on CUDA keeps the model's gradients and its BatchNorm statistics move") {
    Model<BnFirstNet> gpu(device::cuda());
    gpu.init(30);
    const std::size_t batch = 3;
    const auto x = uniform(batch * BnFirstNet::in_size, 31);
    const auto labels = labels_for(batch, BnFirstNet::out_size);
    gpu.forward(x, batch, Mode::training);
    gpu.loss(loss::SoftmaxCrossEntropy{}, {labels});
    gpu.backward();
    const std::vector<float> g(gpu.gradients().begin(), gpu.gradients().end());
    const std::vector<float> b(gpu.buffers().begin(), gpu.buffers().end());
    (void)gpu.input_gradient(x, loss::SoftmaxCrossEntropy{}, {labels});
    CHECK(std::equal(g.begin(), g.end(), gpu.gradients().begin()));
    CHECK(std::equal(b.begin(), b.end(), gpu.buffers().begin())); // inference: unchanged
    (void)gpu.input_gradient(x, loss::SoftmaxCrossEntropy{}, {labels}, Mode::training);
    CHECK(std::equal(g.begin(), g.end(), gpu.gradients().begin()));
    CHECK(!std::equal(b.begin(), b.end(), gpu.buffers().begin())); // a training pass moved them
}
