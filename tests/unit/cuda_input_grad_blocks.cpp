// Model::input_gradient on device::cuda() (host execution of the CUDA kernels) against the CPU,
// for models that start with a normalization or a block whose branches read the input, and what
// it keeps. Split from cuda_input_grad.cpp to keep each test TU's compile short. Helpers and
// tolerances: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

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
