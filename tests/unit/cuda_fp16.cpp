// fp16 mixed precision with dynamic loss scaling (Model<Net, precision::fp16>,
// model/loss_scale.hpp), on CUDA by host execution (tensor-core GEMMs with f16 operands) and on
// the CPU (Eigen GEMMs on fp16-rounded copies): outputs and gradients against a double reference
// of the same arithmetic with the loss scale in it (tests/unit/mixed_checks.hpp); the scale
// backing off on an overflow, the skipped step leaving parameters and optimizer state alone, the
// scale growing after good steps (PyTorch's GradScaler semantics); train() reporting the skipped
// steps.
#include "cuda_checks.hpp"
#include "mixed_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;
using namespace ctnn::test::mixed_checks;

namespace {

/// How many values of a and b differ.
std::size_t differing(std::span<const float> a, std::span<const float> b) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) n += a[i] != b[i] ? 1u : 0u;
    return n;
}

} // namespace

TEST_CASE("fp16 Dense stages: outputs and gradients are the fp16-operand products, loss scaled") {
    const std::vector<float> x = uniform(batch * n_in, 1, -2.0f, 2.0f);
    const std::vector<std::int32_t> labels = labels_for(batch, n_out);
    const loss::Targets<float> t{labels, {}};

    for (const Device dev : {device::cuda(), device::cpu()}) {
        CAPTURE(dev.str());
        Model<Mlp, precision::fp16> m(dev);
        m.init(7);
        // The second layer's weights made small: the gradients that reach the first layer
        // (dZ1 = dZ2 W2, ~1e-6) lie below fp16's normal range (2^-14), where it keeps few bits.
        {
            const auto w = m.parameters();
            const std::size_t w2 = n_in * n_hidden + n_hidden;
            for (std::size_t i = w2; i < w2 + n_out * n_hidden; ++i) w[i] *= 0x1p-10f;
        }
        const float scale = m.loss_scaler().scale();
        CHECK(scale == 65536.0f); // GradScaler's default
        const std::vector<float> p(m.parameters().begin(), m.parameters().end());
        const Reference ref = reference(p, x, labels, GemmOperands::fp16, scale);
        // The reference without loss scaling differs: fp16 rounds small gradients away, so a
        // model that ignored the scale would fail the gradient check below.
        const Reference plain = reference(p, x, labels, GemmOperands::fp16, 1.0f);
        REQUIRE(outside(plain.grads, ref.grads, ref.grad_scale) > 0);

        const auto y = m.forward(x, batch, Mode::training);
        CHECK(outside(y, ref.y, ref.y_scale) == 0);
        const float l = m.loss(loss::SoftmaxCrossEntropy{}, t);
        CHECK(std::isfinite(l));
        CHECK(l < 3.0f); // the loss itself is not scaled (ln 10 ~ 2.3 at the start)
        m.backward();
        CHECK_FALSE(m.loss_scaler().overflowed());
        CHECK(outside(m.gradients(), ref.grads, ref.grad_scale) == 0);
        // bf16's operands give other values: the check sees the format.
        const Reference bf = reference(p, x, labels, GemmOperands::bf16, 1.0f);
        CHECK(outside(y, bf.y, bf.y_scale) > batch * n_out / 2);
    }
}

TEST_CASE("fp16 loss scaling: an overflow skips the step and backs off, good steps grow it") {
    const std::vector<float> x = uniform(batch * n_in, 3);
    const std::vector<std::int32_t> labels = labels_for(batch, n_out);
    const loss::Targets<float> t{labels, {}};

    for (const Device dev : {device::cuda(), device::cpu()}) {
        CAPTURE(dev.str());
        Model<Mlp, precision::fp16> m(dev);
        m.init(5);
        // 2^40 times the loss gradient overflows fp16 (largest finite 65504) in the first GEMM
        // that reads it; a growth interval of 3 good steps.
        m.loss_scaler() = LossScaler(LossScaling{.init_scale = 0x1p40f, .growth_interval = 3});
        auto state = m.make_state(optim::Adam{.lr = 1e-3f});
        const std::vector<float> p0(m.parameters().begin(), m.parameters().end());

        m.forward(x, batch, Mode::training);
        m.loss(loss::SoftmaxCrossEntropy{}, t);
        m.backward();
        CHECK(m.loss_scaler().overflowed());
        CHECK(m.loss_scaler().scale() == 0x1p39f);
        CHECK(m.loss_scaler().skipped() == 1);
        m.update(state);
        // Skipped: parameters, optimizer state and its step as they were.
        CHECK(differing(m.parameters(), p0) == 0);
        CHECK(state.step == 0);
        CHECK(std::all_of(state.m.begin(), state.m.end(), [](float v) { return v == 0.0f; }));
        CHECK_FALSE(m.loss_scaler().overflowed());

        // Steps back the scale off until the gradients fit, then train; 3 good steps in a row
        // double it.
        std::size_t good = 0, steps = 0;
        while (good < 3 && steps < 60) {
            m.forward(x, batch, Mode::training);
            m.loss(loss::SoftmaxCrossEntropy{}, t);
            m.backward();
            const bool over = m.loss_scaler().overflowed();
            const float before = m.loss_scaler().scale();
            m.update(state);
            good = over ? 0 : good + 1;
            ++steps;
            if (!over && good < 3) CHECK(m.loss_scaler().scale() == before);
            if (!over && good == 3) CHECK(m.loss_scaler().scale() == 2.0f * before);
        }
        REQUIRE(good == 3);
        const std::uint64_t skipped = m.loss_scaler().skipped();
        INFO("skipped " << skipped << " steps, scale " << m.loss_scaler().scale());
        CHECK(skipped >= 2); // 2^40 -> at most ~2^17 takes many halvings: they are counted
        CHECK(state.step == 3);
        CHECK(differing(m.parameters(), p0) > 0);
        const auto g = m.gradients();
        CHECK(std::all_of(g.begin(), g.end(), [](float v) { return std::isfinite(v); }));
        // A copy carries the scaler (training state), as it carries the step.
        const Model<Mlp, precision::fp16> copy = m;
        CHECK(copy.loss_scaler().scale() == m.loss_scaler().scale());
        CHECK(copy.loss_scaler().skipped() == skipped);
    }
    const std::string d = Model<Mlp, precision::fp16>::describe();
    CHECK(d.find("precision: fp16 mixed") != std::string::npos);
    CHECK(d.find("dynamic loss scaling") != std::string::npos);
    CHECK(Model<Mlp, precision::bf16>::describe().find("loss scaling") == std::string::npos);
    CHECK_THROWS_AS(LossScaler(LossScaling{.growth_factor = 1.0f}), argument_error);
    CHECK_THROWS_AS(LossScaler(LossScaling{.backoff_factor = 1.0f}), argument_error);
}

TEST_CASE("fp16 train(): steps skipped by loss scaling are reported, training converges") {
    // Two well-separated clusters of 4 features, 64 samples.
    const std::size_t n = 64;
    using Net = Sequential<Input<4>, Dense<16>, ReLU, Dense<2>>;
    Dataset data;
    data.feature_count = 4;
    data.features.resize(n * 4);
    data.labels.resize(n);
    const std::vector<float> noise = uniform(n * 4, 9, -0.5f, 0.5f);
    for (std::size_t i = 0; i < n; ++i) {
        data.labels[i] = static_cast<std::int32_t>(i % 2);
        for (std::size_t j = 0; j < 4; ++j)
            data.features[i * 4 + j] = (data.labels[i] != 0 ? 1.0f : -1.0f) + noise[i * 4 + j];
    }
    for (const Device dev : {device::cuda(), device::cpu()}) {
        CAPTURE(dev.str());
        Model<Net, precision::fp16> m(dev);
        m.init(3);
        m.loss_scaler() = LossScaler(LossScaling{.init_scale = 0x1p40f});
        const History h = train(m, data, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 0.01f},
                                {.epochs = 20, .batch = 16, .progress = Progress::silent});
        CHECK(h.skipped() == 0); // not bad batches
        CHECK(h.scale_skipped() == m.loss_scaler().skipped());
        CHECK(h.scale_skipped() >= 2);
        CHECK(h.epochs.front().scale_skipped == 4); // every step of the first epoch overflows
        CHECK(h.epochs.back().train.accuracy > 0.95);
    }
}
