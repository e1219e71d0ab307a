// Convolution in float on the CPU kernels: Winograd F(2x2, 3x3) against a naive convolution (with
// the pool in its store), and the input gradients of the direct and Winograd kernels against
// double. Split from conv.cpp to keep each test TU's compile short (docs/building.md).
#include "conv_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using namespace ctnn::test;

TEST_CASE("Conv2D 3x3 with 8+ channels runs as Winograd F(2x2, 3x3) and equals a naive one") {
    const auto id = [](double v) { return v; };
    const auto relu = [](double v) { return v > 0 ? v : 0.0; };
    using W1 = Sequential<Input<9, 7, 5>, Conv2D<10, 3, Same>, ReLU>;
    static_assert(conv_lowering<at<0, stages_of<W1>>>::winograd);
    static_assert(
        !conv_lowering<at<0, stages_of<Sequential<Input<7, 7, 5>, Conv2D<10, 3>>>>>::winograd);
    static_assert(
        !conv_lowering<at<0, stages_of<Sequential<Input<9, 7, 5>, Conv2D<10, 5>>>>>::winograd);
    // c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow, bias
    // Odd height and width (a last tile half outside), channel counts that fill no vector.
    check_conv_forward_float<W1>({9, 7, 5, 10, 3, 1, 1, 1, 1, 1, 1, 1, 7, 5, true}, 3, 71, relu);
    // Valid (no padding), no bias, no epilogue; asymmetric padding of 2 on each side.
    check_conv_forward_float<Sequential<Input<8, 6, 9>, Conv2D<17, 3, NoBias>>>(
        {8, 6, 9, 17, 3, 1, 1, 0, 0, 1, 1, 1, 4, 7, false}, 2, 72, id);
    check_conv_forward_float<Sequential<Input<12, 5, 4>, Conv2D<8, 3, Padding<2>>, ReLU>>(
        {12, 5, 4, 8, 3, 1, 1, 2, 2, 1, 1, 1, 7, 6, true}, 2, 73, relu);
    // The input gradient as a Winograd convolution of dZ (8 -> 9 channels back to 8).
    check_float_gradients<ConvAfterConv<Conv2D<9, 3, Same>, 8, 7, 9>>(2, 74);
    check_float_gradients<ConvAfterConv<Conv2D<16, 3>, 8, 8, 6>>(2, 75);
    // A 2 x 2 max pool in the store of a Winograd convolution: odd sizes, two in a row.
    check_pool_fusion<
        Sequential<Input<9, 7, 5>, Conv2D<10, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 76, 1);
    check_pool_fusion<Sequential<Input<8, 12, 12>, Conv2D<8, 3, Same>, ReLU, MaxPool2D<2>,
                                 Conv2D<11, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(2, 77,
                                                                                              2);
}

TEST_CASE("Conv2D input gradients in float (direct kernel) match double (im2col)") {
    // The first convolution's weight gradient flows through the second one's input gradient.
    check_float_gradients<ConvAfterConv<Conv2D<5, 3, Same>>>(3, 31);
    check_float_gradients<ConvAfterConv<Conv2D<4, 3>>>(2, 32);                 // valid
    check_float_gradients<ConvAfterConv<Conv2D<4, 4, Same>>>(2, 33);           // asymmetric pad
    check_float_gradients<ConvAfterConv<Conv2D<3, 3, Dilation<2, 3>>>>(2, 34); // dilation
    check_float_gradients<ConvAfterConv<Conv2D<7, 3, Padding<2>, NoBias>>>(2, 35);
    check_float_gradients<ConvAfterConv<Conv2D<17, 1>>>(2, 36);
    // Padded by more than the kernel's extent: the input gradient stays im2col (col2im).
    check_float_gradients<ConvAfterConv<Conv2D<3, 3, Padding<3>>>>(2, 37);
    // Strided and grouped convolutions stay on im2col for both passes.
    check_float_gradients<ConvAfterConv<Conv2D<4, 3, Stride<2>>>>(2, 38);
    check_float_gradients<ConvAfterConv<Conv2D<6, 3, Groups<3>, Same>>>(2, 39);
}
