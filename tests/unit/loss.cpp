// Losses: values against hand computation, gradients against finite differences (double).
#include "gradcheck.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;
using ctnn::test::random_values;
using ctnn::test::relative_error;

namespace {
/// Checks dL/dy of loss l at random outputs y against central differences.
template <class L>
void check_output_gradient(const L& l, std::size_t batch, std::size_t n, std::uint64_t seed) {
    auto y = random_values(batch * n, seed, -3, 3);
    const auto values = random_values(batch * n, seed + 1, 0, 1);
    std::vector<std::int32_t> labels(batch);
    for (std::size_t b = 0; b < batch; ++b) labels[b] = static_cast<std::int32_t>((b * 3) % n);
    const loss::Targets<double> t{labels, values};
    std::vector<double> g(batch * n);
    l(y.data(), t, batch, n, g.data());
    const double h = 1e-6;
    for (std::size_t i = 0; i < y.size(); ++i) {
        const double s = y[i];
        y[i] = s + h;
        const double fp = l(y.data(), t, batch, n, static_cast<double*>(nullptr));
        y[i] = s - h;
        const double fm = l(y.data(), t, batch, n, static_cast<double*>(nullptr));
        y[i] = s;
        INFO(L::name() << " element " << i);
        CHECK(relative_error(g[i], (fp - fm) / (2 * h)) < 1e-7);
    }
}
} // namespace

TEST_CASE("gradient check: every loss, at the output") {
    check_output_gradient(loss::MSE{}, 3, 4, 1);
    check_output_gradient(loss::L1{}, 3, 4, 2);
    check_output_gradient(loss::Huber{}, 3, 4, 3);
    check_output_gradient(loss::Huber{.delta = 0.3f}, 3, 4, 4);
    check_output_gradient(loss::SoftmaxCrossEntropy{}, 3, 5, 5);
    check_output_gradient(loss::BCEWithLogits{}, 3, 4, 6);
    check_output_gradient(loss::NLLLoss{}, 3, 5, 12);
}

TEST_CASE("gradient check: every loss, through a model") {
    using Net = Sequential<Input<4>, Dense<5>, Tanh, Dense<3>>;
    check_parameter_gradients<Net>(loss::MSE{}, 4, 7);
    check_parameter_gradients<Net>(loss::L1{}, 4, 8);
    check_parameter_gradients<Net>(loss::Huber{.delta = 0.5f}, 4, 9);
    check_parameter_gradients<Net>(loss::SoftmaxCrossEntropy{}, 4, 10);
    check_parameter_gradients<Net>(loss::BCEWithLogits{}, 4, 11);
    check_parameter_gradients<Sequential<Input<4>, Dense<5>, Tanh, Dense<3>, LogSoftmax>>(
        loss::NLLLoss{}, 4, 13);
}

TEST_CASE("LogSoftmax + NLLLoss equals SoftmaxCrossEntropy on the logits, value and gradients") {
    using Logits = Sequential<Input<4>, Dense<5>, Tanh, Dense<3>>;
    using LogProbs = Sequential<Input<4>, Dense<5>, Tanh, Dense<3>, LogSoftmax>;
    Model<Logits, double> a;
    Model<LogProbs, double> b;
    a.init(21);
    b.init(21);
    const auto x = random_values(5 * 4, 22, -1, 1);
    const std::vector<std::int32_t> labels{0, 2, 1, 1, 2};
    const loss::Targets<double> t{labels};
    a.forward(x, 5, Mode::training);
    b.forward(x, 5, Mode::training);
    CHECK(a.loss(loss::SoftmaxCrossEntropy{}, t) == doctest::Approx(b.loss(loss::NLLLoss{}, t)));
    a.backward();
    b.backward();
    const auto ga = a.gradients(), gb = b.gradients();
    REQUIRE(ga.size() == gb.size());
    for (std::size_t i = 0; i < ga.size(); ++i) CHECK(ga[i] == doctest::Approx(gb[i]));
}

TEST_CASE("loss values match hand computation") {
    const std::vector<float> y{1.0f, -2.0f, 0.5f, 3.0f};
    const std::vector<float> t{0.0f, -1.0f, 0.5f, 1.0f};
    const loss::Targets<float> tv{.values = t};
    CHECK(loss::MSE{}(y.data(), tv, 2, 2, static_cast<float*>(nullptr)) ==
          doctest::Approx((1 + 1 + 0 + 4) / 4.0));
    CHECK(loss::L1{}(y.data(), tv, 2, 2, static_cast<float*>(nullptr)) ==
          doctest::Approx((1 + 1 + 0 + 2) / 4.0));
    // Huber delta 1: r = 1 -> 0.5, 1 -> 0.5, 0 -> 0, 2 -> 1.5
    CHECK(loss::Huber{}(y.data(), tv, 2, 2, static_cast<float*>(nullptr)) ==
          doctest::Approx((0.5 + 0.5 + 0 + 1.5) / 4.0));
    // Cross-entropy of logits [1, -2] label 0 and [0.5, 3] label 1.
    const std::vector<std::int32_t> labels{0, 1};
    const double ce = (std::log(std::exp(1.0) + std::exp(-2.0)) - 1.0 +
                       std::log(std::exp(0.5) + std::exp(3.0)) - 3.0) /
                      2;
    CHECK(loss::SoftmaxCrossEntropy{}(y.data(), loss::Targets<float>{labels}, 2, 2,
                                      static_cast<float*>(nullptr)) == doctest::Approx(ce));
    // BCE with logits, targets t (in [0, 1] for the first three)
    const std::vector<float> tb{0.0f, 1.0f, 0.5f, 1.0f};
    double bce = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        const double s = 1 / (1 + std::exp(-static_cast<double>(y[i])));
        bce += -(tb[i] * std::log(s) + (1 - tb[i]) * std::log(1 - s));
    }
    CHECK(loss::BCEWithLogits{}(y.data(), loss::Targets<float>{.values = tb}, 2, 2,
                                static_cast<float*>(nullptr)) == doctest::Approx(bce / 4));
}

TEST_CASE("softmax cross-entropy is stable for huge logits") {
    const std::vector<float> y{1e4f, -1e4f, 0.0f};
    const std::vector<std::int32_t> label{1};
    std::vector<float> g(3);
    const float l =
        loss::SoftmaxCrossEntropy{}(y.data(), loss::Targets<float>{label}, 1, 3, g.data());
    CHECK(l == doctest::Approx(2e4f));
    CHECK(g[0] == doctest::Approx(1.0f));
    CHECK(g[1] == doctest::Approx(-1.0f));
    CHECK(g[2] == doctest::Approx(0.0f));
}

TEST_CASE("softmax cross-entropy keeps log(sum) for large equal logits") {
    // logsumexp - y[label] must be formed as (max - y[label]) + log(sum): with max + log(sum)
    // first, log(3) vanishes in the rounding of 1e30 and the loss comes out 0 instead of ln 3.
    const std::vector<std::int32_t> label{1};
    const std::vector<float> yf(3, 1e30f);
    std::vector<float> gf(3);
    CHECK(loss::SoftmaxCrossEntropy{}(yf.data(), loss::Targets<float>{label}, 1, 3, gf.data()) ==
          doctest::Approx(std::log(3.0)).epsilon(1e-6));
    CHECK(gf[0] == doctest::Approx(1.0 / 3));
    CHECK(gf[1] == doctest::Approx(1.0 / 3 - 1));
    const std::vector<double> yd(3, 1e30);
    CHECK(loss::SoftmaxCrossEntropy{}(yd.data(), loss::Targets<double>{label}, 1, 3,
                                      static_cast<double*>(nullptr)) ==
          doctest::Approx(std::log(3.0)).epsilon(1e-12));
}

TEST_CASE("Model::loss checks the targets' sizes against the batch and the output width") {
    using Net = Sequential<Input<4>, Dense<5>, Tanh, Dense<3>>;
    Model<Net> m;
    m.init(3);
    std::vector<float> x;
    for (const double v : random_values(2 * 4, 5, -1, 1)) x.push_back(static_cast<float>(v));
    (void)m.forward(x, 2, Mode::training);
    const std::vector<std::int32_t> one_label{1}, labels{1, 2};
    const std::vector<float> five_values(5, 0.5f), values(6, 0.5f), seven_values(7, 0.5f);
    // Too short, too long, absent: a shape_error naming both sizes.
    CHECK_THROWS_WITH_AS(m.loss(loss::SoftmaxCrossEntropy{}, {one_label}),
                         "Model::loss: SoftmaxCrossEntropy reads one label per sample: 1 labels "
                         "given, expected 2 (the batch of the last forward)",
                         shape_error);
    CHECK_THROWS_WITH_AS(m.loss(loss::SoftmaxCrossEntropy{}, {.values = values}),
                         doctest::Contains("0 labels given, expected 2"), shape_error);
    CHECK_THROWS_WITH_AS(m.loss(loss::MSE{}, {.values = five_values}),
                         "Model::loss: MSE reads one target per output: 5 values given, expected "
                         "6 (batch 2 x 3, output shape [3])",
                         shape_error);
    CHECK_THROWS_WITH_AS(m.loss(loss::MSE{}, {labels, seven_values}),
                         doctest::Contains("7 values given, expected 6"), shape_error);
    // The right sizes (the span the loss does not read may be anything).
    CHECK(std::isfinite(m.loss(loss::SoftmaxCrossEntropy{}, {labels, five_values})));
    CHECK(std::isfinite(m.loss(loss::MSE{}, {one_label, values})));
}
