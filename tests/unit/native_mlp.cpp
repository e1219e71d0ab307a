// The fused Dense chains as this machine runs them: built for the build host's CPU like
// native.cpp (-march=native with CTNN_NATIVE_ARCH), so the AVX-512 or AVX2 kernels run; a TU of
// its own to keep each test TU's compile time short.
#include "fused_checks.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;
using namespace ctnn::test;

TEST_CASE("native: fused Dense chains (16 x 16 transposes, thread parts) match eigen::Executor") {
    // Workload A's network (fused with AVX-512 only: 784 inputs), and widths that leave partial
    // 16 x 16 blocks in the weight packing and the gradient transpose.
    using NetA = Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>;
    using Ragged = Sequential<Input<40>, Dense<33>, ReLU, Dense<17>, Tanh, Dense<48>>;
    // 200 outputs: 13 registers, bias sums in groups of 8 and 5 column registers.
    using Wide = Sequential<Input<20>, Dense<200>, ReLU, Dense<9>>;
    for (const std::size_t batch : {std::size_t{1}, std::size_t{97}, std::size_t{256}}) {
        check_against_eigen<NetA>(batch, 1);
        check_against_eigen<Ragged>(batch, 1);
        check_against_eigen<Wide>(batch, 1);
    }
    for (const std::size_t batch : {std::size_t{256}, std::size_t{600}}) {
        check_against_eigen<NetA>(batch, 2);
        check_against_eigen<Ragged>(batch, 2);
    }
}
