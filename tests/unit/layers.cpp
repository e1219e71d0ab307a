// Layers: shapes, parameter layouts, and every layer's backward pass against finite differences.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;

// A layer L is checked between two Dense layers, so that its backward pass is what carries the
// gradient to the first Dense's parameters.
template <class L, std::size_t W = 6>
using Sandwich = Sequential<Input<5>, Dense<W>, L, Dense<3>>;

TEST_CASE("gradient check: Dense with and without bias") {
    check_parameter_gradients<Sequential<Input<7>, Dense<4>>>(loss::MSE{}, 3, 1);
    check_parameter_gradients<Sequential<Input<7>, Dense<4, NoBias>>>(loss::MSE{}, 3, 2);
    check_parameter_gradients<Sequential<Input<7>, Dense<5>, Dense<4, NoBias>, Dense<2>>>(
        loss::MSE{}, 4, 3);
}

TEST_CASE("gradient check: batch of one and wide layers") {
    check_parameter_gradients<Sequential<Input<3>, Dense<33>, Tanh, Dense<2>>>(loss::MSE{}, 1, 4);
}

TEST_CASE("gradient check: activations") {
    check_parameter_gradients<Sandwich<ReLU>>(loss::MSE{}, 4, 10);
    check_parameter_gradients<Sandwich<LeakyReLU<0.1f>>>(loss::MSE{}, 4, 11);
    check_parameter_gradients<Sandwich<ELU<1.0f>>>(loss::MSE{}, 4, 12);
    check_parameter_gradients<Sandwich<Sigmoid>>(loss::MSE{}, 4, 13);
    check_parameter_gradients<Sandwich<Tanh>>(loss::MSE{}, 4, 14);
    check_parameter_gradients<Sandwich<GELU>>(loss::MSE{}, 4, 15);
    check_parameter_gradients<Sandwich<GELUTanh>>(loss::MSE{}, 4, 16);
    check_parameter_gradients<Sandwich<SiLU>>(loss::MSE{}, 4, 17);
    check_parameter_gradients<Sandwich<Softplus<>>>(loss::MSE{}, 4, 18);
    check_parameter_gradients<Sandwich<Softplus<2.0f, 1.0f>>>(loss::MSE{}, 4, 19);
    check_parameter_gradients<Sandwich<Identity>>(loss::MSE{}, 4, 20);
}

TEST_CASE("gradient check: chains of elementwise layers fused in one epilogue") {
    check_parameter_gradients<Sequential<Input<5>, Dense<6>, Tanh, SiLU, Sigmoid, Dense<2>>>(
        loss::MSE{}, 3, 21);
}

TEST_CASE("gradient check: user-defined activation from an expression") {
    using namespace ctnn::expr;
    using Swish2 = Activation<x * sigmoid(2.0f * x)>;
    using Odd = Activation<where(x > 0.0f, log1p(x * x), -sqrt(1.0f + x * x) + 1.0f)>;
    check_parameter_gradients<Sandwich<Swish2>>(loss::MSE{}, 4, 22);
    check_parameter_gradients<Sandwich<Odd>>(loss::MSE{}, 4, 23);
}

TEST_CASE("gradient check: Dropout in training mode (mask replayed)") {
    check_parameter_gradients<Sandwich<Dropout<0.3f>, 16>>(loss::MSE{}, 4, 30);
    check_parameter_gradients<Sequential<Input<5>, Dense<16>, ReLU, Dropout<0.5f>, Dense<3>>>(
        loss::MSE{}, 4, 31);
}

TEST_CASE("gradient check: Softmax and LogSoftmax") {
    check_parameter_gradients<Sandwich<Softmax>>(loss::MSE{}, 4, 40);
    check_parameter_gradients<Sandwich<LogSoftmax>>(loss::MSE{}, 4, 41);
    check_parameter_gradients<Sequential<Input<5>, Dense<6>, Softmax, Tanh, Dense<3>>>(loss::MSE{},
                                                                                       4, 42);
    check_parameter_gradients<Sequential<Input<5>, Dense<4>, LogSoftmax>>(loss::MSE{}, 4, 43);
}

TEST_CASE("gradient check: leading elementwise stage and views") {
    check_parameter_gradients<Sequential<Input<2, 3>, Tanh, Flatten, Dense<4>, Sigmoid,
                                         Reshape<2, 2>, Flatten, Dense<2>>>(loss::MSE{}, 3, 50);
}

TEST_CASE("Dropout: inference is the identity, training zeroes about P and rescales") {
    using Net = Sequential<Input<1000>, Dropout<0.25f>>;
    Model<Net> m;
    m.init(3);
    std::vector<float> x(2000, 2.0f);
    auto y = m.forward(x, 2, Mode::inference);
    CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 2.0f; }));
    y = m.forward(x, 2, Mode::training);
    std::size_t zeros = 0;
    for (float v : y) {
        CHECK((v == 0.0f || v == doctest::Approx(2.0f / 0.75f)));
        zeros += v == 0.0f;
    }
    CHECK(zeros > 400);
    CHECK(zeros < 600);
    // A new step draws a new mask; the same step replays the same mask.
    const std::vector<float> first(y.begin(), y.end());
    y = m.forward(x, 2, Mode::training);
    CHECK(!std::equal(first.begin(), first.end(), y.begin()));
    m.set_step(m.step() - 2);
    y = m.forward(x, 2, Mode::training);
    CHECK(std::equal(first.begin(), first.end(), y.begin()));
}

TEST_CASE("Softmax rows sum to one and LogSoftmax is its log") {
    using P = Sequential<Input<4>, Softmax>;
    using LP = Sequential<Input<4>, LogSoftmax>;
    Model<P> p;
    Model<LP> lp;
    const std::vector<float> x{1000.0f, 1001.0f, 999.0f, -5.0f, 0.1f, 0.2f, 0.3f, 0.4f};
    const auto y = p.forward(x, 2);
    const std::vector<float> probs(y.begin(), y.end());
    const auto ly = lp.forward(x, 2);
    for (std::size_t b = 0; b < 2; ++b) {
        float s = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            s += probs[b * 4 + j];
            CHECK(std::isfinite(ly[b * 4 + j]));
            if (probs[b * 4 + j] > 1e-30f) // exp(-1006) underflows in float; log-softmax does not
                CHECK(std::log(probs[b * 4 + j]) == doctest::Approx(ly[b * 4 + j]).epsilon(1e-4));
        }
        CHECK(s == doctest::Approx(1.0f));
    }
}

TEST_CASE("LogSoftmax of large equal inputs is -log(n), not 0 (no cancellation)") {
    // x - (m + log(s)) rounds log(s) away when |m| is large; (x - m) - log(s) does not.
    Model<Sequential<Input<3>, LogSoftmax>> lp;
    const std::vector<float> x{1e30f, 1e30f, 1e30f, -1e30f, -1e30f, -1e30f};
    const auto y = lp.forward(x, 2);
    for (const float v : y) CHECK(v == doctest::Approx(-std::log(3.0f)));
}

TEST_CASE("parameter names, shapes and offsets follow PyTorch's nn.Sequential") {
    using Net = Sequential<Input<784>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
    const auto t = parameter_table<Net>();
    REQUIRE(t.size() == 4);
    CHECK(t[0].name == "0.weight");
    CHECK(t[0].offset == 0);
    CHECK(t[0].spec.dims[0] == 256);
    CHECK(t[0].spec.dims[1] == 784);
    CHECK(t[1].name == "0.bias");
    CHECK(t[1].offset == 256 * 784);
    CHECK(t[2].name == "3.weight");
    CHECK(t[2].offset == 256 * 784 + 256);
    CHECK(t[3].name == "3.bias");
    CHECK(t[3].offset + t[3].size == Net::param_count);
    static_assert(Net::param_count == 784 * 256 + 256 + 256 * 10 + 10);
    static_assert(std::is_same_v<Net::out_shape, Shape<10>>);
    using NoBiasNet = Sequential<Input<4>, Dense<3, NoBias>>;
    static_assert(NoBiasNet::param_count == 12);
    static_assert(!Dense<3, NoBias>::has_bias && Dense<3>::has_bias);
    CHECK(Dense<3, NoBias>::name() == "Dense<3, no bias>");
    CHECK(parameter_table<NoBiasNet>().size() == 1);
    CHECK(parameter_table<NoBiasNet>()[0].name == "0.weight");
}

TEST_CASE("Dense computes W x + b with W stored [out, in] row-major") {
    using Net = Sequential<Input<3>, Dense<2>>;
    Model<Net> m;
    auto p = m.parameters();
    const float w[] = {1, 2, 3, 4, 5, 6, 0.5f, -1}; // W = [[1,2,3],[4,5,6]], b = [0.5, -1]
    std::copy(std::begin(w), std::end(w), p.begin());
    const std::vector<float> x{1, 0, -1, 2, 1, 0};
    const auto y = m.forward(x, 2);
    CHECK(y[0] == doctest::Approx(1 - 3 + 0.5));
    CHECK(y[1] == doctest::Approx(4 - 6 - 1));
    CHECK(y[2] == doctest::Approx(2 + 2 + 0.5));
    CHECK(y[3] == doctest::Approx(8 + 5 - 1));
}
