// Sequence layers around the recurrent cells: Embedding (gather, its gradient, its checks on the
// ids), a Dense at every step, LastStep and MeanOverSteps, Bidirectional, and the float step kernel
// against double; gradients against finite differences in double. The cells themselves and the
// PyTorch references: recurrent.cpp (a TU of its own to keep each test TU's compile time short).
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;

namespace {
/// Token ids 0 .. vocab - 1 as the model's input values.
std::vector<double> token_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = double((i * 5 + seed * 3 + i / 3) % vocab);
    return x;
}
} // namespace

TEST_CASE(
    "Embedding gathers rows of its weight, and its gradient adds up the rows of repeated ids") {
    using Net = Sequential<Input<3>, Embedding<4, 2>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<3, 2>>);
    CHECK(parameter_table<Net>()[0].name == "0.weight");
    Model<Net> m(device::cpu());
    auto p = m.parameters();
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = float(i); // row r is {2r, 2r + 1}
    const std::vector<float> x{3, 0, 3, 1, 1, 2};
    const auto y = m.forward(x, Mode::training);
    const std::vector<float> expected{6, 7, 0, 1, 6, 7, 2, 3, 2, 3, 4, 5};
    CHECK(std::vector<float>(y.begin(), y.end()) == expected);
    // MSE against zero targets: dL/dy = 2 y / 12; row 3 gets both of sample 0's steps 0 and 2.
    const std::vector<float> zeros(12, 0.0f);
    m.loss(loss::MSE{}, {{}, zeros});
    m.backward();
    const auto g = m.gradients();
    CHECK(g[6] == doctest::Approx(2 * (6 + 6) / 12.0));
    CHECK(g[7] == doctest::Approx(2 * (7 + 7) / 12.0));
    CHECK(g[2] == doctest::Approx(2 * (2 + 2) / 12.0));
    CHECK(g[0] == doctest::Approx(0.0)); // row 0 appears once, with y = 0 and 1
    CHECK(g[1] == doctest::Approx(2 * 1 / 12.0));
    // PyTorch's initialization: N(0, 1) whatever the scheme.
    Model<Sequential<Input<2>, Embedding<1000, 10>>> big;
    big.init(5, Init::xavier_uniform);
    double sum = 0, sq = 0;
    for (float v : big.parameters()) sum += v, sq += double(v) * v;
    CHECK(sum / 10000 == doctest::Approx(0.0).epsilon(0.05));
    CHECK(sq / 10000 == doctest::Approx(1.0).epsilon(0.05));
}

TEST_CASE("Embedding refuses ids that are not integers below its vocabulary size, naming sample "
          "and step") {
    using Net = Sequential<Input<3>, Embedding<4, 2>, GRU<3>>;
    const unsigned threads = num_threads();
    set_num_threads(2); // the batch is split between threads: the error must still reach us
    using Split = cpu::BatchParallel<Net, float>;
    const std::size_t batch = 2 * Split::min_part;
    REQUIRE(Split::parts_for(batch) == 2); // sample 1.5 * min_part is a worker's
    Model<Net> m(device::cpu());
    m.init(1);
    std::vector<float> x(3 * batch, 1.0f);
    const std::size_t sample = 3 * Split::min_part / 2;
    CHECK_NOTHROW(m.forward(x, Mode::training));
    for (const float bad : {-1.0f, 4.0f, 2.5f, std::nanf("")}) {
        CAPTURE(bad);
        x[3 * sample + 2] = bad;
        try {
            m.forward(x, Mode::training);
            FAIL("no error for a bad token id");
        } catch (const argument_error& e) {
            const std::string what = e.what();
            CHECK(what.find("Embedding<4, 2> (layer 0): sample " + std::to_string(sample) +
                            ", step 2: token id") != std::string::npos);
            CHECK(what.find("is not an integer in [0, 4)") != std::string::npos);
        }
        CHECK_THROWS_AS((void)m.predict(x), argument_error);
    }
    x[3 * sample + 2] = 3.0f;
    CHECK_NOTHROW(m.forward(x, Mode::training));
    set_num_threads(threads);
}

TEST_CASE("gradient check: Embedding before recurrent layers") {
    using Net = Sequential<Input<4>, Embedding<5, 3>, LSTM<4, ReturnSequences>, GRU<3>, Dense<2>>;
    ctnn::test::check_parameter_gradients_at<Net>(loss::MSE{}, token_ids(3 * 4, 5, 1), 3, 12);
    using Viewed = Sequential<Input<2, 3>, Flatten, Embedding<5, 2>, RNN<3>, Dense<2>>;
    ctnn::test::check_parameter_gradients_at<Viewed>(loss::MSE{}, token_ids(2 * 6, 5, 2), 2, 13);
}

TEST_CASE("Dense at every step of a sequence, LastStep and MeanOverSteps") {
    using Net = Sequential<Input<4, 3>, Dense<5>, LSTM<2, ReturnSequences>, Dense<6, NoBias>,
                           MeanOverSteps>;
    static_assert(std::is_same_v<Net::out_shape, Shape<6>>);
    static_assert(Net::param_count == 5 * 3 + 5 + 8 * (5 + 2 + 2) + 6 * 2);
    const auto t = parameter_table<Net>();
    CHECK(t[0].spec.dims[0] == 5);
    CHECK(t[0].spec.dims[1] == 3); // the weight is per step: [5, 3], not [5, 12]
    CHECK(LastStep::name() == "LastStep");
    // A Dense at every step equals the same Dense applied to each step alone.
    Model<Sequential<Input<4, 3>, Dense<2>, Tanh>> seq(device::cpu());
    Model<Sequential<Input<3>, Dense<2>, Tanh>> one(device::cpu());
    seq.init(4);
    std::copy(seq.parameters().begin(), seq.parameters().end(), one.parameters().begin());
    const auto x = ctnn::test::random_values(2 * 12, 5);
    const std::vector<float> xf(x.begin(), x.end());
    const auto y = seq.predict(xf);
    for (std::size_t s = 0; s < 8; ++s) {
        const auto ys = one.predict(std::span<const float>(xf).subspan(s * 3, 3));
        CHECK(ys[0] == doctest::Approx(y[s * 2]));
        CHECK(ys[1] == doctest::Approx(y[s * 2 + 1]));
    }
    // LastStep after ReturnSequences is the layer without it.
    Model<Sequential<Input<4, 3>, GRU<3, ReturnSequences>, LastStep>> all(device::cpu());
    Model<Sequential<Input<4, 3>, GRU<3>>> last(device::cpu());
    all.init(6);
    std::copy(all.parameters().begin(), all.parameters().end(), last.parameters().begin());
    const auto ya = all.predict(xf), yl = last.predict(xf);
    REQUIRE(ya.size() == yl.size());
    for (std::size_t i = 0; i < ya.size(); ++i) CHECK(ya[i] == yl[i]);
    // MeanOverSteps of a constant sequence is the constant.
    Model<Sequential<Input<3, 2>, MeanOverSteps>> mean(device::cpu());
    const std::vector<float> c{1, -2, 1, -2, 1, -2};
    const auto ym = mean.predict(c);
    CHECK(ym[0] == doctest::Approx(1.0f));
    CHECK(ym[1] == doctest::Approx(-2.0f));
}

TEST_CASE("gradient check: a Dense at every step, step pooling") {
    check_parameter_gradients<Sequential<Input<4, 3>, Dense<5>, Tanh, LSTM<4, ReturnSequences>,
                                         Dense<3>, MeanOverSteps, Dense<2>>>(loss::MSE{}, 3, 14);
    check_parameter_gradients<Sequential<Input<4, 3>, GRU<4, ReturnSequences>, LastStep, Dense<2>>>(
        loss::MSE{}, 3, 15);
    check_parameter_gradients<
        Sequential<Input<4, 3>, Dense<2, NoBias>, Sigmoid, Flatten, Dense<2>>>(loss::MSE{}, 2, 16);
}

TEST_CASE("gradient check: Bidirectional RNN, LSTM and GRU") {
    using Net = Sequential<Input<4, 3>, Bidirectional<LSTM<3>>, Dense<2>>;
    static_assert(std::is_same_v<Net::out_shape, Shape<2>>);
    static_assert(Net::param_count == 2 * 12 * (3 + 3 + 2) + 2 * 6 + 2);
    CHECK(parameter_table<Net>()[4].name == "0.weight_ih_l0_reverse");
    CHECK(Bidirectional<GRU<4, ReturnSequences>>::name() ==
          "Bidirectional<GRU<4, ReturnSequences>>");
    check_parameter_gradients<Net>(loss::MSE{}, 3, 17);
    check_parameter_gradients<
        Sequential<Input<4, 3>, Bidirectional<GRU<3, ReturnSequences>>, MeanOverSteps, Dense<2>>>(
        loss::MSE{}, 3, 18);
    check_parameter_gradients<
        Sequential<Input<5, 2>, Dense<3>, Tanh, Bidirectional<RNN<2, ReturnSequences>>,
                   Bidirectional<LSTM<2>>, Dense<2>>>(loss::MSE{}, 2, 19);
}

namespace {
/// Model<Net, float> against Model<Net, double> with the same parameters: outputs and parameter
/// gradients within 1e-5 of the largest magnitude. With H a multiple of the register width the
/// float model runs the per-step products on ctnn's own kernel, the double model on Eigen.
template <class Net>
void check_float_against_double(std::size_t batch, std::uint64_t seed) {
    Model<Net, double> md(device::cpu());
    md.init(seed);
    Model<Net, float> mf(device::cpu());
    std::copy(md.parameters().begin(), md.parameters().end(), mf.parameters().begin());
    const auto x = ctnn::test::random_values(batch * Net::in_size, seed + 1, -1.5, 1.5);
    const auto t = ctnn::test::random_values(batch * Net::out_size, seed + 2);
    const std::vector<float> xf(x.begin(), x.end()), tf(t.begin(), t.end());
    ctnn::test::check_float_matches(mf.forward(xf, Mode::training), md.forward(x, Mode::training));
    mf.loss(loss::MSE{}, {{}, tf});
    md.loss(loss::MSE{}, {{}, t});
    mf.backward();
    md.backward();
    ctnn::test::check_float_matches(mf.gradients(), md.gradients());
}
} // namespace

TEST_CASE("recurrent layers in float (the CPU's step kernel) equal double (Eigen)") {
    check_float_against_double<Sequential<Input<6, 5>, LSTM<16>, Dense<3>>>(7, 20);
    check_float_against_double<Sequential<Input<6, 5>, GRU<32, ReturnSequences>, Dense<2>>>(5, 21);
    check_float_against_double<Sequential<Input<6, 5>, Bidirectional<RNN<16>>, Dense<2>>>(9, 22);
    check_float_against_double<
        Sequential<Input<4, 3>, RNN<16, ReLU, ReturnSequences>, Flatten, Dense<2>>>(3, 23);
}
