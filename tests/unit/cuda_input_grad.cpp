// Model::input_gradient on device::cuda() (host execution of the CUDA kernels) against the CPU,
// for models that start with a Dense, an activation, a convolution, a pool or an upsampling
// (normalization and blocks: cuda_input_grad_blocks.cpp). Helpers and tolerances: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

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
