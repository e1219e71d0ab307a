// The int8 reference computations of tests/unit/quantize.cpp and native_int8.cpp: codes and
// per-channel weights restated from core/quantize.hpp's rule, and checks that ctnn's int8 GEMM
// and quantized Dense and Conv2D stages equal them exactly (native_int8.cpp runs the same checks
// on the build host's instruction set: AVX2's kernel).
#pragma once
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace ctnn::test::int8 {

inline std::vector<float> uniform_floats(std::size_t n, std::uint64_t seed, double lo, double hi) {
    const auto v = test::random_values(n, seed, lo, hi);
    return {v.begin(), v.end()};
}

/// The largest |got - want| over the largest |want|: how far a quantized model's outputs are
/// from a reference's, relative to the outputs' size.
inline double largest_relative_difference(std::span<const float> got, std::span<const float> want) {
    double worst = 0, top = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, double(std::fabs(got[i] - want[i])));
        top = std::max(top, double(std::fabs(want[i])));
    }
    return worst / top;
}

/// The int8 code of v at scale s, restated from the documented rule: round half to even of
/// v * (1 / s), clamped to [-127, 127].
inline std::int32_t code(float v, float s) {
    const float r = std::nearbyint(v * (1.0f / s));
    return static_cast<std::int32_t>(std::clamp(r, -127.0f, 127.0f));
}

/// Per-output-channel reference quantization of weights [channels, depth] (row-major).
struct RefWeights {
    std::vector<std::int32_t> q;
    std::vector<float> scale;
};
inline RefWeights ref_weights(const float* w, std::size_t channels, std::size_t depth) {
    RefWeights r{std::vector<std::int32_t>(channels * depth), std::vector<float>(channels)};
    for (std::size_t c = 0; c < channels; ++c) {
        float amax = 0.0f;
        for (std::size_t k = 0; k < depth; ++k) amax = std::max(amax, std::fabs(w[c * depth + k]));
        r.scale[c] = amax > 0.0f ? amax / 127.0f : 1.0f;
        for (std::size_t k = 0; k < depth; ++k)
            r.q[c * depth + k] = code(w[c * depth + k], r.scale[c]);
    }
    return r;
}

/// A reference int8 Dense: y[b][o] = float(sum_k qx qw) * (s_x s_w[o]) + bias[o], the sum in
/// int64 (it must equal the int32 one).
inline std::vector<float> ref_dense(std::span<const float> x, std::size_t batch, const float* w,
                                    const float* bias, std::size_t n_in, std::size_t n_out,
                                    float sx) {
    const RefWeights rw = ref_weights(w, n_out, n_in);
    std::vector<float> y(batch * n_out);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t o = 0; o < n_out; ++o) {
            std::int64_t acc = 0;
            for (std::size_t k = 0; k < n_in; ++k)
                acc += std::int64_t{code(x[b * n_in + k], sx)} * rw.q[o * n_in + k];
            const float m = sx * rw.scale[o];
            const volatile float z = static_cast<float>(acc) * m; // (no contraction into an FMA)
            y[b * n_out + o] = z + bias[o];
        }
    return y;
}

/// cpu::quantize_s8 (the stages' input quantization: AVX2 or the portable loop) against the
/// restated rule, code(), on every kind of value: half-way points, the clamp, +-inf, -0, NaNs
/// (counted, quantized as 0), at a length that leaves a tail after the 32-value steps.
inline void check_quantize_s8() {
    std::vector<float> x;
    for (int k = -600; k <= 600; ++k) x.push_back(static_cast<float>(k) * 0.25f);
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (const float v : {inf, -inf, nan, 1e30f, -0.0f, -1e30f, nan}) x.push_back(v);
    for (int k = 0; k < 113; ++k) x.push_back(200.0f * std::sin(0.7f * static_cast<float>(k)));
    for (const float s : {1.0f, 0.5f, 2.7f, 1.0f / 40.0f}) {
        CAPTURE(s);
        std::vector<std::int8_t> q(x.size(), 99);
        CHECK(cpu::quantize_s8(x.data(), q.data(), x.size(), 1.0f / s) == 2);
        bool all = true;
        for (std::size_t i = 0; i < x.size(); ++i)
            all = all && q[i] == (x[i] != x[i] ? 0 : code(x[i], s));
        CHECK(all);
    }
}

/// gemm_s8 against a naive integer product: strided rows, every tail of M and K, the largest sums.
inline void check_gemm_s8() {
    for (const std::size_t M : {1u, 3u, 4u, 9u})
        for (const std::size_t N : {1u, 2u, 5u})
            // K = 50: the AVX2 kernel's 32-, 16- and 1-value steps; b holds -128 (allowed in b).
            for (const std::size_t K : {1u, 7u, 33u, 50u, 1000u}) {
                CAPTURE(M);
                CAPTURE(N);
                CAPTURE(K);
                const std::size_t lda = K + 3, ldb = K + 1, ldc = M + 2;
                std::vector<std::int8_t> a(M * lda), b(N * ldb);
                for (std::size_t i = 0; i < a.size(); ++i)
                    a[i] = static_cast<std::int8_t>(static_cast<int>((i * 37 + M) % 255) - 127);
                for (std::size_t i = 0; i < b.size(); ++i)
                    b[i] = static_cast<std::int8_t>(static_cast<int>((i * 91 + K) % 255) - 127);
                if (K == 50) b[7] = -128;
                if (K == 1000) { // the largest sums: every product 127 * 127 or -127 * 127
                    std::fill(a.begin(), a.end(), std::int8_t{-127});
                    std::fill(b.begin(), b.end(), std::int8_t{127});
                }
                std::vector<std::int32_t> c(N * ldc, 12345);
                cpu::gemm_s8(a.data(), lda, b.data(), ldb, c.data(), ldc, M, N, K);
                bool all = true;
                for (std::size_t n = 0; n < N; ++n)
                    for (std::size_t m = 0; m < ldc; ++m) {
                        std::int64_t want = 12345; // the padding of c stays untouched
                        if (m < M) {
                            want = 0;
                            for (std::size_t k = 0; k < K; ++k)
                                want += std::int64_t{a[m * lda + k]} * b[n * ldb + k];
                        }
                        all = all && c[n * ldc + m] == want;
                    }
                CHECK(all);
            }
}

/// A quantized Dense chain (37 -> 19 -> ReLU -> 5) against ref_dense, bit for bit.
inline void check_quantized_dense_exact() {
    using Net = Sequential<Input<37>, Dense<19>, ReLU, Dense<5>>;
    Model<Net> m(device::cpu());
    m.init(3);
    const auto calib = uniform_floats(64 * 37, 11, -2.0, 2.0);
    const QuantizedModel<Net> q0 = quantize(m, calib);
    QuantizedModel<Net> q = q0;
    REQUIRE(q.int8_stages == 2);
    float amax = 0.0f;
    for (float v : calib) amax = std::max(amax, std::fabs(v));
    CHECK(q.input_scales()[0] == amax / 127.0f);
    CHECK(q.input_scales()[1] > 0.0f);

    const std::size_t batch = 7;
    const auto x = uniform_floats(batch * 37, 12, -2.5, 2.5); // beyond calibration: saturates
    const float* p = m.parameters().data();
    const float* w0 = p + ctnn::detail::stage_at<stages_of<Net>, 0>::anchor::param_offset;
    const float* w1 = p + ctnn::detail::stage_at<stages_of<Net>, 1>::anchor::param_offset;
    auto h = ref_dense(x, batch, w0, w0 + 19 * 37, 37, 19, q.input_scales()[0]);
    for (float& v : h) v = v > 0.0f ? v : 0.0f;
    const auto want = ref_dense(h, batch, w1, w1 + 5 * 19, 19, 5, q.input_scales()[1]);
    const auto got = q.forward(x, batch);
    REQUIRE(got.size() == want.size());
    std::size_t equal = 0;
    for (std::size_t i = 0; i < want.size(); ++i) equal += got[i] == want[i] ? 1u : 0u;
    CHECK(equal == want.size());
    // The check can fail: the int8 model differs from fp32 (and from a model of other scales).
    const auto y32 = m.forward(x, batch);
    bool differs = false;
    for (std::size_t i = 0; i < want.size(); ++i) differs = differs || y32[i] != got[i];
    CHECK(differs);
}

/// A quantized Conv2D with padding, stride 2 and 2 groups against a reference integer
/// convolution, bit for bit.
inline void check_quantized_conv_exact() {
    // c 4 -> o 6 in 2 groups, 3 x 3, padding 1, stride 2 over 7 x 5.
    using Net = Sequential<Input<4, 7, 5>, Conv2D<6, 3, Padding<1>, Stride<2>, Groups<2>>>;
    constexpr std::size_t C = 4, H = 7, W = 5, O = 6, K = 3, G = 2, OH = 4, OW = 3;
    static_assert(Net::out_size == O * OH * OW);
    Model<Net> m(device::cpu());
    m.init(5);
    const auto calib = uniform_floats(16 * Net::in_size, 21, -1.0, 1.0);
    QuantizedModel<Net> q = quantize(m, calib);
    const float sx = q.input_scales()[0];
    const std::size_t batch = 3;
    const auto x = uniform_floats(batch * Net::in_size, 22, -1.0, 1.0);
    const float* w = m.parameters().data();
    const float* bias = w + O * (C / G) * K * K;
    const RefWeights rw = ref_weights(w, O, (C / G) * K * K);
    std::vector<float> want(batch * Net::out_size);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t o = 0; o < O; ++o)
            for (std::size_t oy = 0; oy < OH; ++oy)
                for (std::size_t ox = 0; ox < OW; ++ox) {
                    const std::size_t g = o / (O / G);
                    std::int64_t acc = 0;
                    for (std::size_t ci = 0; ci < C / G; ++ci)
                        for (std::size_t ky = 0; ky < K; ++ky)
                            for (std::size_t kx = 0; kx < K; ++kx) {
                                const auto iy = static_cast<std::ptrdiff_t>(oy * 2 + ky) - 1;
                                const auto ix = static_cast<std::ptrdiff_t>(ox * 2 + kx) - 1;
                                if (iy < 0 || ix < 0 || iy >= std::ptrdiff_t(H) ||
                                    ix >= std::ptrdiff_t(W))
                                    continue;
                                const std::size_t c = g * (C / G) + ci;
                                const float v = x[b * Net::in_size + (c * H + std::size_t(iy)) * W +
                                                  std::size_t(ix)];
                                acc += std::int64_t{code(v, sx)} *
                                       rw.q[(o * (C / G) + ci) * K * K + ky * K + kx];
                            }
                    const volatile float z = static_cast<float>(acc) * (sx * rw.scale[o]);
                    want[b * Net::out_size + (o * OH + oy) * OW + ox] = z + bias[o];
                }
    const auto got = q.forward(x);
    REQUIRE(got.size() == want.size());
    std::size_t equal = 0;
    for (std::size_t i = 0; i < want.size(); ++i) equal += got[i] == want[i] ? 1u : 0u;
    CHECK(equal == want.size());
}

} // namespace ctnn::test::int8
