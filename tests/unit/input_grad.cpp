// Model::input_gradient: the gradient of the loss with respect to the model input, against central
// finite differences in double, for every way a model can start (a Dense, an activation, a
// convolution, a pool, a normalization, a block whose branches read the input); float against
// double; what it leaves unchanged; its errors.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

using namespace ctnn;
using ctnn::test::check_float_matches;
using ctnn::test::random_values;
using ctnn::test::relative_error;

namespace {

struct Case {
    std::vector<double> x, values;
    std::vector<std::int32_t> labels;
    loss::Targets<double> targets() const { return {labels, values}; }
};

template <class Net>
Case make_case(std::size_t batch, std::uint64_t seed) {
    Case c;
    c.x = random_values(batch * Net::in_size, seed + 2, -1.5, 1.5);
    c.values = random_values(batch * Net::out_size, seed + 3, 0.0, 1.0);
    c.labels.resize(batch);
    for (std::size_t b = 0; b < batch; ++b)
        c.labels[b] = static_cast<std::int32_t>((b * 5 + seed) % Net::out_size);
    return c;
}

/// input_gradient of Model<Net, double> against central differences of the mean loss over each
/// input value, with forward passes in `mode` (Dropout masks replayed from the same step).
template <class Net, class L>
void check_input_gradient(const L& l, std::size_t batch, std::uint64_t seed,
                          Mode mode = Mode::inference, double tolerance = 1e-6) {
    Model<Net, double> m(device::cpu());
    m.init(seed, Init::xavier_uniform);
    auto p = m.parameters();
    const auto noise = random_values(p.size(), seed + 1, -0.1, 0.1);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += noise[i];
    Case c = make_case<Net>(batch, seed);
    const std::uint64_t step = 7;
    m.set_step(step);
    const std::vector<double> analytic = m.input_gradient(c.x, l, c.targets(), mode);
    REQUIRE(analytic.size() == c.x.size());
    CHECK(m.step() == (mode == Mode::training ? step + 1 : step));

    const double h = 1e-6;
    auto loss_at = [&] {
        m.set_step(step);
        m.forward(c.x, batch, mode);
        return m.loss(l, c.targets());
    };
    double worst = 0, norm = 0;
    std::size_t worst_i = 0;
    for (std::size_t i = 0; i < c.x.size(); ++i) {
        const double saved = c.x[i];
        c.x[i] = saved + h;
        const double fp = loss_at();
        c.x[i] = saved - h;
        const double fm = loss_at();
        c.x[i] = saved;
        const double err = relative_error(analytic[i], (fp - fm) / (2 * h));
        if (err > worst) worst = err, worst_i = i;
        norm += analytic[i] * analytic[i];
    }
    INFO("worst input index " << worst_i << " of " << c.x.size());
    CHECK(worst <= tolerance);
    CHECK(norm > 0); // the check can fail: the gradient is not all zero
}

} // namespace

TEST_CASE("input_gradient: Dense chains, a leading activation, a model without parameters") {
    check_input_gradient<Sequential<Input<5>, Dense<4>, Tanh, Dense<3>>>(
        loss::SoftmaxCrossEntropy{}, 3, 1);
    check_input_gradient<Sequential<Input<2, 3>, Flatten, Tanh, Dense<3>, ELU<1.0f>>>(loss::MSE{},
                                                                                      2, 2);
    check_input_gradient<Sequential<Input<4>, Sigmoid, Softmax>>(loss::MSE{}, 2, 3);
    check_input_gradient<Sequential<Input<6>, Dense<4, NoBias>, SiLU, LogSoftmax>>(loss::NLLLoss{},
                                                                                   3, 4);
}

TEST_CASE("input_gradient: convolutions, pools and upsampling first") {
    check_input_gradient<
        Sequential<Input<2, 5, 5>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<2>>>(
        loss::SoftmaxCrossEntropy{}, 2, 10);
    check_input_gradient<Sequential<
        Input<2, 6, 5>, Conv2D<4, Kernel{3, 2}, Stride<2, 1>, Groups<2>>, Tanh, Flatten, Dense<2>>>(
        loss::MSE{}, 2, 11);
    check_input_gradient<Sequential<Input<1, 5, 5>, MaxPool2D<3, Stride<1>>, Conv2D<2, 2>, Sigmoid,
                                    Flatten, Dense<3>>>(loss::SoftmaxCrossEntropy{}, 2, 12);
    check_input_gradient<Sequential<Input<2, 4, 4>, AvgPool2D<2>, Flatten, Dense<2>>>(loss::MSE{},
                                                                                      2, 13);
    check_input_gradient<Sequential<Input<1, 2, 3>, Upsample<2>, Conv2D<2, 3>, Flatten, Dense<2>>>(
        loss::MSE{}, 2, 14);
}

TEST_CASE("input_gradient: sequences: recurrent layers, a Dense at every step, step pooling") {
    check_input_gradient<Sequential<Input<4, 3>, LSTM<5, ReturnSequences>, MeanOverSteps>>(
        loss::MSE{}, 3, 60);
    check_input_gradient<
        Sequential<Input<4, 3>, Dense<5>, Tanh, GRU<4, ReturnSequences>, LastStep, Dense<2>>>(
        loss::MSE{}, 2, 61);
    check_input_gradient<
        Sequential<Input<3, 2>, RNN<3, ReLU, ReturnSequences>, Dense<2, NoBias>, Flatten, Softmax>>(
        loss::MSE{}, 2, 62);
    check_input_gradient<
        Sequential<Input<4, 2>, Bidirectional<LSTM<3, ReturnSequences>>, LastStep>>(loss::MSE{}, 2,
                                                                                    63);
}

TEST_CASE("input_gradient: blocks whose branches read the input, nested, with identities") {
    check_input_gradient<
        Sequential<Input<2, 4, 4>, Residual<Conv2D<2, 3, Same>, Tanh>, ReLU, Flatten, Dense<2>>>(
        loss::MSE{}, 2, 20);
    check_input_gradient<Sequential<Input<6>, Concat<Branch<Dense<3>, Tanh>, Branch<>>, Dense<2>>>(
        loss::SoftmaxCrossEntropy{}, 3, 21);
    check_input_gradient<
        Sequential<Input<4>, Residual<Residual<Dense<4>, Tanh>, Dense<4>>, Sigmoid, Dense<2>>>(
        loss::MSE{}, 2, 22);
    check_input_gradient<Sequential<Input<5>, Add<Branch<Dense<3>>, Branch<Dense<3>, ReLU>>>>(
        loss::MSE{}, 2, 23);
}

TEST_CASE("input_gradient: normalization in inference and in training, Dropout replayed") {
    using Bn = Sequential<Input<2, 3, 3>, BatchNorm, Conv2D<3, 3, Same, NoBias>, BatchNorm, ReLU,
                          GlobalAvgPool, Flatten, Dense<2>>;
    check_input_gradient<Bn>(loss::SoftmaxCrossEntropy{}, 3, 30, Mode::inference);
    check_input_gradient<Bn>(loss::SoftmaxCrossEntropy{}, 3, 31, Mode::training);
    check_input_gradient<Sequential<Input<6>, LayerNorm, Dense<3>, Tanh>>(loss::MSE{}, 2, 32);
    check_input_gradient<Sequential<Input<6>, Dense<8>, ReLU, Dropout<0.3f>, Dense<2>>>(
        loss::MSE{}, 3, 33, Mode::training);
}

TEST_CASE("input_gradient in float equals double; gradients and the last output are kept") {
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
