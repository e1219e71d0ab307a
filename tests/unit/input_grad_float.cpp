// Model::input_gradient in float against the same model in double (the direct and Winograd
// kernels at the input, the fused MLP executor), what it keeps, and its errors. Split from
// input_grad.cpp to keep each test TU's compile short (docs/building.md).
#include "input_grad_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

using namespace ctnn;
using ctnn::test::check_float_matches;
using namespace ctnn::test::input_grad;

TEST_CASE("input_gradient in float equals double, and gradients and the last output are kept") {
    using Net = Sequential<Input<1, 6, 6>, Conv2D<9, 3, Same>, ReLU, Conv2D<8, 3, Same>, ReLU,
                           Flatten, Dense<16>, Tanh, Dense<3>>;
    const std::size_t batch = 4;
    Model<Net> mf(device::cpu());
    mf.init(40);
    Model<Net, double> md(device::cpu());
    std::copy(mf.parameters().begin(), mf.parameters().end(), md.parameters().begin());
    const Case c = make_case<Net>(batch, 41);
    const std::vector<float> xf(c.x.begin(), c.x.end());
    const std::vector<double> xd(xf.begin(), xf.end());
    const std::vector<float> vf(c.values.begin(), c.values.end());
    const loss::Targets<float> tf{c.labels, vf};

    // A training step's outputs and gradients, then input_gradient on other inputs.
    const auto y0 = mf.forward(xf, batch, Mode::training);
    const std::vector<float> y_before(y0.begin(), y0.end());
    mf.loss(loss::SoftmaxCrossEntropy{}, tf);
    mf.backward();
    const std::vector<float> g_before(mf.gradients().begin(), mf.gradients().end());
    std::vector<float> other(xf.size());
    std::transform(xf.begin(), xf.end(), other.begin(), [](float v) { return -v; });
    const auto gf = mf.input_gradient(other, loss::SoftmaxCrossEntropy{}, tf);
    CHECK(std::equal(y_before.begin(), y_before.end(), y0.begin())); // the view is still valid
    CHECK(std::equal(g_before.begin(), g_before.end(), mf.gradients().begin()));

    const std::vector<double> od(other.begin(), other.end());
    const auto gd = md.input_gradient(od, loss::SoftmaxCrossEntropy{}, c.targets());
    check_float_matches(gf, gd);

    // A step on the gradient's sign lowers the loss (the fast gradient sign method, reversed).
    std::vector<float> x2(other);
    for (std::size_t i = 0; i < x2.size(); ++i) x2[i] -= 0.01f * (gf[i] > 0 ? 1.0f : -1.0f);
    mf.forward(other, batch);
    const float before = mf.loss(loss::SoftmaxCrossEntropy{}, tf);
    mf.forward(x2, batch);
    CHECK(mf.loss(loss::SoftmaxCrossEntropy{}, tf) < before);
}

/// input_gradient of Net in float (the direct and Winograd kernels where they apply) against the
/// same model in double (im2col + GEMM).
template <class Net>
void check_float_input_gradient(std::size_t batch, std::uint64_t seed) {
    Model<Net> mf(device::cpu());
    mf.init(seed);
    Model<Net, double> md(device::cpu());
    std::copy(mf.parameters().begin(), mf.parameters().end(), md.parameters().begin());
    const Case c = make_case<Net>(batch, seed + 1);
    const std::vector<float> xf(c.x.begin(), c.x.end());
    const std::vector<double> xd(xf.begin(), xf.end());
    const std::vector<float> vf(c.values.begin(), c.values.end());
    const auto gf = mf.input_gradient(xf, loss::MSE{}, {c.labels, vf});
    const auto gd = md.input_gradient(xd, loss::MSE{}, c.targets());
    check_float_matches(gf, gd);
}

TEST_CASE("input_gradient in float: direct and Winograd convolutions at the input") {
    // 8 channels, 3 x 3: Winograd, its input gradient direct (Same) or by col2im (padding 3 is
    // wider than the kernel's extent); a 1 x 5 direct convolution; stride 2 (im2col).
    check_float_input_gradient<
        Sequential<Input<8, 5, 6>, Conv2D<8, 3, Same>, ReLU, Flatten, Dense<3>>>(2, 60);
    check_float_input_gradient<
        Sequential<Input<8, 4, 4>, Conv2D<8, 3, Padding<3>>, Tanh, Flatten, Dense<3>>>(2, 61);
    check_float_input_gradient<Sequential<Input<3, 5, 9>, Conv2D<4, Kernel{1, 5}, Same>, ReLU,
                                          MaxPool2D<2>, Flatten, Dense<2>>>(3, 62);
    check_float_input_gradient<
        Sequential<Input<3, 7, 7>, Conv2D<4, 3, Stride<2>>, ReLU, Flatten, Dense<2>>>(2, 63);
}

TEST_CASE("input_gradient: the fused MLP executor's model, and bad arguments") {
    using Net = Sequential<Input<8>, Dense<16>, ReLU, Dense<4>>;
    Model<Net> m(device::cpu());
    m.init(50);
    Model<Net, double> md(device::cpu());
    std::copy(m.parameters().begin(), m.parameters().end(), md.parameters().begin());
    const Case c = make_case<Net>(3, 51);
    const std::vector<float> x(c.x.begin(), c.x.end());
    const std::vector<float> v(c.values.begin(), c.values.end());
    const auto g = m.input_gradient(x, loss::MSE{}, {c.labels, v});
    const std::vector<double> xd(x.begin(), x.end());
    const auto gd = md.input_gradient(xd, loss::MSE{}, c.targets());
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(gd[i]).epsilon(1e-4));

    CHECK_THROWS_AS(
        m.input_gradient(std::span<const float>(x).first(7), loss::MSE{}, {c.labels, v}),
        shape_error);
    CHECK_THROWS_AS(
        m.input_gradient(std::span<const float>(x).first(8), loss::MSE{}, {c.labels, v}),
        shape_error); // 1 sample, 3 samples of targets
    CHECK_THROWS_AS(m.input_gradient(std::span<const float>(), loss::MSE{}, {c.labels, v}),
                    shape_error);
}
