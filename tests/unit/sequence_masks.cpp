// Variable-length batches (Embedding<V, D, MaskZero>): a padded batch gives each sample the
// outputs and gradients of the same layers run on that sample alone at its own length (what
// PyTorch's pack_padded_sequence computes), backward through padded steps against finite
// differences, and the errors for ids that break the padding rule.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace ctnn;

namespace {

constexpr std::size_t vocab = 7;

/// A batch of `steps` ids per sample: sample b has lengths[b] tokens in [1, vocab), then 0s.
std::vector<double> padded_ids(const std::vector<std::size_t>& lengths, std::size_t steps,
                               std::uint64_t seed) {
    std::vector<double> x(lengths.size() * steps, 0.0);
    for (std::size_t b = 0; b < lengths.size(); ++b)
        for (std::size_t t = 0; t < lengths[b]; ++t)
            x[b * steps + t] = double(1 + (b * 5 + t * 3 + seed) % (vocab - 1));
    return x;
}

// Each family: the layers after an Embedding of T steps, with the mask (M = MaskZero) or not.
// Every cell, last state and every step, both directions, a Dense at every step, both poolings.
template <std::size_t T, class... M>
using LstmGru =
    Sequential<Input<T>, Embedding<vocab, 3, M...>, LSTM<4, ReturnSequences>, GRU<3>, Dense<2>>;
template <std::size_t T, class... M>
using BiPooled =
    Sequential<Input<T>, Embedding<vocab, 3, M...>, Bidirectional<LSTM<3, ReturnSequences>>,
               Dense<4>, Tanh, MeanOverSteps, Dense<2>>;
template <std::size_t T, class... M>
using BiLast =
    Sequential<Input<T>, Embedding<vocab, 2, M...>, Bidirectional<GRU<3, ReturnSequences>>,
               RNN<3, ReturnSequences>, LastStep, Dense<2>>;

/// The padded batch of Family<T, MaskZero> (lengths 2 and T) against Family<2> and Family<T>
/// on each sample alone: outputs equal, and the batch's parameter gradients are the mean of the
/// samples' (MSE: the loss is a mean over the batch). In double: only rounding may differ.
template <template <std::size_t, class...> class Family, std::size_t T>
void check_against_unpadded(std::uint64_t seed) {
    using Masked = Family<T, MaskZero>;
    static_assert(Masked::param_count == Family<2>::param_count);
    const std::vector<std::size_t> lengths{2, T, 2};
    const auto x = padded_ids(lengths, T, seed);
    Model<Masked, double> masked(device::cpu());
    masked.init(seed);
    const auto targets = ctnn::test::random_values(lengths.size() * Masked::out_size, seed + 1);
    const auto y = masked.forward(x, lengths.size(), Mode::training);
    const std::vector<double> y_masked(y.begin(), y.end());
    masked.loss(loss::MSE{}, {{}, targets});
    masked.backward();
    std::vector<double> mean_grad(Masked::param_count, 0.0);
    for (std::size_t b = 0; b < lengths.size(); ++b) {
        CAPTURE(b);
        const auto at = [](const std::vector<double>& v, std::size_t i) {
            return v.begin() + static_cast<std::ptrdiff_t>(i);
        };
        const std::vector<double> xb(at(x, b * T), at(x, b * T + lengths[b]));
        const std::vector<double> tb(at(targets, b * Masked::out_size),
                                     at(targets, (b + 1) * Masked::out_size));
        auto run = [&](auto& m) {
            std::copy(masked.parameters().begin(), masked.parameters().end(),
                      m.parameters().begin());
            const auto yb = m.forward(xb, 1, Mode::training);
            for (std::size_t i = 0; i < yb.size(); ++i)
                CHECK(yb[i] == doctest::Approx(y_masked[b * Masked::out_size + i]).epsilon(1e-12));
            m.loss(loss::MSE{}, {{}, tb});
            m.backward();
            for (std::size_t i = 0; i < mean_grad.size(); ++i)
                mean_grad[i] += m.gradients()[i] / double(lengths.size());
        };
        if (lengths[b] == 2) {
            Model<Family<2>, double> m(device::cpu());
            run(m);
        } else {
            Model<Family<T>, double> m(device::cpu());
            run(m);
        }
    }
    const auto g = masked.gradients();
    double scale = 0;
    for (double v : mean_grad) scale = std::max(scale, std::fabs(v));
    REQUIRE(scale > 0);
    for (std::size_t i = 0; i < g.size(); ++i) {
        CAPTURE(i);
        CHECK(std::fabs(g[i] - mean_grad[i]) <= 1e-12 * scale);
    }
}

} // namespace

TEST_CASE("a padded batch equals each sample alone at its length") {
    check_against_unpadded<LstmGru, 5>(1);
    check_against_unpadded<BiPooled, 5>(2);
    check_against_unpadded<BiLast, 4>(3);
    // Without MaskZero the padding is read as tokens: the test above would fail.
    Model<LstmGru<5>, double> plain(device::cpu());
    Model<LstmGru<2>, double> two(device::cpu());
    plain.init(4);
    std::copy(plain.parameters().begin(), plain.parameters().end(), two.parameters().begin());
    const auto x = padded_ids({2}, 5, 4);
    const std::vector<double> x2{x[0], x[1]};
    CHECK(plain.predict(x)[0] != doctest::Approx(two.predict(x2)[0]).epsilon(1e-6));
}

TEST_CASE("gradient check: masked sequences") {
    using ctnn::test::check_parameter_gradients_at;
    check_parameter_gradients_at<LstmGru<5, MaskZero>>(loss::MSE{}, padded_ids({3, 5, 1}, 5, 5), 3,
                                                       31);
    check_parameter_gradients_at<BiPooled<5, MaskZero>>(loss::MSE{}, padded_ids({4, 2}, 5, 6), 2,
                                                        32);
    check_parameter_gradients_at<BiLast<4, MaskZero>>(loss::MSE{}, padded_ids({1, 4, 3}, 4, 7), 3,
                                                      33);
}

TEST_CASE("MaskZero refuses a token after padding and a sample of padding only") {
    using Net = LstmGru<5, MaskZero>;
    CHECK(Embedding<7, 3, MaskZero>::name() == "Embedding<7, 3, MaskZero>");
    Model<Net> m(device::cpu());
    m.init(1);
    std::vector<float> x{3, 1, 0, 0, 0, 2, 2, 2, 0, 5};
    try {
        (void)m.forward(x, 2, Mode::training);
        FAIL("no error for a token after padding");
    } catch (const argument_error& e) {
        CHECK(std::string(e.what()) ==
              "Embedding<7, 3, MaskZero> (layer 0): sample 1, step 4: token id 5.000000 after "
              "padding (id 0 at step 3): with MaskZero, padding comes after the tokens");
    }
    x[9] = 0;
    CHECK_NOTHROW((void)m.forward(x, 2, Mode::training));
    std::fill(x.begin() + 5, x.end(), 0.0f);
    try {
        (void)m.predict(x);
        FAIL("no error for a sample of padding only");
    } catch (const argument_error& e) {
        CHECK(std::string(e.what()).find("sample 1: every id is padding (0)") != std::string::npos);
    }
}

TEST_CASE("which stages a mask reaches") {
    using St = stages_of<BiPooled<5, MaskZero>>;
    using P = mask_plan<St>;
    // Embedding, Bidirectional LSTM, Dense (+ Tanh) at every step, MeanOverSteps, Dense.
    static_assert(St::size == 5);
    static_assert(P::out[0] == 0 && P::in[1] == 0 && P::out[1] == 0 && P::in[2] == 0 &&
                  P::out[2] == 0 && P::in[3] == 0 && P::out[3] == no_mask && P::in[4] == no_mask);
    static_assert(mask_plan<stages_of<BiPooled<5>>>::in[1] == no_mask);
    // Workspace: a masking Embedding keeps one length per sample.
    static_assert(activation_floats_per_sample<BiPooled<5, MaskZero>> ==
                  activation_floats_per_sample<BiPooled<5>> + 1);
}
