// NaN propagates through the CUDA kernels as through the CPU backend (issue 17): every activation
// forward and backward, and a NaN feature through an MLP, a CNN with a fused max pool and a
// residual (tests/unit/nan_checks.hpp), run by host execution of the kernels. A TU of its own:
// tests/unit/cuda_model.cpp is the slowest to build.
#define CTNN_HOST_EXECUTION 1 // this executable runs the CUDA backend on the CPU
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
