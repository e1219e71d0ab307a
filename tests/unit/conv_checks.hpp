// Checks of the float convolution paths shared by conv*.cpp (portable build: the 4-wide kernels)
// and native.cpp (built for this CPU: AVX-512 or AVX2 kernels): a naive reference convolution,
// float against double, and the max pool computed in a convolution's store.
#pragma once
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

namespace ctnn::test {

/// PyTorch's Conv2d written as plain loops, for one sample: x [c, h, w], weight [o, c / g, k, kw],
/// padding (top, left) and the output size given explicitly (so the reference does not share
/// ctnn's geometry code). kw = 0: a square k x k kernel.
struct ConvRef {
    std::size_t c, h, w, o, k, sh, sw, pt, pl, dh, dw, groups, oh, ow;
    bool bias;
    std::size_t kw = 0;

    [[nodiscard]] std::vector<double> run(const std::vector<double>& x, const double* weight,
                                          std::size_t batch) const {
        const std::size_t cg = c / groups, og = o / groups, kc = kw == 0 ? k : kw;
        const double* b = weight + o * cg * k * kc;
        std::vector<double> y(batch * o * oh * ow);
        for (std::size_t s = 0; s < batch; ++s)
            for (std::size_t oc = 0; oc < o; ++oc)
                for (std::size_t i = 0; i < oh; ++i)
                    for (std::size_t j = 0; j < ow; ++j) {
                        double acc = bias ? b[oc] : 0.0;
                        const std::size_t g = oc / og;
                        for (std::size_t ic = 0; ic < cg; ++ic)
                            for (std::size_t ki = 0; ki < k; ++ki)
                                for (std::size_t kj = 0; kj < kc; ++kj) {
                                    const long ih =
                                        static_cast<long>(i * sh + ki * dh) - static_cast<long>(pt);
                                    const long iw =
                                        static_cast<long>(j * sw + kj * dw) - static_cast<long>(pl);
                                    if (ih < 0 || iw < 0 || ih >= static_cast<long>(h) ||
                                        iw >= static_cast<long>(w))
                                        continue;
                                    const std::size_t cin = g * cg + ic;
                                    acc +=
                                        weight[((oc * cg + ic) * k + ki) * kc + kj] *
                                        x[((s * c + cin) * h + static_cast<std::size_t>(ih)) * w +
                                          static_cast<std::size_t>(iw)];
                                }
                        y[((s * o + oc) * oh + i) * ow + j] = acc;
                    }
        return y;
    }
};

/// Runs Net (Input, one Conv2D, optionally one activation Act) in float — on the CPU, stride 1
/// and one group take the direct kernel (backend/cpu/conv.hpp) — in inference and in training
/// (which also keeps Z), and compares with the reference in double followed by act.
template <class Net, class Act>
void check_conv_forward_float(const ConvRef& r, std::size_t batch, std::uint64_t seed, Act act) {
    Model<Net> m(device::cpu());
    m.init(seed);
    auto p = m.parameters();
    const auto noise = random_values(p.size(), seed + 1, -0.5, 0.5);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += static_cast<float>(noise[i]);
    const std::vector<double> pd(p.begin(), p.end());
    const auto xd = random_values(batch * Net::in_size, seed + 2);
    const std::vector<float> x(xd.begin(), xd.end());
    const std::vector<double> xr(x.begin(), x.end()); // the float inputs, exactly
    const auto expected = r.run(xr, pd.data(), batch);
    for (const Mode mode : {Mode::inference, Mode::training}) {
        const auto y = m.forward(x, batch, mode);
        REQUIRE(y.size() == expected.size());
        double worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i)
            worst = std::max(worst, std::fabs(static_cast<double>(y[i]) - act(expected[i])));
        CHECK(worst < 1e-4);
    }
}

/// Parameter gradients of Net in float (direct CPU kernels for the forward pass and the input
/// gradient of stride-1 convolutions) against the same model in double (im2col + GEMM).
template <class Net>
void check_float_gradients(std::size_t batch, std::uint64_t seed) {
    Model<Net> mf(device::cpu());
    mf.init(seed);
    Model<Net, double> md(device::cpu());
    const auto pf = mf.parameters();
    std::copy(pf.begin(), pf.end(), md.parameters().begin());
    const auto xd = random_values(batch * Net::in_size, seed + 1);
    const std::vector<float> xf(xd.begin(), xd.end());
    const std::vector<double> xr(xf.begin(), xf.end());
    const auto td = random_values(batch * Net::out_size, seed + 2);
    const std::vector<float> tf(td.begin(), td.end());
    mf.forward(xf, batch, Mode::training);
    mf.loss(loss::MSE{}, {.values = tf});
    mf.backward();
    md.forward(xr, batch, Mode::training);
    md.loss(loss::MSE{}, {.values = td});
    md.backward();
    const auto gf = mf.gradients();
    const auto gd = md.gradients();
    double worst = 0, mag = 0;
    for (std::size_t i = 0; i < gd.size(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(gf[i]) - gd[i]));
        mag = std::max(mag, std::fabs(gd[i]));
    }
    CHECK(mag > 0);
    CHECK(worst / mag < 1e-4);
}

template <class Conv, std::size_t C = 3, std::size_t H = 7, std::size_t W = 19>
using ConvAfterConv =
    Sequential<Input<2, H, W>, Conv2D<C, 3, Same>, Tanh, Conv, SiLU, Flatten, Dense<3>>;

/// An inference pass of Net (no Dropout, no BatchNorm) against a training pass: the same outputs
/// bit for bit, whether or not a max pool ran in the store of the convolution before it, and the
/// same gradients from backward() after either (after an inference pass the executor evaluates
/// the pass again, keeping what backward reads). `fused`: the pools both passes should compute
/// in a convolution's store with this build's instruction set. (The gradients themselves are
/// checked against double precision, which never fuses, by check_float_gradients.)
template <class Net>
void check_pool_fusion(std::size_t batch, std::uint64_t seed, std::size_t fused) {
    using Ex = eigen::Executor<Net, float>;
    CHECK(Ex::fused_pools == fused);
    Model<Net> m(device::cpu());
    m.init(seed);
    const auto xd = random_values(batch * Net::in_size, seed + 1);
    const std::vector<float> x(xd.begin(), xd.end());
    const auto td = random_values(batch * Net::out_size, seed + 2);
    const std::vector<float> t(td.begin(), td.end());
    std::vector<std::vector<float>> outs, grads;
    for (const Mode mode : {Mode::inference, Mode::training}) {
        const auto y = m.forward(x, batch, mode);
        outs.emplace_back(y.begin(), y.end());
        m.loss(loss::MSE{}, {.values = t});
        m.backward();
        grads.emplace_back(m.gradients().begin(), m.gradients().end());
    }
    CHECK(outs[0] == outs[1]);
    CHECK(grads[0] == grads[1]);
    CHECK(std::any_of(grads[0].begin(), grads[0].end(), [](float g) { return g != 0.0f; }));

    Ex ex;
    ElemCtx ctx;
    const float* y = ex.forward(m.parameters().data(), x.data(), batch, ctx);
    CHECK(ex.last_forward_stages() == stages_of<Net>::size - fused);
    CHECK(std::vector<float>(y, y + batch * Net::out_size) == outs[0]);
    ctx.training = true;
    (void)ex.forward(m.parameters().data(), x.data(), batch, ctx);
    CHECK(ex.last_forward_stages() == stages_of<Net>::size - fused);
}

/// Whether this build's direct convolution pools rows of `w` output columns in its store.
constexpr std::size_t poolable_width(std::size_t w) {
#if CTNN_CPU_FUSED
    using I = cpu::simd::Native;
    return 2 * ((w + I::width - 1) / I::width) <= I::max_vecs ? 1 : 0;
#else
    return w == 0 ? 1 : 0;
#endif
}

// --- Helpers of conv.cpp, conv_grad.cpp and conv_pool.cpp ---------------------------------------

template <class List>
struct as_tuple;
template <class... T>
struct as_tuple<type_list<T...>> {
    using type = std::tuple<T...>;
};
/// The I-th type of a type_list.
template <std::size_t I, class List>
using at = std::tuple_element_t<I, typename as_tuple<List>::type>;

/// Runs Net (a single Conv2D after Input) in double and compares with the reference.
template <class Net>
void check_conv_forward(const ConvRef& r, std::size_t batch, std::uint64_t seed) {
    static_assert(Net::out_shape::rank == 3);
    REQUIRE(Net::out_shape::dims[0] == r.o);
    REQUIRE(Net::out_shape::dims[1] == r.oh);
    REQUIRE(Net::out_shape::dims[2] == r.ow);
    Model<Net, double> m;
    m.init(seed);
    auto p = m.parameters();
    const auto noise = random_values(p.size(), seed + 1, -0.5, 0.5);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += noise[i];
    const auto x = random_values(batch * Net::in_size, seed + 2);
    const auto y = m.forward(x, batch);
    const auto expected = r.run(x, p.data(), batch);
    REQUIRE(y.size() == expected.size());
    double worst = 0;
    for (std::size_t i = 0; i < y.size(); ++i)
        worst = std::max(worst, std::fabs(y[i] - expected[i]));
    CHECK(worst < 1e-12);
}

/// A pooling window for pool_ref: kernel kh x kw, stride (sh, sw), padding (ph, pw) per side.
struct PoolWindow {
    std::size_t kh, kw, sh, sw, ph, pw;
};

/// Max or average pooling as plain loops (count_include_pad=True), one channel plane at a time.
inline std::vector<double> pool_ref(const std::vector<double>& x, std::size_t planes, std::size_t h,
                                    std::size_t w, const PoolWindow& g, bool max) {
    const std::size_t oh = (h + 2 * g.ph - g.kh) / g.sh + 1, ow = (w + 2 * g.pw - g.kw) / g.sw + 1;
    std::vector<double> y(planes * oh * ow);
    for (std::size_t pl = 0; pl < planes; ++pl)
        for (std::size_t i = 0; i < oh; ++i)
            for (std::size_t j = 0; j < ow; ++j) {
                double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
                for (std::size_t a = 0; a < g.kh; ++a)
                    for (std::size_t b = 0; b < g.kw; ++b) {
                        const long ih = static_cast<long>(i * g.sh + a) - static_cast<long>(g.ph);
                        const long iw = static_cast<long>(j * g.sw + b) - static_cast<long>(g.pw);
                        if (ih < 0 || iw < 0 || ih >= static_cast<long>(h) ||
                            iw >= static_cast<long>(w))
                            continue;
                        const double v = x[(pl * h + static_cast<std::size_t>(ih)) * w +
                                           static_cast<std::size_t>(iw)];
                        acc = max ? std::max(acc, v) : acc + v;
                    }
                y[(pl * oh + i) * ow + j] = max ? acc : acc / static_cast<double>(g.kh * g.kw);
            }
    return y;
}

/// Runs Net (Input<c, h, w> and one pooling layer with window g) in double against pool_ref.
template <class Net>
void check_pool_forward(std::size_t c, std::size_t h, std::size_t w, const PoolWindow& g, bool max,
                        std::size_t batch) {
    Model<Net, double> m;
    const auto x = random_values(batch * Net::in_size, 99);
    const auto y = m.forward(x, batch);
    const auto expected = pool_ref(x, batch * c, h, w, g, max);
    REQUIRE(y.size() == expected.size());
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(expected[i]));
}

/// A square k x k window with stride s and padding pad.
template <class Net>
void check_pool_forward(std::size_t c, std::size_t h, std::size_t w, std::size_t k, std::size_t s,
                        std::size_t pad, bool max, std::size_t batch) {
    check_pool_forward<Net>(c, h, w, PoolWindow{k, k, s, s, pad, pad}, max, batch);
}

// A window layer L is checked after a 1x1 convolution and before Flatten + Dense, so that its
// backward pass (dX) is what carries the gradient to the first convolution's parameters.
template <class L, std::size_t C = 2, std::size_t H = 5, std::size_t W = 5>
using ConvSandwich = Sequential<Input<C, H, W>, Conv2D<C, 1>, L, Flatten, Dense<2>>;

} // namespace ctnn::test
