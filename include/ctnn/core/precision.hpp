// ctnn/core/precision.hpp — a model's number formats: the second parameter of Model<Net, P>.
//
//   Model<Net>                    P = float: every value fp32
//   Model<Net, double>            every value fp64 (gradient checks, science)
//   Model<Net, precision::bf16>   mixed precision: the operands of the matrix products (weights,
//                                 activations, gradients) rounded to bfloat16 as the products read
//                                 them, sums in fp32; master weights, gradients, optimizer state,
//                                 losses, softmax and normalization statistics stay fp32
//   Model<Net, precision::fp16>   the same with IEEE half operands (11 significant bits, largest
//                                 finite 65504), trained with dynamic loss scaling
//                                 (model/loss_scale.hpp)
//
// What each backend runs in the reduced format is the backend's: CUDA's Dense and Conv2D GEMMs on
// tensor cores (backend/cuda/eval/), the CPU's the same GEMMs on operands rounded here
// (round_to_format) and multiplied with fp32 FMAs; describe() on the model lists it. A mixed
// model's values in memory (parameters(), gradients(), checkpoints) are float, as Model<Net>'s.
#pragma once
#include "../config.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace ctnn {

/// The number format the matrix products of a model read their operands in.
enum class GemmOperands : std::uint8_t {
    scalar, ///< the model's scalar type (float or double), unrounded
    bf16,   ///< bfloat16: fp32's exponent range, 8 significant bits
    fp16,   ///< IEEE half: 11 significant bits, largest finite 65504
    /// Symmetric 8-bit integers with a scale per tensor (activations) or per output channel
    /// (weights), summed in int32: inference only (QuantizedModel, model/quantized.hpp).
    int8,
};

/// Mixed precision with GEMM operands in format O and everything else in fp32 (see the file
/// comment); precision::bf16 and precision::fp16 name its two instances.
template <GemmOperands O>
struct Mixed {
    static_assert(O != GemmOperands::scalar, "ctnn::Mixed: the operands of a mixed precision are "
                                             "bf16 or fp16 (Model<Net, float> is fp32)");
    static_assert(O != GemmOperands::int8,
                  "ctnn::Mixed: int8 is for inference, not training: train a Model<Net> in fp32 "
                  "and quantize it (ctnn::quantize, model/quantized.hpp: a QuantizedModel<Net>)");
    static constexpr GemmOperands operands = O;
    using scalar = float;
};

namespace precision {
using bf16 = Mixed<GemmOperands::bf16>;
using fp16 = Mixed<GemmOperands::fp16>;
} // namespace precision

namespace detail {

template <class P>
struct number_traits {};
template <class T>
    requires std::same_as<T, float> || std::same_as<T, double>
struct number_traits<T> {
    using scalar = T;
    static constexpr GemmOperands operands = GemmOperands::scalar;
};
template <GemmOperands O>
struct number_traits<Mixed<O>> {
    static_assert(O != GemmOperands::int8,
                  "ctnn::Mixed: int8 is for inference, not training: train a Model<Net> in fp32 "
                  "and quantize it (ctnn::quantize, model/quantized.hpp: a QuantizedModel<Net>)");
    using scalar = float;
    static constexpr GemmOperands operands = O;
};

} // namespace detail

/// What Model<Net, P> takes as P: float, double, precision::bf16 or precision::fp16.
template <class P>
concept ModelNumber = requires {
    typename detail::number_traits<P>::scalar;
};

/// The type of a model's stored values (parameters, activations, gradients): float for a mixed P.
template <ModelNumber P>
using scalar_of = typename detail::number_traits<P>::scalar;

/// The format of a model's GEMM operands.
template <ModelNumber P>
inline constexpr GemmOperands gemm_operands_of = detail::number_traits<P>::operands;

namespace detail {

/// float v as a 16-bit element of format f (bf16 or fp16), rounded to nearest even as the GPU's
/// cvt.rn.{bf16,f16}.f32 does: NaN stays a (quiet) NaN, fp16 overflows to infinity, small values
/// become fp16 subnormals or zero.
inline std::uint16_t to_16bit(float v, GemmOperands f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
    const std::uint32_t sign = (bits >> 16) & 0x8000u, exp = (bits >> 23) & 0xFFu,
                        man = bits & 0x7FFFFFu;
    // r rounded at its lowest `drop` bits, to nearest, ties to even.
    const auto rne = [](std::uint32_t r, unsigned drop) {
        const std::uint32_t kept = r >> drop, rest = r & ((1u << drop) - 1u),
                            half = 1u << (drop - 1u);
        return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
    };
    if (f == GemmOperands::bf16) {
        if (exp == 0xFFu && man != 0) return static_cast<std::uint16_t>(sign | 0x7FC0u);
        return static_cast<std::uint16_t>(sign | rne(bits & 0x7FFFFFFFu, 16)); // carries to inf
    }
    if (exp == 0xFFu) return static_cast<std::uint16_t>(sign | 0x7C00u | (man != 0 ? 0x200u : 0u));
    const int e = static_cast<int>(exp) - 112; // the fp16 exponent field
    if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7C00u);
    // e <= 0: a subnormal fp16 (or zero), in units of 2^-24 (man | 2^23) 2^(e - 14).
    if (e <= 0) {
        if (e < -10) return static_cast<std::uint16_t>(sign); // below 2^-25: rounds to zero
        return static_cast<std::uint16_t>(sign |
                                          rne(man | 0x800000u, static_cast<unsigned>(14 - e)));
    }
    // Normal: 10 of the 23 mantissa bits; a carry moves into the exponent (65520 -> infinity).
    return static_cast<std::uint16_t>(sign | rne((static_cast<std::uint32_t>(e) << 23) | man, 13));
}

/// A 16-bit element of format f (bf16 or fp16) as float (exact).
inline float from_16bit(std::uint16_t bits, GemmOperands f) {
    if (f == GemmOperands::bf16) return std::bit_cast<float>(std::uint32_t{bits} << 16);
    const std::uint32_t sign = (std::uint32_t{bits} & 0x8000u) << 16;
    const std::uint32_t exp = (bits >> 10) & 0x1Fu, man = bits & 0x3FFu;
    if (exp == 0x1Fu) // inf or NaN
        return std::bit_cast<float>(sign | 0x7F800000u | (man << 13));
    if (exp == 0) { // zero or subnormal: man * 2^-24
        const float v = std::ldexp(static_cast<float>(man), -24);
        return sign ? -v : v;
    }
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
}

} // namespace detail

namespace detail {

/// v rounded to bf16, as float: to nearest even at bit 16 in a few integer operations (no
/// branch on the exponent), so that loops over operands vectorize; NaN: a quiet NaN of its sign.
inline float round_bf16(float v) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(v);
    const std::uint32_t r = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    return std::bit_cast<float>((b & 0x7FFFFFFFu) > 0x7F800000u ? (b & 0x80000000u) | 0x7FC00000u
                                                                : r);
}

/// v rounded to fp16, as float, without a branch (loops over operands vectorize): normal fp16
/// values to nearest even at bit 13 as round_bf16 at bit 16; below 2^-14, fp16's subnormals,
/// multiples of 2^-24, by (|v| + 0.5) - 0.5 (the ulp of [0.5, 1) is 2^-24); past 65504
/// infinity; NaN a quiet NaN of its sign. The same value as from_16bit(to_16bit(v)) for every
/// float (checked exhaustively when written).
inline float round_fp16(float v) {
    const std::uint32_t b = std::bit_cast<std::uint32_t>(v), a = b & 0x7FFFFFFFu;
    const std::uint32_t normal = (a + 0xFFFu + ((a >> 13) & 1u)) & 0xFFFFE000u;
    const float small = (std::bit_cast<float>(a) + 0.5f) - 0.5f;
    std::uint32_t r = a < 0x38800000u ? std::bit_cast<std::uint32_t>(small) : normal;
    r = r > 0x477FE000u ? 0x7F800000u : r; // above 65504
    r = a > 0x7F800000u ? 0x7FC00000u : r; // NaN
    return std::bit_cast<float>((b & 0x80000000u) | r);
}

} // namespace detail

/// v rounded to format f, as float: what a bf16 or fp16 GEMM operand holds (f scalar: v itself;
/// int8 operands are not rounded floats but integers with scales: core/quantize.hpp).
inline float round_to_format(float v, GemmOperands f) {
    if (f == GemmOperands::scalar || f == GemmOperands::int8) return v;
    if (f == GemmOperands::bf16) return detail::round_bf16(v);
    return detail::round_fp16(v);
}

/// dst[i] = round_to_format(src[i], f) for the n values; returns dst.
inline float* round_to_format(const float* src, float* dst, std::size_t n, GemmOperands f) {
    // The format test outside the loops: they vectorize.
    if (f == GemmOperands::bf16)
        for (std::size_t i = 0; i < n; ++i) dst[i] = detail::round_bf16(src[i]);
    else if (f == GemmOperands::fp16)
        for (std::size_t i = 0; i < n; ++i) dst[i] = detail::round_fp16(src[i]);
    else std::copy_n(src, n, dst);
    return dst;
}

/// "fp32", "fp64", "bf16", "fp16" or "int8": the name of a GEMM operand format of scalar type T.
template <class T>
std::string operands_name(GemmOperands o) {
    switch (o) {
    case GemmOperands::bf16: return "bf16";
    case GemmOperands::fp16: return "fp16";
    case GemmOperands::int8: return "int8";
    case GemmOperands::scalar: break;
    }
    return std::is_same_v<T, double> ? "fp64" : "fp32";
}

} // namespace ctnn
