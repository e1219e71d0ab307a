// int8 post-training quantization (core/quantize.hpp, backend/cpu/int8.hpp, eval/int8.hpp,
// model/quantized.hpp): the rounding and scales, the int8 GEMM against a naive integer product,
// quantized Dense and Conv2D stages equal to a reference integer computation *exactly*, whole
// models within int8's error of fp32, calibration, save/load, describe() and the errors.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

using namespace ctnn;

namespace {

std::vector<float> uniform_floats(std::size_t n, std::uint64_t seed, double lo, double hi) {
    const auto v = test::random_values(n, seed, lo, hi);
    return {v.begin(), v.end()};
}

/// The int8 code of v at scale s, restated from the documented rule: round half to even of
/// v * (1 / s), clamped to [-127, 127].
std::int32_t code(float v, float s) {
    const float r = std::nearbyint(v * (1.0f / s));
    return static_cast<std::int32_t>(std::clamp(r, -127.0f, 127.0f));
}

/// Per-output-channel reference quantization of weights [channels, depth] (row-major).
struct RefWeights {
    std::vector<std::int32_t> q;
    std::vector<float> scale;
};
RefWeights ref_weights(const float* w, std::size_t channels, std::size_t depth) {
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
std::vector<float> ref_dense(std::span<const float> x, std::size_t batch, const float* w,
                             const float* bias, std::size_t n_in, std::size_t n_out, float sx) {
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

} // namespace

TEST_CASE("int8 codes: round half to even, clamped to +-127, NaN counted; scales") {
    using detail::quantize_s8;
    CHECK(quantize_s8(2.5f, 1.0f) == 2);
    CHECK(quantize_s8(3.5f, 1.0f) == 4);
    CHECK(quantize_s8(-2.5f, 1.0f) == -2);
    CHECK(quantize_s8(0.49f, 1.0f) == 0);
    CHECK(quantize_s8(126.6f, 1.0f) == 127);
    CHECK(quantize_s8(1e9f, 1.0f) == 127);
    CHECK(quantize_s8(-1e9f, 1.0f) == -127); // never -128
    CHECK(quantize_s8(-std::numeric_limits<float>::infinity(), 1.0f) == -127);
    CHECK(quantize_s8(1.0f, 50.0f) == 50);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float in[5] = {1.0f, nan, -3.0f, nan, 0.25f};
    std::int8_t out[5];
    CHECK(detail::quantize_s8(in, out, 5, 2.0f) == 2);
    CHECK(out[0] == 2);
    CHECK(out[2] == -6);
    CHECK(out[4] == 0); // 0.5: half to even
    CHECK(detail::int8_scale(254.0f) == 2.0f);
    CHECK(detail::int8_scale(0.0f) == 1.0f);

    // Per channel: the largest |weight| maps to 127; an all-zero channel gets scale 1, codes 0.
    const float w[6] = {63.5f, -127.0f, 25.0f, 0.0f, 0.0f, 0.0f};
    std::int8_t q[6];
    float s[2];
    detail::quantize_channels(w, 3, 3, 2, q, s, "test");
    CHECK(s[0] == 1.0f);
    CHECK(s[1] == 1.0f);
    CHECK(q[0] == 64); // 63.5 rounds to even
    CHECK(q[1] == -127);
    CHECK(q[2] == 25);
    CHECK(q[3] == 0);
    const float bad[2] = {1.0f, std::numeric_limits<float>::infinity()};
    CHECK_THROWS_AS(detail::quantize_channels(bad, 2, 2, 1, q, s, "Dense (layer 1)"),
                    numeric_error);
}

TEST_CASE("calibration: the maximum, percentiles by rank, bad percentiles refused") {
    std::vector<float> m;
    for (int i = 1; i <= 1000; ++i) m.push_back(static_cast<float>(i));
    std::vector<float> a = m;
    CHECK(detail::calibrated_amax(a, Calibration::max_abs()) == 1000.0f);
    a = m;
    CHECK(detail::calibrated_amax(a, Calibration::percentile_of(99.0)) == 990.0f);
    a = m;
    CHECK(detail::calibrated_amax(a, Calibration::percentile_of(100.0)) == 1000.0f);
    a = m;
    CHECK(detail::calibrated_amax(a, Calibration::percentile_of(0.01)) == 1.0f);
    std::vector<float> none;
    CHECK(detail::calibrated_amax(none, Calibration::max_abs()) == 0.0f);
    CHECK_THROWS_AS(detail::check_calibration(Calibration::percentile_of(0.0)), argument_error);
    CHECK_THROWS_AS(detail::check_calibration(Calibration::percentile_of(100.5)), argument_error);
    CHECK_THROWS_AS(detail::check_calibration(
                        Calibration::percentile_of(std::numeric_limits<double>::quiet_NaN())),
                    argument_error);
    CHECK_NOTHROW(detail::check_calibration(Calibration::percentile_of(99.99)));
}

TEST_CASE("gemm_s8 equals a naive integer product (strided rows, extremes, every tail)") {
    for (const std::size_t M : {1u, 3u, 4u, 9u})
        for (const std::size_t N : {1u, 2u, 5u})
            for (const std::size_t K : {1u, 7u, 33u, 1000u}) {
                CAPTURE(M);
                CAPTURE(N);
                CAPTURE(K);
                const std::size_t lda = K + 3, ldb = K + 1, ldc = M + 2;
                std::vector<std::int8_t> a(M * lda), b(N * ldb);
                for (std::size_t i = 0; i < a.size(); ++i)
                    a[i] = static_cast<std::int8_t>(static_cast<int>((i * 37 + M) % 255) - 127);
                for (std::size_t i = 0; i < b.size(); ++i)
                    b[i] = static_cast<std::int8_t>(static_cast<int>((i * 91 + K) % 255) - 127);
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

TEST_CASE("a quantized Dense equals a reference integer computation exactly") {
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
    const float* w0 = p + detail::stage_at<stages_of<Net>, 0>::anchor::param_offset;
    const float* w1 = p + detail::stage_at<stages_of<Net>, 1>::anchor::param_offset;
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

TEST_CASE("a quantized Conv2D (padding, stride, groups) equals a reference integer convolution") {
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

namespace {

/// The largest |int8 - fp32| of Net's outputs relative to the largest |fp32| output.
template <class Net>
double int8_vs_fp32(std::uint64_t seed, Calibration cal = Calibration::max_abs()) {
    Model<Net> m(device::cpu());
    m.init(seed);
    if constexpr (Net::buffer_count > 0) { // BatchNorm statistics that are not the identity
        const auto calib0 = uniform_floats(32 * Net::in_size, seed + 1, -1.0, 1.0);
        for (int i = 0; i < 3; ++i) m.forward(calib0, Mode::training);
    }
    const auto calib = uniform_floats(128 * Net::in_size, seed + 2, -1.0, 1.0);
    QuantizedModel<Net> q = quantize(m, calib, cal);
    const auto x = uniform_floats(16 * Net::in_size, seed + 3, -1.0, 1.0);
    const auto y8 = q.predict(x);
    const auto y32 = m.predict(x);
    double worst = 0, top = 0;
    for (std::size_t i = 0; i < y32.size(); ++i) {
        worst = std::max(worst, double(std::fabs(y8[i] - y32[i])));
        top = std::max(top, double(std::fabs(y32[i])));
    }
    return worst / top;
}

} // namespace

TEST_CASE("quantized models stay within int8's error of fp32: MLP, CNN, BatchNorm, pools") {
    using Mlp = Sequential<Input<64>, Dense<48>, BatchNorm, ReLU, Dense<32>, Tanh, Dense<10>>;
    using Cnn = Sequential<Input<3, 12, 12>, Conv2D<8, 3, Same>, BatchNorm, ReLU, MaxPool2D<2>,
                           Conv2D<12, 3, Same, NoBias>, ReLU, AvgPool2D<2>, Flatten, Dense<10>>;
    const double mlp = int8_vs_fp32<Mlp>(40);
    const double cnn = int8_vs_fp32<Cnn>(50);
    const double cnn_p = int8_vs_fp32<Cnn>(50, Calibration::percentile_of(99.9));
    MESSAGE("int8 vs fp32, largest error / largest output: MLP " << mlp << ", CNN " << cnn
                                                                 << ", CNN (99.9%) " << cnn_p);
    CHECK(mlp < 0.05);
    CHECK(cnn < 0.05);
    CHECK(cnn_p < 0.08);
    CHECK(mlp > 0.0); // int8 is not fp32
}

TEST_CASE("percentile calibration lets outliers saturate; evaluate() runs a quantized model") {
    using Net = Sequential<Input<16>, Dense<8>, ReLU, Dense<3>>;
    Model<Net> m(device::cpu());
    m.init(60);
    auto calib = uniform_floats(200 * 16, 61, -1.0, 1.0);
    calib[17] = 40.0f; // one outlier
    const QuantizedModel<Net> qmax = quantize(m, calib);
    const QuantizedModel<Net> qp = quantize(m, calib, Calibration::percentile_of(99.9));
    CHECK(qmax.input_scales()[0] == 40.0f / 127.0f);
    CHECK(qp.input_scales()[0] < 1.01f / 127.0f);

    Dataset d;
    d.features = uniform_floats(50 * 16, 62, -1.0, 1.0);
    d.feature_count = 16;
    d.sample_shape = {16};
    for (std::size_t i = 0; i < 50; ++i) d.labels.push_back(static_cast<std::int32_t>(i % 3));
    QuantizedModel<Net> q = qp;
    const Evaluation e8 = evaluate(q, d, loss::SoftmaxCrossEntropy{}, 16);
    const Evaluation e32 = evaluate(m, d, loss::SoftmaxCrossEntropy{}, 16);
    CHECK(std::isfinite(e8.loss));
    CHECK(e8.loss == doctest::Approx(e32.loss).epsilon(0.05));
    CHECK(e8.accuracy >= 0.0);
}

TEST_CASE("a quantized model saves and loads with its scales; bad files and inputs are refused") {
    using Net = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, Flatten, Dense<5>>;
    Model<Net> m(device::cpu());
    m.init(70);
    const auto calib = uniform_floats(20 * Net::in_size, 71, -1.0, 1.0);
    QuantizedModel<Net> q = quantize(m, calib, Calibration::percentile_of(99.0));
    const auto x = uniform_floats(4 * Net::in_size, 72, -1.0, 1.0);
    const auto y = q.predict(x);

    const std::filesystem::path file = "quantize_roundtrip.safetensors";
    q.save(file);
    QuantizedModel<Net> r = QuantizedModel<Net>::load(file);
    CHECK(std::equal(r.input_scales().begin(), r.input_scales().end(), q.input_scales().begin()));
    const auto y2 = r.predict(x);
    CHECK(std::equal(y.begin(), y.end(), y2.begin()));
    const std::string d = r.describe();
    CHECK(d.find("int8  Conv2D") != std::string::npos);
    CHECK(d.find("int8  Dense") != std::string::npos);

    // An fp32 checkpoint is not a quantized model; a model checkpoint missing a scale neither.
    const std::filesystem::path fp32 = "quantize_fp32.safetensors";
    m.save(fp32);
    CHECK_THROWS_AS(QuantizedModel<Net>::load(fp32), io_error);
    // A Model refuses the quantized file (the scales are not its tensors).
    CHECK_THROWS_AS(m.load(file), shape_error);

    // Bad scales, inputs and calibration data.
    const std::vector<float> zero_scale = {0.0f, 1.0f};
    CHECK_THROWS_AS(QuantizedModel<Net>(m.parameters(), m.buffers(), zero_scale), argument_error);
    const std::vector<float> one_scale = {1.0f};
    CHECK_THROWS_AS(QuantizedModel<Net>(m.parameters(), m.buffers(), one_scale), argument_error);
    std::vector<float> bad_x = x;
    bad_x[5] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(q.forward(bad_x), numeric_error);
    CHECK_THROWS_AS(q.forward(std::span<const float>(x).first(7)), shape_error);
    CHECK_THROWS_AS(quantize(m, std::span<const float>(calib).first(5)), shape_error);
    CHECK_THROWS_AS(quantize(m, calib, Calibration::percentile_of(0.0)), argument_error);
    CHECK_THROWS_AS(quantize(m, bad_x), numeric_error);
    m.parameters()[3] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(quantize(m, calib), numeric_error);
    std::filesystem::remove(file);
    std::filesystem::remove(fp32);
}
