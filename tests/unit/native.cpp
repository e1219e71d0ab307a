// The fused CPU kernels as this machine runs them: native*.cpp alone are built
// for the build host's CPU (-march=native with CTNN_NATIVE_ARCH, as the examples and benchmarks
// are), so its cases run the AVX-512 or AVX2 kernels that the portable unit tests (4-wide kernels)
// never reach. Each case is a check of the portable tests, at the shapes where the wide kernels
// differ: rows of 14 and 28 columns, the CNN example's channel counts. The pooling:
// native_pool.cpp; the fused Dense chains: native_mlp.cpp; NaN propagation: native_nan*.cpp.
#include "conv_checks.hpp"
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;
using namespace ctnn::test;

TEST_CASE("native: the instruction set these cases run") {
#if CTNN_CPU_FUSED
    MESSAGE("fused CPU kernels: " << std::string(cpu::simd::Native::name));
#else
    MESSAGE("fused CPU kernels not compiled in (no CTNN_CPU_FUSED)");
#endif
    CHECK(true);
}

TEST_CASE("native: Conv2D forward in float equals a naive convolution") {
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    const auto id = [](double v) { return v; };
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    check_conv_forward_float<Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU>>(
        {1, 28, 28, 32, 3, 1, 1, 1, 1, 1, 1, 1, 28, 28, true}, 2, 61, relu);
    check_conv_forward_float<Sequential<Input<32, 14, 14>, Conv2D<64, 3, Same>, ReLU>>(
        {32, 14, 14, 64, 3, 1, 1, 1, 1, 1, 1, 1, 14, 14, true}, 2, 62, relu);
    // 37 columns: two full vectors and a partial one (AVX-512), 7 output channels.
    check_conv_forward_float<Sequential<Input<3, 6, 37>, Conv2D<7, 3, Same>>>(
        {3, 6, 37, 7, 3, 1, 1, 1, 1, 1, 1, 1, 6, 37, true}, 2, 63, id);
    check_conv_forward_float<Sequential<Input<5, 9, 9>, Conv2D<20, 5, NoBias>, ReLU>>(
        {5, 9, 9, 20, 5, 1, 1, 0, 0, 1, 1, 1, 5, 5, false}, 3, 64, relu);
}

TEST_CASE("native: Winograd F(2x2, 3x3) convolutions equal a naive one") {
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    check_conv_forward_float<Sequential<Input<19, 9, 7>, Conv2D<37, 3, Same>, ReLU>>(
        {19, 9, 7, 37, 3, 1, 1, 1, 1, 1, 1, 1, 9, 7, true}, 2, 81, relu);
    check_float_gradients<ConvAfterConv<Conv2D<20, 3, Same>, 17, 9, 11>>(2, 82);
    check_pool_fusion<
        Sequential<Input<17, 9, 11>, Conv2D<20, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 83, 1);
}

TEST_CASE("native: Conv2D input gradients in float match double") {
    check_float_gradients<ConvAfterConv<Conv2D<5, 3, Same>, 3, 14, 14>>(2, 65);
    check_float_gradients<ConvAfterConv<Conv2D<4, 3>, 3, 9, 37>>(2, 66);
}
