// The number formats of core/precision.hpp: rounding a float to bf16 and fp16 (what a mixed
// precision's GEMM operands hold), against an independent reference in double, and the fast bf16
// path against the general one; the traits that Model<Net, P> reads.
#include <ctnn/core/precision.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

using namespace ctnn;

namespace {

/// v rounded to `bits` significant bits, ties to even, in double: the reference for normal
/// results (bf16: 8 bits, fp16: 11).
double rne_reference(double v, int bits) {
    if (v == 0.0 || !std::isfinite(v)) return v;
    int e = 0;
    (void)std::frexp(v, &e); // v = m 2^e, 0.5 <= |m| < 1
    const double scale = std::ldexp(1.0, bits - e);
    return std::nearbyint(v * scale) / scale; // the default rounding mode: to nearest even
}

} // namespace

TEST_CASE("round_to_format: bf16 and fp16 round to nearest even") {
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> mantissa(-2.0f, 2.0f);
    std::uniform_int_distribution<int> exponent(-12, 12);
    for (int i = 0; i < 20000; ++i) {
        const float v = std::ldexp(mantissa(gen), exponent(gen));
        CAPTURE(v);
        CHECK(double(round_to_format(v, GemmOperands::bf16)) == rne_reference(v, 8));
        if (std::fabs(v) >= std::ldexp(1.0f, -14)) // a normal fp16 (the range ends at 2^13 here)
            CHECK(double(round_to_format(v, GemmOperands::fp16)) == rne_reference(v, 11));
        CHECK(round_to_format(v, GemmOperands::scalar) == v);
    }
    // Ties go to the even neighbour: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 in bf16.
    CHECK(round_to_format(1.0f + std::ldexp(1.0f, -8), GemmOperands::bf16) == 1.0f);
    CHECK(round_to_format(1.0f + 3 * std::ldexp(1.0f, -8), GemmOperands::bf16) ==
          1.0f + std::ldexp(1.0f, -6));
    CHECK(round_to_format(1.0f + std::ldexp(1.0f, -11), GemmOperands::fp16) == 1.0f);
    // Overflow, infinities, NaN; fp16's range ends at 65504, bf16's is float's.
    const float inf = std::numeric_limits<float>::infinity();
    CHECK(round_to_format(65504.0f, GemmOperands::fp16) == 65504.0f);
    CHECK(round_to_format(65520.0f, GemmOperands::fp16) == inf);
    CHECK(round_to_format(-1e6f, GemmOperands::fp16) == -inf);
    CHECK(double(round_to_format(1e30f, GemmOperands::bf16)) == rne_reference(double(1e30f), 8));
    CHECK(round_to_format(std::numeric_limits<float>::max(), GemmOperands::bf16) == inf);
    CHECK(round_to_format(-inf, GemmOperands::bf16) == -inf);
    CHECK(std::isnan(round_to_format(std::nanf(""), GemmOperands::bf16)));
    CHECK(std::isnan(round_to_format(-std::nanf(""), GemmOperands::fp16)));
    // fp16 subnormals: multiples of 2^-24; below 2^-25 to zero, sign kept.
    CHECK(round_to_format(std::ldexp(3.0f, -25), GemmOperands::fp16) == std::ldexp(2.0f, -24));
    CHECK(round_to_format(std::ldexp(1.0f, -26), GemmOperands::fp16) == 0.0f);
    CHECK(std::signbit(round_to_format(-std::ldexp(1.0f, -26), GemmOperands::fp16)));
}

TEST_CASE("round_to_format over an array: the same values as element by element") {
    std::mt19937 gen(7);
    std::uniform_int_distribution<std::uint32_t> bits;
    std::vector<float> v(5000), out(v.size());
    for (float& x : v) x = std::bit_cast<float>(bits(gen)); // every class: NaN, inf, subnormal
    for (const GemmOperands f : {GemmOperands::bf16, GemmOperands::fp16}) {
        CHECK(round_to_format(v.data(), out.data(), v.size(), f) == out.data());
        std::size_t differ = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            const float one = round_to_format(v[i], f);
            const float two = ctnn::detail::from_16bit(ctnn::detail::to_16bit(v[i], f), f);
            differ += std::isnan(one) ? !std::isnan(out[i]) || !std::isnan(two)
                                      : out[i] != one || two != one;
        }
        CHECK(differ == 0);
    }
}

TEST_CASE("fp16 rounding: the branch-free round_fp16 equals the encoding's round trip") {
    // A stride through all 2^32 patterns (every exponent, both signs, NaNs) and every pattern
    // near fp16's edges: the subnormal boundary 2^-14, the tie to zero 2^-25, 65504 and 65520.
    const auto same = [](std::uint32_t u) {
        const float v = std::bit_cast<float>(u);
        const float a = ctnn::detail::round_fp16(v);
        const float b = ctnn::detail::from_16bit(ctnn::detail::to_16bit(v, GemmOperands::fp16),
                                                 GemmOperands::fp16);
        return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
    };
    std::size_t differ = 0;
    for (std::uint64_t u = 0; u < (std::uint64_t{1} << 32); u += 4099)
        differ += same(static_cast<std::uint32_t>(u)) ? 0u : 1u;
    for (const float edge : {std::ldexp(1.0f, -14), std::ldexp(1.0f, -25), 65504.0f, 65520.0f})
        for (std::uint32_t sign : {0u, 0x80000000u})
            for (std::uint32_t d = 0; d <= 8192; ++d) {
                const std::uint32_t u = (std::bit_cast<std::uint32_t>(edge) - 4096u + d) | sign;
                differ += same(u) ? 0u : 1u;
            }
    CHECK(differ == 0);
}

TEST_CASE("number formats: the traits Model reads") {
    static_assert(std::is_same_v<scalar_of<float>, float>);
    static_assert(std::is_same_v<scalar_of<double>, double>);
    static_assert(std::is_same_v<scalar_of<precision::bf16>, float>);
    static_assert(gemm_operands_of<float> == GemmOperands::scalar);
    static_assert(gemm_operands_of<precision::bf16> == GemmOperands::bf16);
    static_assert(gemm_operands_of<precision::fp16> == GemmOperands::fp16);
    static_assert(ModelNumber<float> && ModelNumber<precision::bf16> && !ModelNumber<int>);
    CHECK(operands_name<float>(GemmOperands::scalar) == "fp32");
    CHECK(operands_name<double>(GemmOperands::scalar) == "fp64");
    CHECK(operands_name<float>(GemmOperands::bf16) == "bf16");
}
