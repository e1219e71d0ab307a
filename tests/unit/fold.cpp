// Inference-mode BatchNorm folding (folds_into_previous, graph/fold.hpp): a BatchNorm right
// after a Conv2D or Dense stage with an empty epilogue is evaluated inside that stage's epilogue.
//
// Reference: the same model with an Identity between the anchor and the BatchNorm. Identity is an
// elementwise layer, so it joins the anchor's epilogue, which is then not empty and the pair does
// not fold; the parameters and buffers have the same flat layout, so both models take the same
// values and must compute the same function. Each check first trains the model a few steps, so
// that the running statistics, gamma and beta are far from their initial values.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;
using ctnn::test::random_values;

namespace {

std::vector<float> floats(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    const auto v = random_values(n, seed, lo, hi);
    return {v.begin(), v.end()};
}

/// Largest |a - b| / max(1, |b|) over two equal-length ranges.
double max_relative_difference(std::span<const float> a, std::span<const float> b) {
    REQUIRE(a.size() == b.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])) /
                                    std::max(1.0, std::fabs(double(b[i]))));
    return worst;
}

/// Trains Net a few steps (batch statistics, running statistics updated), then checks that its
/// folded inference pass equals Ref's unfolded one on the same parameters and buffers: outputs,
/// the loss, and the gradients of a backward pass after the inference forward. Also checks that
/// the Eigen executor ran inference_stage_count<Net> stages.
template <class Net, class Ref>
void check_fold(std::size_t batch, std::uint64_t seed) {
    static_assert(Net::param_count == Ref::param_count && Net::buffer_count == Ref::buffer_count);
    static_assert(folded_stage_count<stages_of<Net>> > 0, "the model under test must fold");
    static_assert(folded_stage_count<stages_of<Ref>> == 0, "the reference must not fold");
    CAPTURE(batch);
    Model<Net> m(device::cpu());
    m.init(seed);
    OptimizerState<optim::Adam> state(optim::Adam{.lr = 0.05f}, Net::param_count);
    const auto targets = floats(batch * Net::out_size, seed + 1, 0.0, 1.0);
    for (std::uint64_t step = 0; step < 4; ++step) {
        const auto x = floats(batch * Net::in_size, seed + 10 + step, -2.0, 2.0);
        (void)m.forward(x, batch, Mode::training);
        (void)m.loss(loss::MSE{}, {.values = targets});
        m.backward();
        m.update(state, 0.05f);
    }
    Model<Ref> r(device::cpu());
    std::copy(m.parameters().begin(), m.parameters().end(), r.parameters().begin());
    std::copy(m.buffers().begin(), m.buffers().end(), r.buffers().begin());
    // The statistics moved away from mean 0, variance 1.
    CHECK(std::any_of(m.buffers().begin(), m.buffers().end(),
                      [](float v) { return v != 0.0f && v != 1.0f; }));

    const auto x = floats(batch * Net::in_size, seed + 99, -2.0, 2.0);
    const auto ym = m.forward(x, batch, Mode::inference);
    const std::vector<float> y_fold(ym.begin(), ym.end());
    const auto y_ref = r.forward(x, batch, Mode::inference);
    CHECK(max_relative_difference(y_fold, y_ref) <= 1e-6);

    // A backward pass after the inference forward differentiates the same fixed map.
    const float lm = m.loss(loss::MSE{}, {.values = targets});
    const float lr = r.loss(loss::MSE{}, {.values = targets});
    CHECK(lm == doctest::Approx(lr).epsilon(1e-6));
    m.backward();
    r.backward();
    CHECK(max_relative_difference(m.gradients(), r.gradients()) <= 1e-5);

    // The Eigen executor skipped the folded stages in inference, not in training.
    eigen::Executor<Net, float> ex;
    std::vector<float> buffers(m.buffers().begin(), m.buffers().end());
    ElemCtx ctx;
    const float* y = ex.forward(m.parameters().data(), x.data(), batch, ctx, buffers.data());
    CHECK(ex.last_forward_stages() == inference_stage_count<Net>);
    CHECK(max_relative_difference({y, batch * Net::out_size}, y_fold) == 0.0);
    ctx.training = true;
    (void)ex.forward(m.parameters().data(), x.data(), batch, ctx, buffers.data());
    CHECK(ex.last_forward_stages() == stages_of<Net>::size);
}

template <class Net, std::size_t I>
inline constexpr bool folds = folds_into_previous<stages_of<Net>, I>;

// conv (no bias) + BatchNorm + ReLU, then a pool and a classifier head.
using ConvBn = Sequential<Input<3, 6, 6>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, MaxPool2D<2>,
                          Flatten, Dense<3>>;
using ConvBnRef = Sequential<Input<3, 6, 6>, Conv2D<4, 3, Same, NoBias>, Identity, BatchNorm, ReLU,
                             MaxPool2D<2>, Flatten, Dense<3>>;
// conv with a bias, strided; BatchNorm without an epilogue; a second conv + BatchNorm pair.
using ConvBiasBn = Sequential<Input<2, 7, 7>, Conv2D<5, 3, Stride<2>, Padding<1>>, BatchNorm,
                              Conv2D<3, 2>, BatchNormWith<0.3f, 1e-3f>, Tanh, Flatten, Dense<2>>;
using ConvBiasBnRef =
    Sequential<Input<2, 7, 7>, Conv2D<5, 3, Stride<2>, Padding<1>>, Identity, BatchNorm,
               Conv2D<3, 2>, Identity, BatchNormWith<0.3f, 1e-3f>, Tanh, Flatten, Dense<2>>;
// Grouped and depthwise convolutions.
using GroupBn = Sequential<Input<4, 5, 5>, Conv2D<8, 3, Groups<2>, Padding<1>, NoBias>, BatchNorm,
                           SiLU, Conv2D<8, 3, Depthwise, Same, NoBias>, BatchNorm, ReLU,
                           GlobalAvgPool, Flatten, Dense<2>>;
using GroupBnRef = Sequential<Input<4, 5, 5>, Conv2D<8, 3, Groups<2>, Padding<1>, NoBias>, Identity,
                              BatchNorm, SiLU, Conv2D<8, 3, Depthwise, Same, NoBias>, Identity,
                              BatchNorm, ReLU, GlobalAvgPool, Flatten, Dense<2>>;
// Dense + BatchNorm (1-D), with and without a bias, and a BatchNorm as the model's last stage.
using DenseBn = Sequential<Input<7>, Dense<6>, BatchNorm, ReLU, Dense<5, NoBias>, BatchNorm,
                           Sigmoid, Dense<3>, BatchNorm>;
using DenseBnRef = Sequential<Input<7>, Dense<6>, Identity, BatchNorm, ReLU, Dense<5, NoBias>,
                              Identity, BatchNorm, Sigmoid, Dense<3>, Identity, BatchNorm>;
// A view between the Dense and the BatchNorm: 3 channels of 4 values ([3, 4], BatchNorm1d).
using ReshapeBn =
    Sequential<Input<5>, Dense<12>, Reshape<3, 4>, BatchNorm, GELU, Flatten, Dense<2>>;
using ReshapeBnRef =
    Sequential<Input<5>, Dense<12>, Identity, Reshape<3, 4>, BatchNorm, GELU, Flatten, Dense<2>>;
// Inside a Residual body: the conv after the block's start is no skip source, so it folds.
using BodyBn = Sequential<Input<3, 4, 4>, Conv2D<3, 3, Same>, ReLU,
                          Residual<Conv2D<3, 3, Same, NoBias>, BatchNorm, ReLU>, Flatten, Dense<2>>;
using BodyBnRef =
    Sequential<Input<3, 4, 4>, Conv2D<3, 3, Same>, ReLU,
               Residual<Conv2D<3, 3, Same, NoBias>, Identity, BatchNorm, ReLU>, Flatten, Dense<2>>;

} // namespace

TEST_CASE("fold: which stage pairs fold (a compile-time property)") {
    // conv | bn+relu | pool | dense: the BatchNorm (stage 1) folds into the conv (stage 0).
    static_assert(folds<ConvBn, 1> && !folds<ConvBn, 0> && !folds<ConvBn, 2> && !folds<ConvBn, 3>);
    static_assert(stages_of<ConvBn>::size == 4 && inference_stage_count<ConvBn> == 3);
    static_assert(inference_stage_count<ConvBnRef> == 4);
    static_assert(inference_stage_count<ConvBiasBn> == 5 - 2);
    static_assert(inference_stage_count<GroupBn> == 6 - 2);
    static_assert(inference_stage_count<DenseBn> == 6 - 3);
    static_assert(folds<ReshapeBn, 1> && inference_stage_count<ReshapeBn> == 2);
    // stages: conv+relu | conv | bn+relu | add | dense
    static_assert(folds<BodyBn, 2> && inference_stage_count<BodyBn> == 4);

    // Not folded: an activation between (the conv's epilogue is not empty), a pool or a
    // LayerNorm before the BatchNorm, and a conv whose output is a Residual's skip source (the
    // join reads it again).
    static_assert(!folds<Sequential<Input<2, 4, 4>, Conv2D<2, 3>, ReLU, BatchNorm>, 1>);
    static_assert(!folds<Sequential<Input<2, 4, 4>, MaxPool2D<2>, BatchNorm>, 1>);
    static_assert(!folds<Sequential<Input<6>, LayerNorm, BatchNorm>, 1>);
    static_assert(!folds<Sequential<Input<6>, BatchNorm, BatchNorm>, 1>);
    using Skip = Sequential<Input<2, 4, 4>, Conv2D<2, 3, Same>,
                            Residual<BatchNorm, ReLU, Conv2D<2, 3, Same>>, Flatten, Dense<2>>;
    // stages: conv | bn+relu | conv | add(skip from stage 0) | dense
    static_assert(stages_of<Skip>::size == 5 && !folds<Skip, 1>);
    static_assert(inference_stage_count<Skip> == 5);
    // A skip source whose output is not read by the BatchNorm right after it does not matter.
    using SkipAfter = Sequential<Input<2, 4, 4>, Conv2D<2, 3, Same>,
                                 Residual<Conv2D<2, 3, Same>, Tanh>, Conv2D<2, 3, Same>, BatchNorm>;
    static_assert(folds<SkipAfter, 4>);
}

TEST_CASE("fold: Conv2D + BatchNorm (+ ReLU) in inference equals the unfolded evaluation") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}, std::size_t{130}})
        check_fold<ConvBn, ConvBnRef>(batch, 11);
    check_fold<ConvBiasBn, ConvBiasBnRef>(6, 12);
}

TEST_CASE("fold: grouped and depthwise convolutions") { check_fold<GroupBn, GroupBnRef>(4, 13); }

TEST_CASE("fold: Dense + BatchNorm (1-D), with and without bias, BatchNorm last") {
    check_fold<DenseBn, DenseBnRef>(9, 14);
    check_fold<ReshapeBn, ReshapeBnRef>(7, 15);
}

TEST_CASE("fold: inside a Residual body, and a skip source is not folded and stays correct") {
    check_fold<BodyBn, BodyBnRef>(5, 16);
    // The skip-source model runs unfolded; its inference output still matches the formula of
    // the reference with an Identity (which changes nothing there).
    using Skip = Sequential<Input<2, 4, 4>, Conv2D<2, 3, Same>,
                            Residual<BatchNorm, ReLU, Conv2D<2, 3, Same>>, Flatten, Dense<2>>;
    using SkipRef = Sequential<Input<2, 4, 4>, Conv2D<2, 3, Same>, Identity,
                               Residual<BatchNorm, ReLU, Conv2D<2, 3, Same>>, Flatten, Dense<2>>;
    Model<Skip> m(device::cpu());
    Model<SkipRef> r(device::cpu());
    m.init(17);
    std::copy(m.parameters().begin(), m.parameters().end(), r.parameters().begin());
    const auto x = floats(4 * Skip::in_size, 18, -2.0, 2.0);
    (void)m.forward(x, 4, Mode::training); // move the running statistics
    std::copy(m.buffers().begin(), m.buffers().end(), r.buffers().begin());
    const auto ym = m.forward(x, 4, Mode::inference);
    const std::vector<float> y(ym.begin(), ym.end());
    CHECK(max_relative_difference(y, r.forward(x, 4, Mode::inference)) <= 1e-6);
}

TEST_CASE("fold: training passes are not folded (batch statistics)") {
    // Same model, two training passes: with and without the Identity they agree, and both
    // update the running statistics identically.
    Model<ConvBn> m(device::cpu());
    Model<ConvBnRef> r(device::cpu());
    m.init(21);
    std::copy(m.parameters().begin(), m.parameters().end(), r.parameters().begin());
    const auto x = floats(3 * ConvBn::in_size, 22, -2.0, 2.0);
    const auto ym = m.forward(x, 3, Mode::training);
    const std::vector<float> y(ym.begin(), ym.end());
    CHECK(max_relative_difference(y, r.forward(x, 3, Mode::training)) <= 1e-6);
    CHECK(max_relative_difference(m.buffers(), r.buffers()) <= 1e-6);
}

TEST_CASE("gradient check: backward after a folded inference forward (conv and dense)") {
    static_assert(
        folds<Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, BatchNorm, Tanh, Flatten, Dense<2>>,
              1>);
    check_parameter_gradients<
        Sequential<Input<2, 4, 4>, Conv2D<3, 3, Same>, BatchNorm, Tanh, Flatten, Dense<2>>>(
        loss::MSE{}, 3, 230, 1e-6, 1e-6, Mode::inference);
    check_parameter_gradients<Sequential<Input<2, 4, 4>, Conv2D<4, 3, Groups<2>, Same, NoBias>,
                                         BatchNorm, Flatten, Dense<5>, BatchNorm, ReLU, Dense<2>>>(
        loss::MSE{}, 3, 231, 1e-6, 1e-6, Mode::inference);
}

TEST_CASE("fold: describe() marks the folded BatchNorm") {
    const std::string d = describe<ConvBn>();
    INFO(d);
    CHECK(d.find("forward: 4 stage(s)\n") != std::string::npos);
    CHECK(d.find("[3, 6, 6] -> [4, 6, 6]   inference: + BatchNorm, ReLU (stage 1 folded in)\n") !=
          std::string::npos);
    CHECK(d.find("epilogue: ReLU   (inference: folded into stage 0)\n") != std::string::npos);
    CHECK(d.find("inference forward: 3 stage(s)") != std::string::npos);
    const std::string dr = describe<ConvBnRef>();
    CHECK(dr.find("folded") == std::string::npos);
    CHECK(dr.find("inference forward") == std::string::npos);
}
