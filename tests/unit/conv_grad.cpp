// Conv2D and pooling layers against finite differences (double), and a small CNN that learns.
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

TEST_CASE("gradient check: Conv2D, valid and same padding, odd and even kernels") {
    check_parameter_gradients<Sequential<Input<2, 5, 5>, Conv2D<3, 3>, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 100);
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Same>>>(loss::MSE{}, 3, 101);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 4, Same>>>(loss::MSE{}, 3, 102);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 2>, 2, 4, 5>>(loss::MSE{}, 3, 103);
}

TEST_CASE("gradient check: Conv2D stride, padding and dilation") {
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Stride<2>>, 2, 7, 7>>(loss::MSE{}, 3, 110);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Stride<2, 1>, Padding<1, 2>>, 2, 6, 5>>(
        loss::MSE{}, 3, 111);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Dilation<2>>, 2, 6, 6>>(loss::MSE{}, 3,
                                                                                112);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Dilation<2, 1>, Same>, 2, 6, 5>>(
        loss::MSE{}, 3, 113);
    check_parameter_gradients<ConvSandwich<Conv2D<2, 3, Stride<3>, Padding<2>>, 2, 5, 5>>(
        loss::MSE{}, 3, 114);
}

TEST_CASE("gradient check: Conv2D groups, depthwise and no bias") {
    check_parameter_gradients<ConvSandwich<Conv2D<6, 3, Groups<2>, Padding<1>>, 4, 4, 4>>(
        loss::MSE{}, 3, 120);
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Depthwise, Same>, 3, 5, 5>>(loss::MSE{}, 3,
                                                                                    121);
    check_parameter_gradients<ConvSandwich<Conv2D<6, 3, Depthwise, Stride<2>>, 3, 5, 5>>(
        loss::MSE{}, 3, 122);
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, NoBias, Same>>>(loss::MSE{}, 3, 123);
    check_parameter_gradients<
        Sequential<Input<2, 4, 4>, Conv2D<4, 3, Groups<2>, NoBias>, Flatten, Dense<2>>>(loss::MSE{},
                                                                                        3, 124);
}

TEST_CASE("gradient check: Conv2D with a fused epilogue, dropout and a chunked batch") {
    check_parameter_gradients<ConvSandwich<Conv2D<3, 3, Same>, 2, 5, 5>>(loss::MSE{}, 3, 130);
    check_parameter_gradients<Sequential<Input<2, 5, 5>, Conv2D<4, 3, Same>, Tanh, Dropout<0.3f>,
                                         Conv2D<2, 3>, SiLU, Flatten, Dense<2>>>(loss::MSE{}, 3,
                                                                                 131);
    // 256 output pixels: 2 samples per GEMM, the batch of 3 ends with a partial chunk.
    check_parameter_gradients<Sequential<Input<1, 16, 16>, Conv2D<2, 3, Same>, Tanh,
                                         Conv2D<2, 3, Same>, GlobalAvgPool, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 132);
}

TEST_CASE("gradient check: MaxPool2D, non-overlapping, overlapping, padded and odd sizes") {
    check_parameter_gradients<ConvSandwich<MaxPool2D<2>, 2, 4, 4>>(loss::MSE{}, 3, 140);
    check_parameter_gradients<ConvSandwich<MaxPool2D<2>, 2, 5, 5>>(loss::MSE{}, 3, 141);
    check_parameter_gradients<ConvSandwich<MaxPool2D<3, Stride<2>>, 2, 7, 7>>(loss::MSE{}, 3, 142);
    check_parameter_gradients<ConvSandwich<MaxPool2D<3, Stride<1>, Padding<1>>, 2, 5, 4>>(
        loss::MSE{}, 3, 143);
}

TEST_CASE("gradient check: AvgPool2D and GlobalAvgPool") {
    check_parameter_gradients<ConvSandwich<AvgPool2D<2>, 2, 5, 5>>(loss::MSE{}, 3, 150);
    check_parameter_gradients<ConvSandwich<AvgPool2D<3, Stride<2>, Padding<1>>, 2, 7, 7>>(
        loss::MSE{}, 3, 151);
    check_parameter_gradients<ConvSandwich<GlobalAvgPool, 3, 5, 4>>(loss::MSE{}, 3, 152);
}

TEST_CASE("gradient check: activations fused after pools, a small CNN classifier") {
    check_parameter_gradients<Sequential<Input<2, 6, 6>, Conv2D<3, 3, Same>, MaxPool2D<2>, Tanh,
                                         Conv2D<2, 3>, AvgPool2D<1>, Sigmoid, Flatten, Dense<3>>>(
        loss::MSE{}, 3, 160);
    check_parameter_gradients<
        Sequential<Input<1, 8, 8>, Conv2D<4, 3, Same>, SiLU, MaxPool2D<2>, Conv2D<4, 3, Same>, SiLU,
                   MaxPool2D<2>, Flatten, Dense<8>, Tanh, Dense<3>>>(loss::SoftmaxCrossEntropy{}, 4,
                                                                     161);
}

TEST_CASE("a small CNN learns: training loss falls and float matches double") {
    using Net =
        Sequential<Input<1, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<2>>;
    // Two classes: a bright vertical or horizontal bar.
    Dataset d;
    d.feature_count = 36;
    for (std::size_t i = 0; i < 64; ++i) {
        std::vector<float> img(36, 0.0f);
        const std::size_t pos = i % 6;
        const bool vertical = (i / 6) % 2 == 0;
        for (std::size_t t = 0; t < 6; ++t) img[vertical ? t * 6 + pos : pos * 6 + t] = 1.0f;
        d.features.insert(d.features.end(), img.begin(), img.end());
        d.labels.push_back(vertical ? 0 : 1);
    }
    Model<Net> m;
    m.init(5);
    std::ostringstream quiet;
    const auto h = train(m, d, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 1e-2f},
                         {.epochs = 30, .batch = 16, .progress = Progress::silent, .out = &quiet});
    CHECK(h.last().train.loss < 0.5 * h.epochs.front().train.loss);
    CHECK(evaluate(m, d, loss::SoftmaxCrossEntropy{}).accuracy == doctest::Approx(1.0));

    Model<Net, double> md;
    const auto p = m.parameters();
    std::copy(p.begin(), p.end(), md.parameters().begin());
    const std::vector<float> xf(d.features.begin(), d.features.begin() + 4 * 36);
    const std::vector<double> xd(xf.begin(), xf.end());
    const auto yf = m.forward(xf, 4);
    const auto yd = md.forward(xd, 4);
    for (std::size_t i = 0; i < yf.size(); ++i)
        CHECK(yf[i] == doctest::Approx(yd[i]).epsilon(1e-4));
}

// --- Upsample ------------------------------------------------------------------------------------
