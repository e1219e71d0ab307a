// NaN propagates through the CUDA kernels as through the CPU backend (issue 17): every activation
// forward and backward, and a NaN feature through an MLP, a CNN with a fused max pool and a
// residual (tests/unit/nan_checks.hpp), and train()'s non-finite policies, run by host execution
// of the kernels; gradient clipping (tests/unit/clip_checks.hpp). A TU of its own: the cuda_*.cpp
// tests are the slowest to build.
#define CTNN_HOST_EXECUTION 1 // this executable runs the CUDA backend on the CPU
#include "clip_checks.hpp"
#include "nan_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using namespace ctnn::test::nan;

TEST_CASE("nan on CUDA: every activation propagates NaN forward and backward") {
    check_every_activation<float>(device::cuda());
}

TEST_CASE("nan on CUDA: a NaN feature reaches the outputs and gradients: MLP, CNN, residual") {
    check_models<float>(device::cuda());
}

TEST_CASE("train on CUDA: non-finite policies, MLP and BatchNorm") {
    check_policies<Sequential<Input<4>, Dense<8>, ReLU, Dense<3>>, float>(device::cuda());
    check_policies<Sequential<Input<4>, Dense<8>, BatchNorm, ReLU, Dense<3>>, float>(
        device::cuda());
}

TEST_CASE("clip_grad_norm on CUDA: the gradients are clipped on the host and written back") {
    using Net = Sequential<Input<6>, Dense<8>, ReLU, Dense<3>>;
    test::clip::check_clip<Net, float>(device::cuda());
    test::clip::check_train_clip<Net, float>(device::cuda());
}
