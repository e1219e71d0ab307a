// ctnn/core/quantize.hpp — the arithmetic of int8 post-training quantization (QuantizedModel,
// model/quantized.hpp), written once for every backend and for the tests' reference.
//
// Symmetric int8 with scale s: a value v is stored as q = clamp(round(v * (1 / s)), -127, 127),
// rounded to nearest even (the default rounding mode, as ONNX's QuantizeLinear), and stands for
// q * s. -128 is never produced, so that -q is always representable. Weights have one scale per
// output channel, s = max |w| / 127 over the channel (1 for an all-zero channel: q = 0);
// activations one scale per tensor, from calibration (Calibration). A quantized product sums
// q_x * q_w in int32 and dequantizes with the channel's scale s_x * s_w.
#pragma once
#include "../config.hpp"
#include "error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ctnn {

/// How quantize() picks an activation's scale from the calibration data: the largest |v| seen
/// (`max_abs`, every calibration value representable) or a percentile of the |v| (values above it
/// saturate: a few outliers no longer stretch the scale of every other value).
struct Calibration {
    enum class Method : std::uint8_t { max_abs, percentile };
    Method method = Method::max_abs;
    double percentile = 99.99; ///< for Method::percentile, in (0, 100]

    static constexpr Calibration max_abs() { return {}; }
    static constexpr Calibration percentile_of(double p) { return {Method::percentile, p}; }
};

namespace detail {

/// The largest integer of a symmetric int8 code.
inline constexpr float int8_max = 127.0f;

/// v as a symmetric int8 code at 1 / scale = inv_scale (NaN must be excluded by the caller).
inline std::int8_t quantize_s8(float v, float inv_scale) {
    const float r = std::nearbyint(v * inv_scale);
    return static_cast<std::int8_t>(std::clamp(r, -int8_max, int8_max));
}

/// Scale of a tensor whose values reach amax in magnitude: amax / 127, or 1 for amax = 0.
inline float int8_scale(float amax) { return amax > 0.0f ? amax / int8_max : 1.0f; }

/// Quantizes the n values at src into dst at 1 / scale = inv_scale. Returns the number of NaN
/// values met (quantized as 0): the caller reports them, since int8 has no NaN.
inline std::size_t quantize_s8(const float* src, std::int8_t* dst, std::size_t n, float inv_scale) {
    std::size_t nans = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const float v = src[i];
        nans += v != v ? 1u : 0u;
        dst[i] = quantize_s8(v != v ? 0.0f : v, inv_scale);
    }
    return nans;
}

/// Per-channel weight quantization: channel c's k values at w + c * ld (k contiguous floats) to
/// q + c * k, its scale to scales[c]. Throws ctnn::numeric_error for a non-finite weight, naming
/// `what` and the channel.
inline void quantize_channels(const float* w, std::size_t ld, std::size_t k, std::size_t channels,
                              std::int8_t* q, float* scales, const std::string& what) {
    for (std::size_t c = 0; c < channels; ++c) {
        const float* wc = w + c * ld;
        float amax = 0.0f;
        for (std::size_t i = 0; i < k; ++i) {
            if (!std::isfinite(wc[i]))
                throw numeric_error(what + ": weight " + std::to_string(i) + " of output channel " +
                                    std::to_string(c) + " is not finite; it cannot be quantized");
            amax = std::max(amax, std::fabs(wc[i]));
        }
        scales[c] = int8_scale(amax);
        const float inv = 1.0f / scales[c];
        for (std::size_t i = 0; i < k; ++i) q[c * k + i] = quantize_s8(wc[i], inv);
    }
}

/// The int8 weights of a quantized GEMM stage (`what` names it in errors) with input scale sx:
/// `channels` rows of `depth` weights at w quantized to q (channels x depth), s_w per channel
/// to sw, and the dequantization factor of each channel's sums, s_x s_w, to dequant. Throws
/// ctnn::argument_error for an sx that is not positive and finite, ctnn::numeric_error for a
/// non-finite weight.
inline void quantize_gemm_weights(const float* w, std::size_t depth, std::size_t channels, float sx,
                                  std::int8_t* q, float* sw, float* dequant,
                                  const std::string& what) {
    if (!(sx > 0.0f) || !std::isfinite(sx))
        throw argument_error("quantized model: the input scale of " + what + " is " +
                             std::to_string(sx) + ", expected a positive finite value");
    quantize_channels(w, depth, depth, channels, q, sw, what);
    for (std::size_t c = 0; c < channels; ++c) dequant[c] = sx * sw[c];
}

/// The magnitude at which calibration `cal` sets an activation's range, from the |v| of every
/// calibration value of the tensor (reordered). 0 for no values.
inline float calibrated_amax(std::vector<float>& magnitudes, const Calibration& cal) {
    if (magnitudes.empty()) return 0.0f;
    if (cal.method == Calibration::Method::max_abs)
        return *std::max_element(magnitudes.begin(), magnitudes.end());
    // The value of rank ceil(p / 100 * n) (1-based): p = 100 is the maximum.
    const double n = static_cast<double>(magnitudes.size());
    const auto rank = static_cast<std::size_t>(std::ceil(cal.percentile / 100.0 * n));
    const std::size_t k = std::clamp<std::size_t>(rank, 1, magnitudes.size()) - 1;
    std::nth_element(magnitudes.begin(), magnitudes.begin() + static_cast<std::ptrdiff_t>(k),
                     magnitudes.end());
    return magnitudes[k];
}

/// Checks a calibration's settings: throws ctnn::argument_error naming the bad one.
inline void check_calibration(const Calibration& cal) {
    if (cal.method == Calibration::Method::percentile &&
        !(cal.percentile > 0.0 && cal.percentile <= 100.0))
        throw argument_error("quantize: the calibration percentile is " +
                             std::to_string(cal.percentile) + ", expected a value in (0, 100]");
}

} // namespace detail
} // namespace ctnn
