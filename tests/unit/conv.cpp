// Convolution: shapes and PyTorch layouts, forward against naive reference loops (im2col and
// the direct kernel; Winograd and the float input gradients: conv_winograd.cpp). The pool in the
// store, threads, a convolution by hand: conv_store.cpp. Gradient checks: conv_grad.cpp; pooling,
// upsampling and lowering: conv_pool.cpp.
#include "conv_checks.hpp"
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;
using ctnn::test::random_values;
using namespace ctnn::test;

TEST_CASE("Conv2D: output shapes, parameter names and PyTorch layouts") {
    using Net = Sequential<Input<3, 32, 32>, Conv2D<16, 3, Same>, ReLU, Conv2D<32, 3, Stride<2>>,
                           Conv2D<32, 5, Padding<2>, Groups<4>, NoBias>, Conv2D<64, 3, Depthwise>,
                           Conv2D<8, 3, Dilation<2>, Same>>;
    using N = Net::nodes;
    static_assert(std::is_same_v<at<0, N>::out_shape, Shape<16, 32, 32>>);
    static_assert(std::is_same_v<at<2, N>::out_shape, Shape<32, 15, 15>>);
    static_assert(std::is_same_v<at<3, N>::out_shape, Shape<32, 15, 15>>);
    static_assert(std::is_same_v<at<4, N>::out_shape, Shape<64, 13, 13>>);
    static_assert(std::is_same_v<Net::out_shape, Shape<8, 13, 13>>);
    static_assert(Net::param_count == (16 * 3 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 8 * 25) +
                                          (64 * 1 * 9 + 64) + (8 * 64 * 9 + 8));
    const auto t = parameter_table<Net>();
    REQUIRE(t.size() == 9);
    CHECK(t[0].name == "0.weight");
    CHECK(t[0].spec.shape() == std::vector<std::int64_t>{16, 3, 3, 3});
    CHECK(t[0].spec.fan_in == 27);
    CHECK(t[1].name == "0.bias");
    CHECK(t[4].name == "3.weight");
    CHECK(t[4].spec.shape() == std::vector<std::int64_t>{32, 8, 5, 5});
    CHECK(t[4].spec.fan_in == 8 * 25); // PyTorch: in / groups * kh * kw
    CHECK(t[5].name == "4.weight");
    CHECK(t[5].spec.shape() == std::vector<std::int64_t>{64, 1, 3, 3});
    CHECK(t[5].spec.fan_in == 9);
    CHECK(t[7].spec.shape() == std::vector<std::int64_t>{8, 64, 3, 3});
    CHECK(t[8].offset + t[8].size == Net::param_count);

    CHECK(Conv2D<32, 3, Same>::name() == "Conv2D<32, 3, Same>");
    CHECK(Conv2D<8, 5, Stride<2, 1>, Padding<1, 2>, NoBias>::name() ==
          "Conv2D<8, 5, Stride<2, 1>, Padding<1, 2>, NoBias>");
    CHECK(MaxPool2D<3, Stride<2>>::name() == "MaxPool2D<3, Stride<2>>");
}

TEST_CASE("pooling: output shapes follow PyTorch (stride defaults to the kernel)") {
    static_assert(
        std::is_same_v<Sequential<Input<4, 28, 28>, MaxPool2D<2>>::out_shape, Shape<4, 14, 14>>);
    static_assert(
        std::is_same_v<Sequential<Input<4, 7, 7>, MaxPool2D<2>>::out_shape, Shape<4, 3, 3>>);
    static_assert(std::is_same_v<Sequential<Input<4, 7, 7>, MaxPool2D<3, Stride<2>>>::out_shape,
                                 Shape<4, 3, 3>>);
    static_assert(
        std::is_same_v<Sequential<Input<4, 7, 7>, AvgPool2D<3, Stride<2>, Padding<1>>>::out_shape,
                       Shape<4, 4, 4>>);
    static_assert(
        std::is_same_v<Sequential<Input<4, 7, 5>, GlobalAvgPool>::out_shape, Shape<4, 1, 1>>);
    static_assert(Sequential<Input<4, 7, 5>, GlobalAvgPool, Flatten, Dense<3>>::param_count == 15);
}

TEST_CASE("Conv2D forward equals a naive convolution") {
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, 3>>>(
        {2, 5, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1, 3, 4, true}, 2, 1);
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, 3, Same>>>(
        {2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 5, 6, true}, 2, 2);
    // Same with an even kernel pads one more row/column after than before (as PyTorch).
    check_conv_forward<Sequential<Input<2, 5, 6>, Conv2D<3, 4, Same>>>(
        {2, 5, 6, 3, 4, 1, 1, 1, 1, 1, 1, 1, 5, 6, true}, 2, 3);
    check_conv_forward<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Stride<2, 3>, Padding<1, 2>>>>(
        {2, 7, 8, 3, 3, 2, 3, 1, 2, 1, 1, 1, 4, 4, true}, 2, 4);
    check_conv_forward<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Dilation<2, 3>, NoBias>>>(
        {2, 7, 8, 3, 3, 1, 1, 0, 0, 2, 3, 1, 3, 2, false}, 2, 5);
    check_conv_forward<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Dilation<2>, Same>>>(
        {2, 7, 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, 7, 8, true}, 2, 6);
    check_conv_forward<Sequential<Input<4, 5, 5>, Conv2D<6, 3, Groups<2>, Padding<1>>>>(
        {4, 5, 5, 6, 3, 1, 1, 1, 1, 1, 1, 2, 5, 5, true}, 2, 7);
    check_conv_forward<Sequential<Input<3, 5, 5>, Conv2D<6, 3, Depthwise, Stride<2>>>>(
        {3, 5, 5, 6, 3, 2, 2, 0, 0, 1, 1, 3, 2, 2, true}, 2, 8);
    // 256 output pixels: the CPU backend unfolds 2 samples per GEMM, so a batch of 5 has a
    // partial last chunk.
    check_conv_forward<Sequential<Input<2, 16, 16>, Conv2D<3, 3, Same>>>(
        {2, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 16, 16, true}, 5, 9);
    check_conv_forward<Sequential<Input<1, 4, 4>, Conv2D<2, 4>>>(
        {1, 4, 4, 2, 4, 1, 1, 0, 0, 1, 1, 1, 1, 1, true}, 3, 10);
}

TEST_CASE("Conv2D forward in float equals a naive convolution (the direct CPU kernel)") {
    const auto id = [](double v) { return v; };
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    const auto tanh = [](double v) { return std::tanh(v); };
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    // A row of 17 columns: two vector units per row, the second partial; 7 channels: blocks of
    // 4, 2 and 1 output channels. ReLU on the registers.
    check_conv_forward_float<Sequential<Input<3, 5, 17>, Conv2D<7, 3, Same>, ReLU>>(
        {3, 5, 17, 7, 3, 1, 1, 1, 1, 1, 1, 1, 5, 17, true}, 3, 21, relu);
    // One input channel (the first convolution of the CNN example), 13 outputs, Tanh after it.
    check_conv_forward_float<Sequential<Input<1, 28, 28>, Conv2D<13, 3, Same>, Tanh>>(
        {1, 28, 28, 13, 3, 1, 1, 1, 1, 1, 1, 1, 28, 28, true}, 2, 22, tanh);
    // Valid 5x5 (29 of 33 columns), no epilogue; an even kernel with Same (asymmetric padding).
    check_conv_forward_float<Sequential<Input<2, 9, 33>, Conv2D<5, 5>>>(
        {2, 9, 33, 5, 5, 1, 1, 0, 0, 1, 1, 1, 5, 29, true}, 2, 23, id);
    check_conv_forward_float<Sequential<Input<2, 7, 8>, Conv2D<3, 4, Same>, ReLU>>(
        {2, 7, 8, 3, 4, 1, 1, 1, 1, 1, 1, 1, 7, 8, true}, 4, 24, relu);
    // Dilation without bias; padding wider than the kernel needs; a 1x1 convolution, 33 outputs.
    check_conv_forward_float<Sequential<Input<2, 7, 8>, Conv2D<3, 3, Dilation<2, 3>, NoBias>>>(
        {2, 7, 8, 3, 3, 1, 1, 0, 0, 2, 3, 1, 3, 2, false}, 2, 25, id);
    check_conv_forward_float<Sequential<Input<2, 5, 6>, Conv2D<3, 3, Padding<2>>, ReLU>>(
        {2, 5, 6, 3, 3, 1, 1, 2, 2, 1, 1, 1, 7, 8, true}, 2, 26, relu);
    check_conv_forward_float<Sequential<Input<4, 6, 6>, Conv2D<33, 1>, ReLU>>(
        {4, 6, 6, 33, 1, 1, 1, 0, 0, 1, 1, 1, 6, 6, true}, 3, 27, relu);
    // 64 channels over a 14 x 14 image (the second convolution of the CNN example): Winograd.
    check_conv_forward_float<Sequential<Input<32, 14, 14>, Conv2D<64, 3, Same>, ReLU>>(
        {32, 14, 14, 64, 3, 1, 1, 1, 1, 1, 1, 1, 14, 14, true}, 2, 28, relu);
}
