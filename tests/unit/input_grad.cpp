// Model::input_gradient: the gradient of the loss with respect to the model input, against central
// finite differences in double, for every way a model can start (a Dense, an activation, a
// convolution, a pool, a normalization, a block whose branches read the input). Float against
// double, what it leaves unchanged, its errors: input_grad_float.cpp.
#include "input_grad_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

using namespace ctnn;
using ctnn::test::random_values;
using ctnn::test::relative_error;
using namespace ctnn::test::input_grad;

namespace {

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
