// ctnn/backend/cpu/int8.hpp — the int8 GEMM of a quantized model on the CPU: int8 operands,
// int32 sums (core/quantize.hpp has the quantization itself).
//
// Both operands are read as rows of K contiguous int8 (a Dense weight [out, in] and its input
// [batch, in] as PyTorch stores them; a convolution's weight [out, taps] and its unfolded input
// [pixels, taps]), so every output is one dot product. The portable loops below widen to int32
// and vectorize (x86 without AVX2: 16-bit products widened to int32); with AVX2, four rows at a
// time, 32 values per step with vpsignb + vpmaddubsw + vpmaddwd (exact for codes in [-127, 127],
// which is all core/quantize.hpp makes: the A operand must not hold -128). VNNI, AMX and ARM SDOT
// kernels are not built yet. Exact: |sum| <= K * 127^2 < 2^31 for K <= max_int8_depth.
#pragma once
#include "../../config.hpp"
#include "../../core/quantize.hpp"

#include <cstddef>
#include <cstdint>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace ctnn::cpu {

/// The largest K whose int8 dot products cannot overflow an int32 sum.
inline constexpr std::size_t max_int8_depth = std::size_t{2147483647} / (127 * 127);

namespace detail {

#if defined(__AVX2__)
/// The sum of the 8 int32 lanes of each of v0..v3, as 4 int32.
inline __m128i sum_lanes4(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/// 16 int8 at p widened to 16 int16.
inline __m256i load_s8_as_s16(const std::int8_t* p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

/// The pairwise sums a[2i] b[2i] + a[2i+1] b[2i+1] of 32 int8 products as 8 int32 sums of four,
/// for a in [-127, 127], b any int8, given u = |b|: vpmaddubsw multiplies the unsigned |b| by
/// a carrying b's sign (vpsignb) and adds pairs into int16, exactly (|pair| <= 2 * 128 * 127 <
/// 2^15: no saturation, which is why a must not be -128, whose negation wraps), then vpmaddwd by
/// ones adds pairs of those into int32. 32 multiply-adds in four instructions.
inline __m256i dot32_s8(__m256i a, __m256i b, __m256i u, __m256i ones) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(a, b)), ones);
}

/// Four dot products of K int8 values, a0..a3 (in [-127, 127]) with b: 32 at a time (dot32_s8),
/// then 16 at a time as 16-bit products summed pairwise into int32 (vpmaddwd; a product of two
/// int8 fits 16 bits and a pair's sum 17), the rest one at a time.
inline void dot4_s8(const std::int8_t* a0, std::size_t lda, const std::int8_t* b, std::size_t K,
                    std::int32_t* out) {
    const std::int8_t* a1 = a0 + lda;
    const std::int8_t* a2 = a1 + lda;
    const std::int8_t* a3 = a2 + lda;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    const __m256i ones = _mm256_set1_epi16(1);
    const auto load32 = [](const std::int8_t* p) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    };
    std::size_t k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m256i v = load32(b + k);
        const __m256i u = _mm256_abs_epi8(v);
        s0 = _mm256_add_epi32(s0, dot32_s8(load32(a0 + k), v, u, ones));
        s1 = _mm256_add_epi32(s1, dot32_s8(load32(a1 + k), v, u, ones));
        s2 = _mm256_add_epi32(s2, dot32_s8(load32(a2 + k), v, u, ones));
        s3 = _mm256_add_epi32(s3, dot32_s8(load32(a3 + k), v, u, ones));
    }
    for (; k + 16 <= K; k += 16) {
        const __m256i v = load_s8_as_s16(b + k);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(load_s8_as_s16(a0 + k), v));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(load_s8_as_s16(a1 + k), v));
        s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(load_s8_as_s16(a2 + k), v));
        s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(load_s8_as_s16(a3 + k), v));
    }
    alignas(16) std::int32_t t[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), sum_lanes4(s0, s1, s2, s3));
    for (; k < K; ++k) {
        const std::int32_t v = b[k];
        t[0] += std::int32_t{a0[k]} * v;
        t[1] += std::int32_t{a1[k]} * v;
        t[2] += std::int32_t{a2[k]} * v;
        t[3] += std::int32_t{a3[k]} * v;
    }
    for (int i = 0; i < 4; ++i) out[i] = t[i];
}
#endif

/// Four dot products of K int8 values, a0..a3 with b, widened to int32 (the compiler vectorizes:
/// 16-bit products widened to int32 on x86 without AVX2).
inline void dot4_s8_portable(const std::int8_t* a0, std::size_t lda, const std::int8_t* b,
                             std::size_t K, std::int32_t* out) {
    const std::int8_t* a1 = a0 + lda;
    const std::int8_t* a2 = a1 + lda;
    const std::int8_t* a3 = a2 + lda;
    std::int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (std::size_t k = 0; k < K; ++k) {
        const std::int32_t v = b[k];
        s0 += std::int32_t{a0[k]} * v;
        s1 += std::int32_t{a1[k]} * v;
        s2 += std::int32_t{a2[k]} * v;
        s3 += std::int32_t{a3[k]} * v;
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

#if defined(__AVX2__)
/// Eight values at p quantized at 1 / scale = inv as core/quantize.hpp's quantize_s8 does (the
/// same product, NaN as 0, clamp to +-127, rounding to nearest even with vroundps), as eight
/// int32; adds the NaNs among them to nans.
inline __m256i quantize8_s8(const float* p, __m256 inv, std::size_t& nans) {
    const __m256 v = _mm256_loadu_ps(p);
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    nans += static_cast<std::size_t>(
        __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(nan))));
    __m256 t = _mm256_andnot_ps(nan, _mm256_mul_ps(v, inv)); // NaN -> +0
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-ctnn::detail::int8_max)),
                      _mm256_set1_ps(ctnn::detail::int8_max));
    return _mm256_cvtps_epi32(_mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

} // namespace detail

/// quantize_s8 of core/quantize.hpp (the same codes), 32 values per step with AVX2: n values at
/// src to dst at 1 / scale = inv_scale; returns the number of NaNs met (quantized as 0). The
/// scalar loop does not vectorize (GCC keeps its float selects as branches under the default
/// -ftrapping-math), and this pass runs over every int8 stage's input.
inline std::size_t quantize_s8(const float* src, std::int8_t* dst, std::size_t n, float inv_scale) {
    std::size_t nans = 0, i = 0;
#if defined(__AVX2__)
    const __m256 inv = _mm256_set1_ps(inv_scale);
    // packs_epi32 and packs_epi16 interleave 128-bit lanes: this permutation restores the order.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (; i + 32 <= n; i += 32) {
        const __m256i a = detail::quantize8_s8(src + i, inv, nans);
        const __m256i b = detail::quantize8_s8(src + i + 8, inv, nans);
        const __m256i c = detail::quantize8_s8(src + i + 16, inv, nans);
        const __m256i d = detail::quantize8_s8(src + i + 24, inv, nans);
        const __m256i bytes =
            _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                            _mm256_permutevar8x32_epi32(bytes, order));
    }
#endif
    return nans + ctnn::detail::quantize_s8(src + i, dst + i, n - i, inv_scale);
}

/// c[n * ldc + m] = sum over k < K of a[m * lda + k] * b[n * ldb + k], for m < M and n < N; a's
/// values in [-127, 127] (b: any int8).
inline void gemm_s8(const std::int8_t* a, std::size_t lda, const std::int8_t* b, std::size_t ldb,
                    std::int32_t* c, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
    const std::size_t m4 = M - M % 4;
    for (std::size_t n = 0; n < N; ++n) {
        const std::int8_t* bn = b + n * ldb;
        std::int32_t* cn = c + n * ldc;
        // Four rows of a per pass: each value of b's row is loaded once for four products.
        for (std::size_t m = 0; m < m4; m += 4) {
#if defined(__AVX2__)
            // Below 16 values (a first convolution's taps) the vector steps would not run, and
            // their lane sums cost more than the portable loop.
            if (K >= 16) {
                detail::dot4_s8(a + m * lda, lda, bn, K, cn + m);
                continue;
            }
#endif
            detail::dot4_s8_portable(a + m * lda, lda, bn, K, cn + m);
        }
        for (std::size_t m = m4; m < M; ++m) {
            const std::int8_t* am = a + m * lda;
            std::int32_t s = 0;
            for (std::size_t k = 0; k < K; ++k) s += std::int32_t{am[k]} * std::int32_t{bn[k]};
            cn[m] = s;
        }
    }
}

} // namespace ctnn::cpu
