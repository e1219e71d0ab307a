// Pooling (max, average, global) and upsampling (nearest, bilinear) on the CPU against naive
// loops and PyTorch's values, and how convolutions and pools lower to stages.
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

TEST_CASE("pooling forward equals naive loops") {
    check_pool_forward<Sequential<Input<2, 6, 6>, MaxPool2D<2>>>(2, 6, 6, 2, 2, 0, true, 3);
    check_pool_forward<Sequential<Input<2, 7, 7>, MaxPool2D<3, Stride<2>>>>(2, 7, 7, 3, 2, 0, true,
                                                                            3);
    check_pool_forward<Sequential<Input<2, 7, 7>, MaxPool2D<3, Stride<2>, Padding<1>>>>(
        2, 7, 7, 3, 2, 1, true, 3);
    check_pool_forward<Sequential<Input<2, 5, 5>, AvgPool2D<2>>>(2, 5, 5, 2, 2, 0, false, 3);
    check_pool_forward<Sequential<Input<2, 7, 7>, AvgPool2D<3, Stride<2>, Padding<1>>>>(
        2, 7, 7, 3, 2, 1, false, 3);
    check_pool_forward<Sequential<Input<3, 5, 5>, GlobalAvgPool>>(3, 5, 5, 5, 1, 0, false, 2);
}

TEST_CASE("MaxPool2D forward: a NaN in a window wins wherever it is, as in PyTorch") {
    // Three 2x2 windows of a [1, 2, 6] image: NaN first, NaN after the maximum, no NaN. Unpadded
    // windows take a branch-free path; a padded pooling (argmax by window) must agree with it.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x{nan, 1, 2,   9, 4, -1, //
                               0,   5, nan, 3, 7, 7};
    Model<Sequential<Input<1, 2, 6>, MaxPool2D<2>>> unpadded;
    const auto y = unpadded.forward(x, 1);
    REQUIRE(y.size() == 3);
    CHECK(std::isnan(y[0]));
    CHECK(std::isnan(y[1]));
    CHECK(y[2] == 7.0f);
    // 3x3 windows, stride 2, Padding<1>: columns -1..1 (NaN), 1..3 (NaN after the 9), 3..5.
    Model<Sequential<Input<1, 2, 6>, MaxPool2D<3, Stride<2>, Padding<1>>>> padded;
    const auto z = padded.forward(x, 1);
    REQUIRE(z.size() == 3);
    CHECK(std::isnan(z[0]));
    CHECK(std::isnan(z[1]));
    CHECK(z[2] == 9.0f);
}

TEST_CASE("MaxPool2D backward routes the gradient to the first maximum of a window") {
    // z = x0 + x1 (a 1x1 convolution with weights 1, 1) ties at positions 1 and 2 of the single
    // 2x2 window, with different splits between the channels: PyTorch picks the first.
    using Net = Sequential<Input<2, 2, 2>, Conv2D<1, 1, NoBias>, MaxPool2D<2>>;
    Model<Net, double> m;
    m.parameters()[0] = 1.0;
    m.parameters()[1] = 1.0;
    const std::vector<double> x{0.5, 2.0, 1.0, -1.0, 0.0, 0.0, 1.0, 0.0};
    m.forward(x, 1, Mode::training);
    const std::vector<double> target{0.0};
    CHECK(m.loss(loss::MSE{}, {.values = target}) == doctest::Approx(4.0));
    m.backward();
    // dL/dy = 2 * (2 - 0) = 4, routed to position 1: dL/dw = 4 * (x0[1], x1[1]) = (8, 0).
    CHECK(m.gradients()[0] == doctest::Approx(8.0));
    CHECK(m.gradients()[1] == doctest::Approx(0.0));
}

TEST_CASE("lowering: a convolution or a pool anchors a stage, and activations fuse after them") {
    using Net =
        Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<64, 3>, ReLU,
                   Dropout<0.25f>, MaxPool2D<2>, ReLU, Flatten, Dense<128>, ReLU, Dense<10>>;
    using S = stages_of<Net>;
    static_assert(forward_stage_count<Net> == 6);
    static_assert(at<0, S>::kind == LayerKind::conv);
    static_assert(at<0, S>::epilogue::size == 1);
    static_assert(at<1, S>::kind == LayerKind::pool);
    static_assert(at<1, S>::epilogue::size == 0);
    static_assert(at<2, S>::epilogue::size == 2);
    static_assert(at<3, S>::epilogue::size == 1);
    // conv: Z and Y; pool without epilogue: Z only; ...
    static_assert(activation_floats_per_sample<Net> ==
                  2 * 32 * 784 + 32 * 196 + 2 * 64 * 144 + 2 * 64 * 36 + 2 * 128 + 10);
    static_assert(gradient_floats_per_sample<Net> == 32 * 784);
    // im2col scratch of the widest convolution: 4 samples x 144 pixels x (288 taps + 64 outputs)
    static_assert(cpu::scratch_floats<S> == 4 * 144 * (288 + 64));
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("forward: 6 stage(s)") != std::string::npos);
    // Stride-1 convolutions run as direct convolutions on the CPU (float, own kernels).
    const std::string how = CTNN_CPU_FUSED ? "(direct)" : "(im2col gemm)";
    CHECK(d.find("stage 0: conv2d   Conv2D<32, 3, Same> " + how + " [1, 28, 28] -> " +
                 "[32, 28, 28]   epilogue: bias, ReLU\n") != std::string::npos);
    CHECK(d.find("stage 1: maxpool  MaxPool2D<2>") != std::string::npos);
    CHECK(d.find("[32, 28, 28] -> [32, 14, 14]\n") != std::string::npos);
    CHECK(d.find("epilogue: bias, ReLU, Dropout(0.25)") != std::string::npos);
    CHECK(d.find("[64, 12, 12] -> [64, 6, 6]   epilogue: ReLU") != std::string::npos);
    CHECK(d.find("0.weight [32, 1, 3, 3], 0.bias [32]") != std::string::npos);
    // The second convolution (32 -> 64 channels, 3 x 3) runs as Winograd F(2 x 2, 3 x 3).
    CHECK(d.find(std::string("Conv2D<64, 3> ") +
                 (CTNN_CPU_FUSED ? "(winograd 2x2)" : "(im2col gemm)") + " [32, 14, 14]") !=
          std::string::npos);
    CHECK(d.find(CTNN_CPU_FUSED ? "dW = winograd (dU = sum V^T (A dZ A^T), dW = G^T dU G), db = "
                                  "sum(dZ), dX = winograd conv of dZ (flipped kernel)"
                                : "dW = im2col(X)^T dZ (gemm), db = sum(dZ), dX = col2im(dZ W) "
                                  "(gemm)") != std::string::npos);
    // The first convolution (one input channel) keeps the direct kernel and im2col for dW.
    CHECK(d.find("stage 0: dZ = dY * epilogue'(Z); dW = im2col(X)^T dZ (gemm), db = sum(dZ)\n") !=
          std::string::npos);
    CHECK(d.find("argmax (recomputed)") != std::string::npos);
}

TEST_CASE("Upsample: shapes, no parameters, forward as PyTorch's nearest mode") {
    using Net = Sequential<Input<2, 2, 3>, Upsample<2>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<2, 4, 6>>);
    static_assert(Net::param_count == 0);
    static_assert(
        std::is_same_v<Sequential<Input<1, 3, 2>, Upsample<3>>::out_shape, Shape<1, 9, 6>>);
    static_assert(
        std::is_same_v<Sequential<Input<1, 3, 2>, Upsample<1>>::out_shape, Shape<1, 3, 2>>);
    // stages: upsample (anchor) with the ReLU fused
    using S = stages_of<Sequential<Input<2, 2, 3>, Upsample<2>, ReLU>>;
    static_assert(S::size == 1 && at<0, S>::kind == LayerKind::resample &&
                  at<0, S>::epilogue::size == 1);

    Model<Net> m;
    std::vector<float> x(2 * 2 * 2 * 3);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    const auto y = m.forward(x, 2);
    REQUIRE(y.size() == 2 * 2 * 4 * 6);
    // y[s][c][oy][ox] = x[s][c][oy / 2][ox / 2]
    for (std::size_t sc = 0; sc < 4; ++sc)
        for (std::size_t oy = 0; oy < 4; ++oy)
            for (std::size_t ox = 0; ox < 6; ++ox)
                CHECK(y[sc * 24 + oy * 6 + ox] == x[sc * 6 + (oy / 2) * 3 + ox / 2]);

    // Backward: each input's gradient is the sum over its 2 x 2 block (loss: sum of w_i y_i).
    using Back = Sequential<Input<1, 2, 2>, Conv2D<1, 1, NoBias>, Upsample<2>>;
    Model<Back, double> b;
    b.parameters()[0] = 1.0;
    const std::vector<double> xb{1.0, 2.0, 3.0, 4.0};
    std::vector<double> target(16, 0.0);
    // MSE = mean (y - t)^2, dL/dy = 2 (y - t) / 16; with t = y - 8 w, dL/dy = w.
    const auto yb = b.forward(xb, 1, Mode::training);
    std::vector<double> w(16);
    for (std::size_t i = 0; i < 16; ++i) {
        w[i] = static_cast<double>(i % 5) - 1.0;
        target[i] = yb[i] - 8.0 * w[i];
    }
    (void)b.loss(loss::MSE{}, {.values = target});
    b.backward();
    // dL/dweight = sum_q x_q * (sum of w over q's block)
    double want = 0;
    for (std::size_t iy = 0; iy < 2; ++iy)
        for (std::size_t ix = 0; ix < 2; ++ix) {
            double g = 0;
            for (std::size_t a = 0; a < 2; ++a)
                for (std::size_t c = 0; c < 2; ++c) g += w[(2 * iy + a) * 4 + 2 * ix + c];
            want += xb[iy * 2 + ix] * g;
        }
    CHECK(b.gradients()[0] == doctest::Approx(want));
}

TEST_CASE("gradient check: Upsample (factors 1, 2, 3), epilogues fused after it") {
    check_parameter_gradients<ConvSandwich<Upsample<2>, 2, 3, 3>>(loss::MSE{}, 3, 170);
    check_parameter_gradients<ConvSandwich<Upsample<3>, 2, 2, 3>>(loss::MSE{}, 3, 171);
    check_parameter_gradients<ConvSandwich<Upsample<1>, 2, 3, 2>>(loss::MSE{}, 3, 172);
    // An encoder-decoder: conv, pool, conv, upsample (SiLU fused), conv.
    check_parameter_gradients<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<3, 3, Same>, Tanh,
                   Upsample<2>, SiLU, Conv2D<2, 3, Same>>>(loss::MSE{}, 3, 173);
    // Upsample first (nothing to propagate to the input).
    check_parameter_gradients<
        Sequential<Input<1, 2, 3>, Upsample<2>, Conv2D<2, 3>, Flatten, Dense<2>>>(loss::MSE{}, 2,
                                                                                  174);
}

TEST_CASE("Upsample: describe() names the stage and its backward pass") {
    using Net = Sequential<Input<2, 3, 3>, Conv2D<2, 1>, Upsample<2>, ReLU, Flatten, Dense<2>>;
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("stage 1: upsample Upsample<2> (nearest) [2, 3, 3] -> [2, 6, 6]   epilogue: "
                 "ReLU") != std::string::npos);
    CHECK(d.find("stage 1: dZ = dY * epilogue'(Z); dX = sum of dZ over each 2 x 2 block") !=
          std::string::npos);
    CHECK(d.find("resample  Upsample<2> [2, 3, 3] -> [2, 6, 6], fused: ReLU") != std::string::npos);
}

TEST_CASE("Upsample<S, Bilinear>: PyTorch's values (align_corners=False) and gradient checks") {
    // torch.nn.Upsample(scale_factor=2, mode="bilinear")(torch.tensor([[[[1., 2.], [3., 4.]]]]))
    using Net = Sequential<Input<1, 2, 2>, Upsample<2, Bilinear>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<1, 4, 4>>);
    Model<Net, double> m;
    const std::vector<double> x{1, 2, 3, 4};
    const auto y = m.forward(x, 1);
    const std::vector<double> want{1.00, 1.25, 1.75, 2.00, 1.50, 1.75, 2.25, 2.50,
                                   2.50, 2.75, 3.25, 3.50, 3.00, 3.25, 3.75, 4.00};
    REQUIRE(y.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]));
    CHECK(Upsample<3, Bilinear>::name() == "Upsample<3, Bilinear>");

    check_parameter_gradients<ConvSandwich<Upsample<2, Bilinear>, 2, 3, 3>>(loss::MSE{}, 3, 175);
    check_parameter_gradients<ConvSandwich<Upsample<3, Bilinear>, 2, 2, 4>>(loss::MSE{}, 3, 176);
    check_parameter_gradients<ConvSandwich<Upsample<1, Bilinear>, 2, 3, 2>>(loss::MSE{}, 3, 177);
    check_parameter_gradients<ConvSandwich<Upsample<2, Bilinear>, 2, 1, 3>>(loss::MSE{}, 3, 178);
}
