// Shared by tests/unit/nan.cpp (Eigen and portable fused kernels), tests/unit/nan_cuda.cpp (CUDA
// kernels by host execution) and tests/unit/native.cpp (this machine's widest fused kernels):
// a NaN entering a model comes out of it, forward and backward, as in PyTorch. Before issue 17,
// ReLU (and the fused kernels' ReLU, its derivative and the max-pool stores after it) turned NaN
// into 0: one NaN feature trained a dead model without a sign.
#pragma once
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ctnn::test::nan {

template <class T>
inline constexpr T qnan = std::numeric_limits<T>::quiet_NaN();

/// Deterministic finite values in [-1, 1].
template <class T>
std::vector<T> values(std::size_t n, double phase) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<T>(std::sin(0.731 * static_cast<double>(i) + phase));
    return v;
}

/// How many of v[begin, end) are NaN.
template <class T>
std::size_t nans(std::span<const T> v, std::size_t begin, std::size_t end) {
    std::size_t k = 0;
    for (std::size_t i = begin; i < end; ++i) k += std::isnan(v[i]) ? 1u : 0u;
    return k;
}

/// One forward (mode), MSE loss against zeros and backward; returns the outputs.
template <class Net, class T>
std::vector<T> step(Model<Net, T>& model, const std::vector<T>& x, std::size_t batch, Mode mode) {
    const auto y = model.forward(std::span<const T>(x), batch, mode);
    std::vector<T> out(y.begin(), y.end());
    const std::vector<T> zeros(batch * Net::out_size, T(0));
    (void)model.loss(loss::MSE{}, {.values = zeros});
    model.backward();
    return out;
}

/// Activation Act between two Dense layers; the bias of hidden unit 5 is NaN, so that unit's
/// pre-activation is NaN for every sample. Forward: Act(NaN) is NaN, so every output is NaN (the
/// second layer sums over the hidden units). Backward: the NaN reaches the gradients of unit 5's
/// weights and bias through Act's derivative at NaN (ReLU's passes the gradient, as PyTorch's
/// threshold_backward; it used to be 0).
template <class Act, class T>
void check_activation(Device dev) {
    using Net = Sequential<Input<4>, Dense<8>, Act, Dense<3>>;
    INFO(Act::name() << " on " << dev.str() << ", " << sizeof(T) * 8 << "-bit");
    constexpr std::size_t batch = 3, unit = 5, w1 = 8 * 4;
    Model<Net, T> model(dev);
    model.init(11);
    model.parameters()[w1 + unit] = qnan<T>; // bias of hidden unit 5
    const auto x = values<T>(batch * Net::in_size, 0.4);
    for (const Mode mode : {Mode::inference, Mode::training}) {
        const auto y = step(model, x, batch, mode);
        CHECK(nans<T>(y, 0, y.size()) == y.size());
        const auto g = model.gradients();
        CHECK(nans(g, unit * 4, unit * 4 + 4) == 4); // unit 5's weights
        CHECK(std::isnan(g[w1 + unit]));             // and bias
    }
}

/// A NaN feature of sample 0 makes sample 0's outputs NaN and leaves the other samples' outputs
/// finite; backward, it reaches the gradient of every bias before the output layer (through
/// each ReLU's derivative, and through max pooling to the window's NaN).
template <class Net, class T>
void check_nan_input(Device dev, std::span<const std::size_t> nan_grads) {
    INFO(describe<Net>() << " on " << dev.str() << ", " << sizeof(T) * 8 << "-bit");
    constexpr std::size_t batch = 3, out = Net::out_size;
    Model<Net, T> model(dev);
    model.init(5);
    auto x = values<T>(batch * Net::in_size, 0.9);
    x[Net::in_size / 2 + 1] = qnan<T>;
    for (const Mode mode : {Mode::inference, Mode::training}) {
        INFO("training " << (mode == Mode::training));
        const auto y = step(model, x, batch, mode);
        CHECK(nans<T>(y, 0, out) == out);
        CHECK(nans<T>(y, out, batch * out) == 0);
        const auto g = model.gradients();
        for (const std::size_t i : nan_grads) {
            INFO("gradient " << i);
            CHECK(std::isnan(g[i]));
        }
    }
}

/// Every built-in activation, and user expressions with max and min (ReLU6, a clamp).
template <class T>
void check_every_activation(Device dev) {
    using expr::x;
    check_activation<ReLU, T>(dev);
    check_activation<LeakyReLU<>, T>(dev);
    check_activation<ELU<>, T>(dev);
    check_activation<Sigmoid, T>(dev);
    check_activation<Tanh, T>(dev);
    check_activation<GELU, T>(dev);
    check_activation<GELUTanh, T>(dev);
    check_activation<SiLU, T>(dev);
    check_activation<Softplus<>, T>(dev);
    check_activation<Identity, T>(dev);
    check_activation<Activation<expr::min(expr::max(x, 0.0f), 6.0f)>, T>(dev);  // ReLU6
    check_activation<Activation<expr::max(-1.0f, expr::min(1.0f, x))>, T>(dev); // hardtanh
}

/// An MLP of ReLUs (the fused executor's ReLU on registers and its derivative in the input
/// gradient tile) and a CNN with Conv2D, ReLU, MaxPool2D<2> (the convolution's store with the
/// pool fused, the pool backward with the ReLU derivative) and a residual.
template <class T>
void check_models(Device dev) {
    using Mlp = Sequential<Input<6>, Dense<16>, ReLU, Dense<16>, ReLU, Dense<3>>;
    // Parameters: W1 [16, 6], b1 [16] at 96, W2 [16, 16], b2 [16] at 368, W3, b3.
    std::vector<std::size_t> mlp_biases;
    for (std::size_t i = 0; i < 16; ++i)
        mlp_biases.push_back(96 + i), mlp_biases.push_back(368 + i);
    check_nan_input<Mlp, T>(dev, mlp_biases);

    using Cnn =
        Sequential<Input<1, 8, 8>, Conv2D<2, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>;
    // Parameters: conv weight [2, 1, 3, 3], conv bias [2] at 18.
    const std::size_t cnn_biases[] = {18, 19};
    check_nan_input<Cnn, T>(dev, cnn_biases);

    using Res =
        Sequential<Input<2, 4, 4>, Conv2D<4, 3, Same>, ReLU, Residual<Conv2D<4, 3, Same>, ReLU>,
                   ReLU, MaxPool2D<2>, Flatten, Dense<2>>;
    // Parameters: conv weight [4, 2, 3, 3], bias [4] at 72, body weight [4, 4, 3, 3] at 76,
    // body bias [4] at 220.
    const std::size_t res_biases[] = {72, 73, 74, 75, 220, 221, 222, 223};
    check_nan_input<Res, T>(dev, res_biases);
}

} // namespace ctnn::test::nan

#if CTNN_CPU_FUSED
namespace ctnn::test::nan {

/// The SIMD operations of instruction set I on NaN: ReLU keeps it, ReLU's derivative read from a
/// NaN output passes the gradient, max and the pair max of a pooling store return it from either
/// side.
template <class I>
void check_simd() {
    INFO(std::string(I::name));
    using reg = typename I::reg;
    constexpr std::size_t w = I::width;
    const float q = qnan<float>;
    // Lanes cycle through NaN, -2, -0, 0, 3 and, as the second operand of max, 1, NaN, ...
    std::vector<float> a(w), b(w), d(w, 2.0f), out(w);
    const float cycle[] = {q, -2.0f, -0.0f, 0.0f, 3.0f};
    for (std::size_t i = 0; i < w; ++i) a[i] = cycle[i % 5], b[i] = i % 2 ? q : 1.0f;
    const reg ra = I::load(a.data()), rb = I::load(b.data());
    I::store(out.data(), I::relu(ra));
    for (std::size_t i = 0; i < w; ++i) {
        INFO("relu lane " << i << " of " << a[i]);
        if (std::isnan(a[i])) CHECK(std::isnan(out[i]));
        else CHECK(out[i] == (a[i] > 0 ? a[i] : 0.0f));
    }
    I::store(out.data(), I::relu_backward(I::load(d.data()), ra));
    for (std::size_t i = 0; i < w; ++i) {
        INFO("relu_backward lane " << i << " at y = " << a[i]);
        CHECK(out[i] == (a[i] <= 0 ? 0.0f : 2.0f));
    }
    I::store(out.data(), I::max(ra, rb));
    for (std::size_t i = 0; i < w; ++i) {
        INFO("max lane " << i << " of " << a[i] << ", " << b[i]);
        if (std::isnan(a[i]) || std::isnan(b[i])) CHECK(std::isnan(out[i]));
        else CHECK(out[i] == std::max(a[i], b[i]));
    }
    I::store(out.data(), I::max(rb, ra));
    for (std::size_t i = 0; i < w; ++i)
        if (std::isnan(a[i]) || std::isnan(b[i])) CHECK(std::isnan(out[i]));
    // Pairs (NaN, -2), (-0, 0), (3, NaN), (-2, -0), ...: NaN on either side of a pair wins.
    std::vector<float> pairs(w / 2, -7.0f);
    I::store_pair_max(pairs.data(), ra, w / 2);
    for (std::size_t k = 0; k < w / 2; ++k) {
        INFO("pair " << k << ": " << a[2 * k] << ", " << a[2 * k + 1]);
        if (std::isnan(a[2 * k]) || std::isnan(a[2 * k + 1])) CHECK(std::isnan(pairs[k]));
        else CHECK(pairs[k] == std::max(a[2 * k], a[2 * k + 1]));
    }
}

} // namespace ctnn::test::nan
#endif

// ---- train(): the non-finite policy (TrainOptions::on_non_finite) ------------------------------
namespace ctnn::test::nan {

/// 40 samples of 4 features, 3 classes; with `bad` (NaN or an infinity), feature 1 of sample 20
/// (in the third batch of 8 when not shuffled). drop_third_batch: samples 16..23 left out.
inline Dataset policy_data(float bad, bool drop_third_batch = false) {
    Dataset d;
    d.feature_count = 4;
    for (std::size_t i = 0; i < 40; ++i) {
        if (drop_third_batch && i >= 16 && i < 24) continue;
        for (std::size_t j = 0; j < 4; ++j)
            d.features.push_back(
                static_cast<float>(std::sin(0.37 * static_cast<double>(i * 4 + j))));
        d.labels.push_back(static_cast<std::int32_t>(i % 3));
    }
    if (!std::isfinite(bad)) d.features[20 * 4 + 1] = bad;
    return d;
}

inline TrainOptions policy_options(std::size_t epochs, NonFinite policy,
                                   std::ostream* out = nullptr) {
    TrainOptions o;
    o.epochs = epochs;
    o.batch = 8;
    o.shuffle = false;
    o.progress = out ? Progress::lines : Progress::silent;
    o.out = out;
    o.on_non_finite = policy;
    return o;
}

/// Whether spans a and b hold the same bits.
template <class A, class B>
bool bitwise_equal(const A& a, const B& b) {
    // memcmp of an empty span's null pointer is undefined (UBSan reports it): compare sizes first.
    return a.size() == b.size() &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0);
}

template <class V>
bool finite(const V& v) {
    for (const auto x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

/// The three policies on model Net (float data converted to T) on `dev`, with a NaN and an
/// infinite feature in the third batch of the first epoch. `gradient_only`: the model turns the
/// bad feature into a finite loss but non-finite gradients (a saturated Sigmoid), so only the
/// gradient check catches it.
template <class Net, class T>
void check_policies(Device dev, bool gradient_only = false) {
    INFO(describe<Net>() << " on " << dev.str() << ", " << sizeof(T) * 8 << "-bit");
    const loss::SoftmaxCrossEntropy ce;
    const optim::Adam adam{.lr = 0.01f};
    const auto fresh = [&] {
        Model<Net, T> m(dev);
        m.init(21);
        return m;
    };
    // The state just before the bad batch: the first two steps of epoch 1.
    Dataset first_two = policy_data(1.0f);
    first_two.features.resize(16 * 4);
    first_two.labels.resize(16);
    Model<Net, T> before = fresh();
    (void)train(before, first_two, ce, adam, policy_options(1, NonFinite::throw_error));

    for (const float bad : {qnan<float>, std::numeric_limits<float>::infinity()}) {
        INFO("bad feature " << bad);
        const Dataset data = policy_data(bad);
        {
            INFO("throw_error (the default)");
            Model<Net, T> m = fresh();
            TrainOptions o = policy_options(2, NonFinite::throw_error);
            CHECK(TrainOptions{}.on_non_finite == NonFinite::throw_error);
            try {
                (void)train(m, data, ce, adam, o);
                FAIL("train() did not throw");
            } catch (const numeric_error& e) {
                const std::string what = e.what();
                INFO(what);
                CHECK(what.find("epoch 1, step 3") != std::string::npos);
                if (gradient_only && std::isinf(bad))
                    CHECK(what.find("gradient") != std::string::npos);
            }
            CHECK(bitwise_equal(m.parameters(), before.parameters()));
            CHECK(bitwise_equal(std::as_const(m).buffers(), std::as_const(before).buffers()));
        }
        {
            INFO("skip_batch: as if the bad batch were not in the data");
            std::ostringstream progress;
            Model<Net, T> m = fresh(), ref = fresh();
            const History h =
                train(m, data, ce, adam, policy_options(2, NonFinite::skip_batch, &progress));
            const History h_ref = train(ref, policy_data(1.0f, true), ce, adam,
                                        policy_options(2, NonFinite::skip_batch));
            REQUIRE(h.epochs.size() == 2);
            CHECK(h.epochs[0].skipped == 1);
            CHECK(h.epochs[1].skipped == 1);
            CHECK(h.skipped() == 2);
            CHECK(h_ref.skipped() == 0);
            CHECK(h.stopped.empty());
            CHECK(finite(m.parameters()));
            CHECK(bitwise_equal(m.parameters(), ref.parameters()));
            CHECK(bitwise_equal(std::as_const(m).buffers(), std::as_const(ref).buffers()));
            CHECK(h.epochs[1].train.loss == h_ref.epochs[1].train.loss);
            CHECK(h.epochs[1].train.accuracy == h_ref.epochs[1].train.accuracy);
            INFO(progress.str());
            CHECK(progress.str().find("skipped 1 batch (non-finite") != std::string::npos);
        }
        {
            INFO("stop_and_restore: stops, parameters as before the bad batch");
            std::ostringstream progress;
            Model<Net, T> m = fresh();
            const History h =
                train(m, data, ce, adam, policy_options(3, NonFinite::stop_and_restore, &progress));
            REQUIRE(h.epochs.size() == 1);
            CHECK(h.stopped.find("epoch 1, step 3") != std::string::npos);
            CHECK(h.epochs[0].skipped == 0);
            CHECK(std::isfinite(h.epochs[0].train.loss));
            CHECK(bitwise_equal(m.parameters(), before.parameters()));
            CHECK(bitwise_equal(std::as_const(m).buffers(), std::as_const(before).buffers()));
            CHECK(progress.str().find("training stopped") != std::string::npos);
        }
    }
}

} // namespace ctnn::test::nan
