// ctnn/backend/cpu/simd.hpp — the SIMD register types of the fused CPU kernels.
//
// One struct per instruction set, chosen at compile time from the compiler's target macros (build
// with -march=native to get the widest one this CPU has):
//   Avx512  __AVX512F__            16 floats per register, 32 registers
//   Avx2    __AVX2__ and __FMA__    8 floats per register, 16 registers
//   Neon    __aarch64__ (NEON)      4 floats per register, 32 registers (AArch64's Advanced SIMD)
//   Vec4    any GCC or Clang        4 floats (GNU vector extension: SSE2 on x86-64, else generic)
// Each gives the same few operations (load, store, broadcast, fused multiply-add, add, subtract,
// ReLU and its derivative, max (NaN propagating, as PyTorch), the max of adjacent lane pairs for a
// 2 x 2 max pool in a store, a strided store of the lanes for channel-vector kernels; AVX-512 also
// a 16 x 16 in-register transpose) and the register-blocking budget of its micro-kernel: `max_vecs`
// registers across the output dimension and `rows(v)` rows, so that rows(v) * v accumulators plus
// the operands fit in the register file, and `max_width`, the widest layer for which the fused
// executor is used with this instruction set.
#pragma once
#include "../../config.hpp"

#include <bit>
#include <cstddef>
#include <cstring>

#if !CTNN_CUDA_BACKEND && !defined(CTNN_NO_FUSED_CPU) &&                                           \
    (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
#include <immintrin.h>
#endif
#if !CTNN_CUDA_BACKEND && !defined(CTNN_NO_FUSED_CPU) && defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define CTNN_CPU_NEON 1
#else
#define CTNN_CPU_NEON 0
#endif

// CTNN_CPU_FUSED (config.hpp) says whether these kernels are compiled in.

#if defined(__GNUC__)
/// Asks the compiler to unroll the next loop completely (its trip count is a small constant).
#define CTNN_CPU_UNROLL _Pragma("GCC unroll 32")
/// Asks the compiler to unroll the next loop 4 times (the micro-kernels' reduction loop).
#define CTNN_CPU_UNROLL4 _Pragma("GCC unroll 4")
#else
#define CTNN_CPU_UNROLL
#define CTNN_CPU_UNROLL4
#endif

namespace ctnn::cpu::simd {

#if CTNN_CPU_FUSED && defined(__AVX512F__)
/// AVX-512: 16 floats per zmm register; 24 accumulators per micro-kernel block.
struct Avx512 {
    using reg = __m512;
    static constexpr std::size_t width = 16;
    static constexpr std::size_t max_vecs = 4;
    static constexpr std::size_t rows(std::size_t v) { return v >= 4 ? 6 : v == 3 ? 8 : 12; }
    static constexpr const char* name = "AVX-512";
    /// The widest layer the fused executor takes (measured: up to 1024 it beats Eigen's GEMM).
    static constexpr std::size_t max_width = 1024;

    static CTNN_FORCEINLINE reg zero() { return _mm512_setzero_ps(); }
    static CTNN_FORCEINLINE reg load(const float* p) { return _mm512_loadu_ps(p); }
    static CTNN_FORCEINLINE void store(float* p, reg r) { _mm512_storeu_ps(p, r); }
    /// Stores the first n (< width) lanes.
    static CTNN_FORCEINLINE void store_n(float* p, reg r, std::size_t n) {
        _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), r);
    }
    static CTNN_FORCEINLINE reg bcast(float x) { return _mm512_set1_ps(x); }
    static CTNN_FORCEINLINE reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static CTNN_FORCEINLINE reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    static CTNN_FORCEINLINE reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
    /// The first n (<= width) floats at p, zeros after them.
    static CTNN_FORCEINLINE reg load_n(const float* p, std::size_t n) {
        return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
    }
    /// p[k * stride] = r[k] for k < n (n <= width; stride * width fits an int).
    static CTNN_FORCEINLINE void scatter(float* p, std::size_t stride, reg r, std::size_t n) {
        const __m512i idx = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(static_cast<int>(stride)));
        const auto mask = static_cast<__mmask16>((1u << n) - 1u);
#if defined(__GNUC__) && !defined(__clang__)
        // Without optimization GCC's header makes this intrinsic a macro that casts the mask to
        // short, which -Wsign-conversion reports in every file using the kernel.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
        _mm512_mask_i32scatter_ps(p, mask, idx, r, 4);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    }
    /// ctnn's ReLU, where(a <= 0, 0, a): 0 where a <= 0, else a (NaN stays NaN, as PyTorch's).
    static CTNN_FORCEINLINE reg relu(reg a) {
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_NLE_UQ), a);
    }
    /// ReLU's derivative read from its output y: 0 where y <= 0, else d (where y is NaN too, as
    /// PyTorch's threshold_backward).
    static CTNN_FORCEINLINE reg relu_backward(reg d, reg y) {
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NLE_UQ), d);
    }
    /// The larger of a and b per lane; NaN if either is (a's NaN if both). Masked with an explicit
    /// source: GCC 12's unmasked _mm512_max_ps trips -Wuninitialized inside its own header.
    static CTNN_FORCEINLINE reg max(reg a, reg b) {
        const reg m = _mm512_mask_max_ps(a, 0xFFFF, a, b); // b where either is NaN
        return _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
    }
    /// p[k] = max(a[2k], a[2k + 1]) for k < n (n <= width / 2; NaN if either is).
    static CTNN_FORCEINLINE void store_pair_max(float* p, reg a, std::size_t n) {
        const __m512i even =
            _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd =
            _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        // Zero-masked permutes: GCC 12's unmasked _mm512_permutexvar_ps trips -Wuninitialized.
        const reg m = max(_mm512_maskz_permutexvar_ps(0xFFFF, even, a),
                          _mm512_maskz_permutexvar_ps(0xFFFF, odd, a));
        _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), m);
    }
    /// Transposes the 16 x 16 block r[row][lane] in registers: afterwards r[i][j] is the old
    /// r[j][i]. Three rounds of shuffles (pairs of floats, then of 128-bit lanes twice); the
    /// zero-masked forms keep GCC 12's -Wuninitialized quiet, as above.
    static CTNN_FORCEINLINE void transpose(reg (&r)[16]) {
        constexpr __mmask16 all = 0xFFFF;
        reg t[16];
        for (int i = 0; i < 8; ++i) {
            t[2 * i] = _mm512_maskz_unpacklo_ps(all, r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_maskz_unpackhi_ps(all, r[2 * i], r[2 * i + 1]);
        }
        // r[4q + 0..3]: columns 4c + 0..3 of rows 4q..4q + 3, within each 128-bit lane c.
        for (int q = 0; q < 4; ++q) {
            r[4 * q] = _mm512_maskz_shuffle_ps(all, t[4 * q], t[4 * q + 2], 0x44);
            r[4 * q + 1] = _mm512_maskz_shuffle_ps(all, t[4 * q], t[4 * q + 2], 0xEE);
            r[4 * q + 2] = _mm512_maskz_shuffle_ps(all, t[4 * q + 1], t[4 * q + 3], 0x44);
            r[4 * q + 3] = _mm512_maskz_shuffle_ps(all, t[4 * q + 1], t[4 * q + 3], 0xEE);
        }
        for (int h = 0; h < 2; ++h)
            for (int i = 0; i < 4; ++i) {
                t[8 * h + i] =
                    _mm512_maskz_shuffle_f32x4(all, r[8 * h + i], r[8 * h + 4 + i], 0x88);
                t[8 * h + 4 + i] =
                    _mm512_maskz_shuffle_f32x4(all, r[8 * h + i], r[8 * h + 4 + i], 0xDD);
            }
        for (int i = 0; i < 8; ++i) {
            r[i] = _mm512_maskz_shuffle_f32x4(all, t[i], t[8 + i], 0x88);
            r[8 + i] = _mm512_maskz_shuffle_f32x4(all, t[i], t[8 + i], 0xDD);
        }
    }
};
#endif

#if CTNN_CPU_FUSED && defined(__AVX2__) && defined(__FMA__)
/// AVX2 + FMA: 8 floats per ymm register; 12 accumulators per micro-kernel block.
struct Avx2 {
    using reg = __m256;
    static constexpr std::size_t width = 8;
    static constexpr std::size_t max_vecs = 2;
    static constexpr std::size_t rows(std::size_t v) { return v >= 2 ? 6 : 12; }
    static constexpr const char* name = "AVX2";
    /// The widest layer the fused executor takes (docs/cpu.md, "Measured decisions").
    static constexpr std::size_t max_width = 256;

    static CTNN_FORCEINLINE reg zero() { return _mm256_setzero_ps(); }
    static CTNN_FORCEINLINE reg load(const float* p) { return _mm256_loadu_ps(p); }
    static CTNN_FORCEINLINE void store(float* p, reg r) { _mm256_storeu_ps(p, r); }
    static CTNN_FORCEINLINE void store_n(float* p, reg r, std::size_t n) {
        alignas(32) float t[8];
        _mm256_store_ps(t, r);
        std::memcpy(p, t, n * sizeof(float));
    }
    static CTNN_FORCEINLINE reg bcast(float x) { return _mm256_set1_ps(x); }
    static CTNN_FORCEINLINE reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static CTNN_FORCEINLINE reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    static CTNN_FORCEINLINE reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
    static CTNN_FORCEINLINE reg load_n(const float* p, std::size_t n) {
        alignas(32) float t[8] = {};
        std::memcpy(t, p, n * sizeof(float));
        return _mm256_load_ps(t);
    }
    static CTNN_FORCEINLINE void scatter(float* p, std::size_t stride, reg r, std::size_t n) {
        alignas(32) float t[8];
        _mm256_store_ps(t, r);
        for (std::size_t k = 0; k < n; ++k) p[k * stride] = t[k];
    }
    static CTNN_FORCEINLINE reg relu(reg a) {
        return _mm256_and_ps(a, _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_NLE_UQ));
    }
    static CTNN_FORCEINLINE reg relu_backward(reg d, reg y) {
        return _mm256_and_ps(d, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_NLE_UQ));
    }
    static CTNN_FORCEINLINE reg max(reg a, reg b) {
        // MAXPS returns its second operand where either is NaN: b's NaN, then a's put back.
        return _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
    }
    static CTNN_FORCEINLINE void store_pair_max(float* p, reg a, std::size_t n) {
        const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        const __m256i odd = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
        const reg m = max(_mm256_permutevar8x32_ps(a, even), _mm256_permutevar8x32_ps(a, odd));
        alignas(32) float t[8];
        _mm256_store_ps(t, m);
        std::memcpy(p, t, n * sizeof(float));
    }
};
#endif

#if CTNN_CPU_FUSED && CTNN_CPU_NEON
/// AArch64 Advanced SIMD: 4 floats per q register, 32 registers, so the register blocking of
/// AVX-512 (24 accumulators, 4 vectors of one row, a broadcast) fits as it does there, and fused
/// multiply-adds (FMLA). Every AArch64 CPU has it (Jetson Orin's Cortex-A78AE, Thor's Neoverse
/// V3AE). max_width as AVX-512's: the same register budget, and a 784-input layer keeps the fused
/// and the batch-1 paths; reasoned from the blocking, not measured (docs/cpu.md: no ARM hardware
/// here, and timings under qemu mean nothing).
struct Neon {
    using reg = float32x4_t;
    static constexpr std::size_t width = 4;
    static constexpr std::size_t max_vecs = 4;
    static constexpr std::size_t rows(std::size_t v) { return v >= 4 ? 6 : v == 3 ? 8 : 12; }
    static constexpr const char* name = "NEON";
    static constexpr std::size_t max_width = 1024;

    static CTNN_FORCEINLINE reg zero() { return vdupq_n_f32(0.0f); }
    static CTNN_FORCEINLINE reg load(const float* p) { return vld1q_f32(p); }
    static CTNN_FORCEINLINE void store(float* p, reg r) { vst1q_f32(p, r); }
    static CTNN_FORCEINLINE void store_n(float* p, reg r, std::size_t n) {
        float t[4];
        vst1q_f32(t, r);
        std::memcpy(p, t, n * sizeof(float));
    }
    static CTNN_FORCEINLINE reg bcast(float x) { return vdupq_n_f32(x); }
    static CTNN_FORCEINLINE reg fma(reg a, reg b, reg c) { return vfmaq_f32(c, a, b); }
    static CTNN_FORCEINLINE reg add(reg a, reg b) { return vaddq_f32(a, b); }
    static CTNN_FORCEINLINE reg sub(reg a, reg b) { return vsubq_f32(a, b); }
    static CTNN_FORCEINLINE reg load_n(const float* p, std::size_t n) {
        float t[4] = {};
        std::memcpy(t, p, n * sizeof(float));
        return vld1q_f32(t);
    }
    static CTNN_FORCEINLINE void scatter(float* p, std::size_t stride, reg r, std::size_t n) {
        float t[4];
        vst1q_f32(t, r);
        for (std::size_t k = 0; k < n; ++k) p[k * stride] = t[k];
    }
    /// Keeps a where a > 0 or a is NaN (as the other instruction sets: NaN propagates).
    static CTNN_FORCEINLINE reg relu(reg a) {
        return vreinterpretq_f32_u32(
            vbicq_u32(vreinterpretq_u32_f32(a), vcleq_f32(a, vdupq_n_f32(0.0f))));
    }
    static CTNN_FORCEINLINE reg relu_backward(reg d, reg y) {
        return vreinterpretq_f32_u32(
            vbicq_u32(vreinterpretq_u32_f32(d), vcleq_f32(y, vdupq_n_f32(0.0f))));
    }
    /// max(a, b) with a's NaN, else b's, propagated (PyTorch's max; FMAX would quiet the NaN).
    static CTNN_FORCEINLINE reg max(reg a, reg b) {
        const uint32x4_t take_a = vorrq_u32(vcgtq_f32(a, b), vmvnq_u32(vceqq_f32(a, a)));
        return vbslq_f32(take_a, a, b);
    }
    /// The max of lanes (0, 1) and (2, 3), the first n (<= 2) of them stored.
    static CTNN_FORCEINLINE void store_pair_max(float* p, reg a, std::size_t n) {
        const reg m = max(vuzp1q_f32(a, a), vuzp2q_f32(a, a));
        store_n(p, m, n);
    }
};
#endif

#if CTNN_CPU_FUSED
/// Portable: 4 floats in a GNU vector (SSE2 on any x86-64; generic elsewhere); no fused
/// multiply-add.
struct Vec4 {
    typedef float reg __attribute__((vector_size(16)));
    typedef int mask __attribute__((vector_size(16)));
    static constexpr std::size_t width = 4;
    static constexpr std::size_t max_vecs = 2;
    static constexpr std::size_t rows(std::size_t v) { return v >= 2 ? 4 : 8; }
    static constexpr const char* name = "portable 4-wide";
    /// The widest layer the fused executor takes (docs/cpu.md, "Measured decisions").
    static constexpr std::size_t max_width = 128;

    static CTNN_FORCEINLINE reg zero() { return reg{0.0f, 0.0f, 0.0f, 0.0f}; }
    static CTNN_FORCEINLINE reg load(const float* p) {
        reg r;
        std::memcpy(&r, p, sizeof r);
        return r;
    }
    static CTNN_FORCEINLINE void store(float* p, reg r) { std::memcpy(p, &r, sizeof r); }
    static CTNN_FORCEINLINE void store_n(float* p, reg r, std::size_t n) {
        std::memcpy(p, &r, n * sizeof(float));
    }
    static CTNN_FORCEINLINE reg bcast(float x) { return reg{x, x, x, x}; }
    static CTNN_FORCEINLINE reg fma(reg a, reg b, reg c) { return a * b + c; }
    static CTNN_FORCEINLINE reg add(reg a, reg b) { return a + b; }
    static CTNN_FORCEINLINE reg sub(reg a, reg b) { return a - b; }
    static CTNN_FORCEINLINE reg load_n(const float* p, std::size_t n) {
        reg r = zero();
        std::memcpy(&r, p, n * sizeof(float));
        return r;
    }
    static CTNN_FORCEINLINE void scatter(float* p, std::size_t stride, reg r, std::size_t n) {
        for (std::size_t k = 0; k < n; ++k) p[k * stride] = r[k];
    }
    static CTNN_FORCEINLINE reg relu(reg a) {
        const mask keep = ~(a <= zero()); // a > 0, or NaN
        return std::bit_cast<reg>(std::bit_cast<mask>(a) & keep);
    }
    static CTNN_FORCEINLINE reg relu_backward(reg d, reg y) {
        const mask keep = ~(y <= zero());
        return std::bit_cast<reg>(std::bit_cast<mask>(d) & keep);
    }
    static CTNN_FORCEINLINE reg max(reg a, reg b) {
        const mask take_a = (a > b) | (a != a); // a NaN wins; b's NaN is taken otherwise
        return std::bit_cast<reg>((std::bit_cast<mask>(a) & take_a) |
                                  (std::bit_cast<mask>(b) & ~take_a));
    }
    static CTNN_FORCEINLINE void store_pair_max(float* p, reg a, std::size_t n) {
        for (std::size_t k = 0; k < n; ++k) {
            const float u = a[2 * k], v = a[2 * k + 1];
            p[k] = (u > v || u != u) ? u : v;
        }
    }
};
#endif

#if CTNN_CPU_FUSED
/// The widest instruction set this translation unit is compiled for.
#if defined(__AVX512F__)
using Native = Avx512;
#elif defined(__AVX2__) && defined(__FMA__)
using Native = Avx2;
#elif CTNN_CPU_NEON
using Native = Neon;
#else
using Native = Vec4;
#endif
#endif

} // namespace ctnn::cpu::simd
