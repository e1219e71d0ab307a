// Expressions: values and compile-time-derived derivatives against finite differences.
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <cmath>

using namespace ctnn;
using namespace ctnn::expr;

namespace {
/// Checks e's dual-number derivative against a central difference at many points.
template <class E>
void check_derivative(const E& e, const char* what) {
    for (double v = -4.0; v <= 4.0; v += 0.0625 + 1e-3) { // avoids exact kinks at 0
        const auto d = value_and_derivative(e, v);
        const double h = 1e-6;
        const double numeric = (e(v + h) - e(v - h)) / (2 * h);
        INFO(what << " at x = " << v);
        CHECK(d.v == doctest::Approx(e(v)));
        CHECK(d.d == doctest::Approx(numeric).epsilon(1e-6));
    }
}
} // namespace

TEST_CASE("expression values") {
    CHECK(act::relu(-2.0) == 0.0);
    CHECK(act::relu(3.0) == 3.0);
    CHECK(act::leaky_relu<0.1f>(-2.0) == doctest::Approx(-0.2));
    CHECK(act::elu<1.0f>(-1.0) == doctest::Approx(std::exp(-1.0) - 1));
    CHECK(act::gelu(1.0) == doctest::Approx(0.8413447460685429));
    CHECK(act::gelu_tanh(1.0) == doctest::Approx(0.8411919906082768));
    CHECK(act::silu(2.0) == doctest::Approx(2.0 / (1 + std::exp(-2.0))));
    CHECK(act::softplus<1.0f, 20.0f>(0.0) == doctest::Approx(std::log(2.0)));
    CHECK(act::softplus<1.0f, 20.0f>(30.0) == 30.0);  // linear above threshold
    CHECK(act::softplus<1.0f, 20.0f>(-800.0) >= 0.0); // no overflow
    CHECK(act::sigmoid(-800.0) >= 0.0);
    CHECK(act::sigmoid(800.0) == 1.0);
    CHECK((x * x + 1.0f)(3.0f) == 10.0f);
    CHECK((2.0f / x - x)(4.0) == doctest::Approx(-3.5));
    CHECK(min(x, 1.0f)(3.0) == 1.0);
}

TEST_CASE("derivatives of every built-in activation") {
    check_derivative(act::relu, "relu");
    check_derivative(act::leaky_relu<0.01f>, "leaky_relu");
    check_derivative(act::elu<0.7f>, "elu");
    check_derivative(act::sigmoid, "sigmoid");
    check_derivative(act::tanh, "tanh");
    check_derivative(act::gelu, "gelu");
    check_derivative(act::gelu_tanh, "gelu_tanh");
    check_derivative(act::silu, "silu");
    check_derivative(act::softplus<1.0f, 20.0f>, "softplus");
    check_derivative(act::softplus<3.0f, 2.0f>, "softplus beta 3");
    check_derivative(act::identity, "identity");
}

TEST_CASE("derivatives of composed user expressions") {
    check_derivative(x * sigmoid(x), "swish");
    check_derivative(exp(-x * x) * tanh(3.0f * x), "gaussian tanh");
    check_derivative(log1p(x * x) / (1.0f + x * x), "rational log");
    check_derivative(sqrt(1.0f + x * x) - 1.0f, "pseudo-huber");
    check_derivative(expm1(x / 4.0f) - log(2.0f + sigmoid(x)), "mixed");
    check_derivative(-erf(x) + softplus(-x), "erf softplus");
    check_derivative(where(x >= 0.5f, x * x, 0.5f * x) - max(x, -1.0f), "piecewise");
}

TEST_CASE("expressions print as formulas") {
    CHECK((x * sigmoid(x)).str() == "(x * sigmoid(x))");
    CHECK(Activation<x * tanh(x)>::name() == "Activation((x * tanh(x)))");
    CHECK(ReLU::name() == "ReLU");
    CHECK(LeakyReLU<0.2f>::name() == "LeakyReLU(0.2)");
}

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors") {
    // Known-answer tests of Random123 (philox4x32_10): zero and all-ones inputs.
    const auto z = Philox4x32::generate(0, 0, 0, 0, 0, 0);
    CHECK(z.c[0] == 0x6627e8d5u);
    CHECK(z.c[1] == 0xe169c58du);
    CHECK(z.c[2] == 0xbc57ac4cu);
    CHECK(z.c[3] == 0x9b00dbd8u);
    const auto f = Philox4x32::generate(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
    CHECK(f.c[0] == 0x408f276du);
    CHECK(f.c[1] == 0x41c83b0eu);
    CHECK(f.c[2] == 0xa20bc7c6u);
    CHECK(f.c[3] == 0x6d5451fdu);
}

TEST_CASE("counter-based uniforms are uniform and reproducible") {
    const CounterRng a{1, 2};
    double sum = 0;
    std::size_t below_quarter = 0, outside = 0;
    for (std::size_t i = 0; i < 100000; ++i) {
        const float u = a.uniform(i);
        outside += u < 0.0f || u >= 1.0f;
        sum += u;
        below_quarter += u < 0.25f;
    }
    CHECK(outside == 0);
    CHECK(sum / 100000 == doctest::Approx(0.5).epsilon(0.01));
    CHECK(static_cast<double>(below_quarter) / 100000 == doctest::Approx(0.25).epsilon(0.02));
    CHECK(a.bits(12345) == CounterRng{1, 2}.bits(12345));
    CHECK(a.bits(12345) != CounterRng{1, 3}.bits(12345));
}

TEST_CASE("the dropout mask hash is uniform, and independent across streams") {
    const MaskHash a = MaskHash::make(1, 2), b = MaskHash::make(1, 3), c = MaskHash::make(2, 2);
    std::size_t buckets[16] = {}, same_ab = 0, same_ac = 0;
    const std::uint32_t n = 160000;
    for (std::uint32_t i = 0; i < n; ++i) {
        const float u = a.uniform(i);
        ++buckets[static_cast<int>(u * 16)];
        same_ab += (u < 0.5f) == (b.uniform(i) < 0.5f);
        same_ac += (u < 0.5f) == (c.uniform(i) < 0.5f);
    }
    for (std::size_t k : buckets) CHECK(k == doctest::Approx(n / 16).epsilon(0.03));
    // Independent streams agree on a fair coin about half of the time.
    CHECK(static_cast<double>(same_ab) / n == doctest::Approx(0.5).epsilon(0.01));
    CHECK(static_cast<double>(same_ac) / n == doctest::Approx(0.5).epsilon(0.01));
    // Neighbouring elements are not correlated.
    std::size_t same_next = 0;
    for (std::uint32_t i = 0; i + 1 < n; ++i)
        same_next += (a.uniform(i) < 0.5f) == (a.uniform(i + 1) < 0.5f);
    CHECK(static_cast<double>(same_next) / n == doctest::Approx(0.5).epsilon(0.01));
}
