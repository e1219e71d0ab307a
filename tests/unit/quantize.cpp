// int8 post-training quantization (core/quantize.hpp, backend/cpu/int8.hpp, eval/int8.hpp,
// model/quantized.hpp): the rounding and scales, the int8 GEMM against a naive integer product,
// quantized Dense and Conv2D stages equal to a reference integer computation *exactly*, whole
// models within int8's error of fp32, calibration, save/load, describe() and the errors.
#include "quantize_checks.hpp"

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
using namespace ctnn::test::int8;

TEST_CASE("int8 codes: round half to even, clamped to +-127, NaN counted, and scales") {
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

TEST_CASE("the stages' input quantization gives the rule's codes (portable loop)") {
    check_quantize_s8();
}

TEST_CASE("gemm_s8 equals a naive integer product (strided rows, extremes, every tail)") {
    check_gemm_s8();
}

TEST_CASE("a quantized Dense equals a reference integer computation exactly") {
    check_quantized_dense_exact();
}

TEST_CASE("a quantized Conv2D (padding, stride, groups) equals a reference integer convolution") {
    check_quantized_conv_exact();
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
    return largest_relative_difference(y8, y32);
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

TEST_CASE("percentile calibration lets outliers saturate, and evaluate() runs a quantized model") {
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

TEST_CASE(
    "a quantized model saves and loads with its scales, and bad files and inputs are refused") {
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
    // Each input value is quantized once (not once per window that reads it): one NaN is named
    // once, with the convolution whose input it is.
    CHECK_THROWS_WITH_AS(q.forward(bad_x), doctest::Contains("(layer 0) has 1 NaN value(s)"),
                         numeric_error);
    CHECK_THROWS_WITH_AS(q.forward(std::span<const float>(x).first(7)),
                         doctest::Contains("QuantizedModel::forward: input holds 7 values"),
                         shape_error);
    CHECK_THROWS_AS(quantize(m, std::span<const float>(calib).first(5)), shape_error);
    CHECK_THROWS_AS(quantize(m, calib, Calibration::percentile_of(0.0)), argument_error);
    CHECK_THROWS_AS(quantize(m, bad_x), numeric_error);
    m.parameters()[3] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(quantize(m, calib), numeric_error);
    std::filesystem::remove(file);
    std::filesystem::remove(fp32);
}
