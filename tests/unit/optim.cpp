// Optimizers, schedules and gradient clipping against hand-computed steps (PyTorch's formulas).
#include <ctnn/ctnn.hpp>

#include "clip_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace ctnn;

namespace {
/// Runs `steps` updates of optimizer o on one parameter with the gradient sequence g.
template <class O>
std::vector<double> run(const O& o, double p0, const std::vector<double>& g, float lr) {
    OptimizerState<O, double> st(o, 1);
    std::vector<double> ps;
    double p = p0;
    for (double gi : g) {
        ++st.step;
        eigen::apply_update(st.optimizer, st.optimizer.scalars(lr, st.step), &p, &gi, st.m.data(),
                            O::state_count >= 2 ? st.v.data() : nullptr, 1);
        ps.push_back(p);
    }
    return ps;
}
} // namespace

TEST_CASE("SGD: plain, weight decay, momentum, dampening, Nesterov") {
    const std::vector<double> g{1.0, -2.0, 0.5};
    auto p = run(optim::SGD{.lr = 0.1f}, 1.0, g, 0.1f);
    CHECK(p[0] == doctest::Approx(0.9));
    CHECK(p[1] == doctest::Approx(1.1));
    CHECK(p[2] == doctest::Approx(1.05));

    p = run(optim::SGD{.lr = 0.1f, .weight_decay = 0.5f}, 1.0, {1.0}, 0.1f);
    CHECK(p[0] == doctest::Approx(1.0 - 0.1 * (1.0 + 0.5)));

    // momentum 0.9: b1 = g1 = 1; b2 = 0.9 * 1 - 2 = -1.1; b3 = -0.99 + 0.5 = -0.49
    p = run(optim::SGD{.lr = 0.1f, .momentum = 0.9f}, 1.0, g, 0.1f);
    CHECK(p[0] == doctest::Approx(0.9));
    CHECK(p[1] == doctest::Approx(0.9 + 0.11));
    CHECK(p[2] == doctest::Approx(1.01 + 0.049));

    // dampening 0.5: b1 = g1 = 1 (no dampening on the first step); b2 = 0.9 - 1 = -0.1
    p = run(optim::SGD{.lr = 0.1f, .momentum = 0.9f, .dampening = 0.5f}, 1.0, g, 0.1f);
    CHECK(p[1] == doctest::Approx(0.9 + 0.01));

    // Nesterov: step uses g + momentum * b: 1 + 0.9 = 1.9, then -2 + 0.9 * -1.1 = -2.99
    p = run(optim::SGD{.lr = 0.1f, .momentum = 0.9f, .nesterov = true}, 1.0, g, 0.1f);
    CHECK(p[0] == doctest::Approx(1.0 - 0.19));
    CHECK(p[1] == doctest::Approx(0.81 + 0.299));
}

TEST_CASE("Adam and AdamW: bias-corrected steps") {
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const std::vector<double> g{0.5, -0.3, 0.2};
    for (const double wd : {0.0, 0.1}) {
        double p = 1.0, m = 0, v = 0, pw = 1.0, mw = 0, vw = 0;
        const auto adam =
            run(optim::Adam{.lr = 0.01f, .weight_decay = static_cast<float>(wd)}, 1.0, g, 0.01f);
        const auto adamw =
            run(optim::AdamW{.lr = 0.01f, .weight_decay = static_cast<float>(wd)}, 1.0, g, 0.01f);
        for (std::size_t t = 1; t <= g.size(); ++t) {
            const double gt = g[t - 1] + wd * p;
            m = b1 * m + (1 - b1) * gt;
            v = b2 * v + (1 - b2) * gt * gt;
            p -= lr * (m / (1 - std::pow(b1, t))) / (std::sqrt(v / (1 - std::pow(b2, t))) + eps);
            CHECK(adam[t - 1] == doctest::Approx(p).epsilon(1e-6));

            pw *= 1 - lr * wd;
            mw = b1 * mw + (1 - b1) * g[t - 1];
            vw = b2 * vw + (1 - b2) * g[t - 1] * g[t - 1];
            pw -= lr * (mw / (1 - std::pow(b1, t))) / (std::sqrt(vw / (1 - std::pow(b2, t))) + eps);
            CHECK(adamw[t - 1] == doctest::Approx(pw).epsilon(1e-6));
        }
    }
}

TEST_CASE("learning-rate schedules") {
    CHECK(optim::lr_at(optim::Constant{}, 0.1f, 7) == doctest::Approx(0.1f));
    const optim::Schedule step = optim::StepLR{.step_size = 2, .gamma = 0.5f};
    CHECK(optim::lr_at(step, 0.1f, 0) == doctest::Approx(0.1f));
    CHECK(optim::lr_at(step, 0.1f, 1) == doctest::Approx(0.1f));
    CHECK(optim::lr_at(step, 0.1f, 2) == doctest::Approx(0.05f));
    CHECK(optim::lr_at(step, 0.1f, 5) == doctest::Approx(0.025f));
    const optim::Schedule cos = optim::CosineLR{.t_max = 4, .eta_min = 0.0f};
    CHECK(optim::lr_at(cos, 1.0f, 0) == doctest::Approx(1.0f));
    CHECK(optim::lr_at(cos, 1.0f, 2) == doctest::Approx(0.5f));
    CHECK(optim::lr_at(cos, 1.0f, 1) == doctest::Approx(0.5 * (1 + std::cos(3.14159265 / 4))));
    CHECK(optim::lr_at(cos, 1.0f, 4) == doctest::Approx(0.0f));
}

TEST_CASE("per-step learning-rate schedules: warm-up + cosine, one-cycle (PyTorch's OneCycleLR)") {
    constexpr double pi = 3.14159265358979323846;
    const optim::Schedule wc = optim::WarmupCosine{.warmup_steps = 4, .eta_min = 0.0f};
    CHECK(optim::per_step(wc));
    CHECK_FALSE(optim::per_step(optim::CosineLR{}));
    // 4 warm-up steps of 12: base / 4, 2 base / 4, ..., base; then half a cosine over 8 steps.
    CHECK(optim::lr_at_step(wc, 1.0f, 0, 0, 12) == doctest::Approx(0.25f));
    CHECK(optim::lr_at_step(wc, 1.0f, 0, 2, 12) == doctest::Approx(0.75f));
    CHECK(optim::lr_at_step(wc, 1.0f, 0, 3, 12) == doctest::Approx(1.0f));
    CHECK(optim::lr_at_step(wc, 1.0f, 0, 4, 12) == doctest::Approx(1.0f));
    CHECK(optim::lr_at_step(wc, 1.0f, 0, 8, 12) == doctest::Approx(0.5f));
    CHECK(optim::lr_at_step(wc, 1.0f, 0, 11, 12) ==
          doctest::Approx(0.5 * (1 + std::cos(pi * 7 / 8))));
    // OneCycleLR(max_lr=1, total_steps=100): 0.04 at step 0, 1 at step 29 (pct_start 0.3),
    // 0.04 / 1e4 at step 99, halfway down at step 64.
    const optim::Schedule oc = optim::OneCycle{.max_lr = 1.0f};
    CHECK(optim::lr_at_step(oc, 0.5f, 0, 0, 100) == doctest::Approx(0.04f));
    CHECK(optim::lr_at_step(oc, 0.5f, 0, 29, 100) == doctest::Approx(1.0f));
    CHECK(optim::lr_at_step(oc, 0.5f, 0, 14, 100) ==
          doctest::Approx(1.0 + (0.04 - 1.0) / 2 * (std::cos(pi * 14 / 29) + 1)));
    CHECK(optim::lr_at_step(oc, 0.5f, 0, 64, 100) == doctest::Approx((1.0 + 4e-6) / 2));
    CHECK(optim::lr_at_step(oc, 0.5f, 0, 99, 100) == doctest::Approx(4e-6f).epsilon(1e-4));
    // max_lr 0: the optimizer's rate is the peak.
    CHECK(optim::lr_at_step(optim::OneCycle{}, 0.5f, 0, 29, 100) == doctest::Approx(0.5f));
    // A per-epoch schedule through lr_at_step is its value at the epoch.
    CHECK(optim::lr_at_step(optim::StepLR{.step_size = 1, .gamma = 0.5f}, 1.0f, 2, 77, 100) ==
          doctest::Approx(0.25f));
    CHECK_THROWS_AS((void)optim::lr_at(oc, 0.1f, 0), argument_error);
    CHECK_THROWS_AS((void)optim::lr_at_step(oc, 0.1f, 0, 0, 0), argument_error);
}

TEST_CASE("train() applies a per-step schedule at every step") {
    // 12 samples, batches of 4, 2 epochs: 6 steps of SGD, each at its own rate. The same steps
    // by hand give the same parameters, bit for bit.
    using Net = Sequential<Input<3>, Dense<5>, Tanh, Dense<2>>;
    Dataset d;
    d.feature_count = 3;
    for (std::size_t i = 0; i < 12; ++i) {
        for (std::size_t j = 0; j < 3; ++j)
            d.features.push_back(
                static_cast<float>(std::sin(0.7 * static_cast<double>(i * 3 + j))));
        d.labels.push_back(static_cast<std::int32_t>(i % 2));
    }
    const optim::SGD sgd{.lr = 0.5f};
    const optim::Schedule sched = optim::OneCycle{.pct_start = 0.5f};
    Model<Net> trained(device::cpu()), by_hand(device::cpu());
    trained.init(3);
    by_hand.init(3);
    const History h = train(trained, d, loss::SoftmaxCrossEntropy{}, sgd,
                            {.epochs = 2,
                             .batch = 4,
                             .shuffle = false,
                             .schedule = sched,
                             .progress = Progress::silent});
    auto state = by_hand.make_state(sgd);
    for (std::size_t step = 0; step < 6; ++step) {
        const std::size_t b0 = (step % 3) * 4;
        (void)by_hand.forward(std::span<const float>(d.sample(b0), 4 * 3), 4, Mode::training);
        (void)by_hand.loss(loss::SoftmaxCrossEntropy{}, {std::span(d.labels).subspan(b0, 4)});
        by_hand.backward();
        by_hand.update(state, optim::lr_at_step(sched, sgd.lr, step / 3, step, 6));
    }
    const auto a = trained.parameters(), b = by_hand.parameters();
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    // The history records each epoch's first rate; the rate changed within the epoch.
    REQUIRE(h.epochs.size() == 2);
    CHECK(h.epochs[0].lr == optim::lr_at_step(sched, sgd.lr, 0, 0, 6));
    CHECK(h.epochs[1].lr == optim::lr_at_step(sched, sgd.lr, 1, 3, 6));
    CHECK(optim::lr_at_step(sched, sgd.lr, 0, 1, 6) != h.epochs[0].lr);
}

TEST_CASE("one update covers the whole flat parameter buffer") {
    using Net = Sequential<Input<3>, Dense<4>, ReLU, Dense<2>>;
    Model<Net> m;
    m.init(1);
    const std::vector<float> before(m.parameters().begin(), m.parameters().end());
    const std::vector<float> x{0.1f, 0.2f, 0.3f, -0.1f, 0.5f, 0.9f};
    const std::vector<float> t{1, 0, 0, 1};
    m.forward(x, 2, Mode::training);
    m.loss(loss::MSE{}, {.values = t});
    m.backward();
    OptimizerState<optim::SGD> st(optim::SGD{.lr = 0.5f}, Net::param_count);
    m.update(st, 0.5f);
    for (std::size_t i = 0; i < before.size(); ++i)
        CHECK(m.parameters()[i] == doctest::Approx(before[i] - 0.5f * m.gradients()[i]));
}

TEST_CASE("Model::update refuses an optimizer state made for another model") {
    using Net = Sequential<Input<3>, Dense<4>, ReLU, Dense<2>>;
    Model<Net> m;
    m.init(1);
    OptimizerState<optim::Adam> wrong(optim::Adam{}, Net::param_count + 1);
    try {
        m.update(wrong, 0.1f);
        FAIL("no exception");
    } catch (const argument_error& e) {
        CHECK(std::string(e.what()) ==
              "Model::update: the Adam state holds 27 values per buffer, the model has 26 "
              "parameters");
    }
    CHECK(wrong.step == 0);
}

namespace {
/// One SGD-with-momentum update of a model whose gradients are zero, from a momentum buffer of
/// denormals (what decays where a ReLU unit stopped firing): returns the momentum read back.
template <class T>
std::vector<T> momentum_after_update(T denormal) {
    using Net = Sequential<Input<40>, Dense<33>, ReLU, Dense<3>>; // fused for float
    Model<Net, T> model(device::cpu());
    model.init(2);
    const std::vector<T> p0(model.parameters().begin(), model.parameters().end());
    OptimizerState<optim::SGD, T> st(optim::SGD{.lr = 0.1f, .momentum = 0.5f}, Net::param_count);
    st.step = 3; // past the first step (which sets the momentum to the gradient)
    std::fill(st.m.begin(), st.m.end(), denormal);
    model.update(st, 0.1f); // no backward yet: the gradients are zero
    model.read_state(st);
    // With the momentum flushed, nothing moves (the zero biases would, by 0.1 * 0.5 * m).
    const std::vector<T> p1(model.parameters().begin(), model.parameters().end());
    if (denormal < std::numeric_limits<T>::min()) CHECK(p1 == p0);
    return st.m;
}
} // namespace

TEST_CASE("Model::update flushes denormal optimizer state to zero, restoring the FP mode") {
#if CTNN_CPU_HAS_MXCSR || CTNN_CPU_HAS_FPCR
    const std::uint64_t before = cpu::fp_control();
    CHECK((before & cpu::FlushDenormals::flush_bits) == 0); // the default mode keeps denormals
    // 0.5 * denormal is a denormal again without the flush (the test fails then).
    for (const float m : momentum_after_update<float>(1e-39f)) CHECK(m == 0.0f);
    for (const double m : momentum_after_update<double>(1e-310)) CHECK(m == 0.0);
    // The control bits (rounding, masks, FTZ, DAZ; FPCR.FZ) are back; MXCSR's sticky exception
    // flags (bits 0-5) are whatever the test's own arithmetic on denormals raised since (FPCR
    // has none: they are in FPSR).
    CHECK((cpu::fp_control() & ~std::uint64_t{0x3F}) == (before & ~std::uint64_t{0x3F}));
    // Normal values are untouched: 0.5 * 1e-30.
    for (const float m : momentum_after_update<float>(1e-30f)) CHECK(m == 0.5e-30f);
    // Outside an update, denormals survive again.
    volatile float d = 1e-39f;
    CHECK(d * 0.5f != 0.0f);
#else
    MESSAGE("no MXCSR or FPCR on this architecture: the update does not change the FP mode");
#endif
}

TEST_CASE("Model::update(state) steps at the optimizer's own learning rate") {
    // update(state, lr) takes a schedule's rate; update(state) must use state.optimizer.lr (it
    // was the surprise of a new user that .lr was ignored).
    using Net = Sequential<Input<3>, Dense<4>, ReLU, Dense<2>>;
    Model<Net> a, b;
    a.init(3);
    b.init(3);
    const std::vector<float> x{0.1f, 0.2f, 0.3f, -0.1f, 0.5f, 0.9f};
    const std::vector<float> t{1, 0, 0, 1};
    for (Model<Net>* m : {&a, &b}) {
        m->forward(x, 2, Mode::training);
        m->loss(loss::MSE{}, {.values = t});
        m->backward();
    }
    OptimizerState<optim::Adam> sa(optim::Adam{.lr = 0.03f}, Net::param_count);
    OptimizerState<optim::Adam> sb(optim::Adam{.lr = 0.03f}, Net::param_count);
    a.update(sa);
    b.update(sb, 0.03f);
    const auto pa = a.parameters(), pb = b.parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i] == pb[i]);
    // ... and not at some other rate: a different lr moves the parameters differently.
    Model<Net> c;
    c.init(3);
    c.forward(x, 2, Mode::training);
    c.loss(loss::MSE{}, {.values = t});
    c.backward();
    OptimizerState<optim::Adam> sc(optim::Adam{.lr = 0.03f}, Net::param_count);
    c.update(sc, 0.001f);
    CHECK(c.parameters()[0] != doctest::Approx(pa[0]).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm: PyTorch's global-norm clipping, fused executor (float MLP)") {
    using Net = Sequential<Input<40>, Dense<33>, ReLU, Dense<3>>; // fused for float
    test::clip::check_clip<Net, float>(device::cpu());
    test::clip::check_train_clip<Net, float>(device::cpu());
}

TEST_CASE("clip_grad_norm: PyTorch's global-norm clipping, Eigen executor (double, NoBias)") {
    using Net = Sequential<Input<6>, Dense<5, NoBias>, Tanh, Dense<2>>;
    test::clip::check_clip<Net, double>(device::cpu());
    test::clip::check_train_clip<Net, double>(device::cpu());
}
