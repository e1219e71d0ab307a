// ctnn/backend/cpu/matvec.hpp — y = W x + b with W in PyTorch's layout [out][in], for StaticModel.
//
// StaticModel reads its weights where they are (a constant array in flash or .rodata, user
// memory), so W is never repacked into the fused executor's W^T: each output is a dot product of a
// row of W with x. For one sample, eight rows at a time (for S = 2 or 4 samples, 8 / S rows, each
// weight load serving the S samples), one accumulator register per row along `in`, the eight
// accumulators reduced across their lanes at the end (AVX2: a horizontal-add tree that leaves the
// eight sums in one register; NEON: pairwise adds), then the last in % width columns in scalar
// code.
// A last partial block of rows repeats the last row instead of having its own code path: the
// extra sums are discarded.
//
// The extents are runtime values: one instantiation per instruction set serves every layer of
// every model, which is what an embedded binary's size wants (docs/jetson.md, "Static inference");
// only the register blocking is a compile-time constant.
#pragma once
#include "../../config.hpp"
#include "simd.hpp"

#include <cstddef>
#include <type_traits>

namespace ctnn::cpu {

#if CTNN_CPU_FUSED
namespace detail {

/// out[r] = the sum of acc[r]'s lanes, for r < R.
template <class Isa, std::size_t R>
CTNN_FORCEINLINE void lane_sums(const typename Isa::reg (&acc)[R], float* out) {
#if defined(__AVX2__) && defined(__FMA__)
    if constexpr (std::is_same_v<Isa, simd::Avx2> && R == 8) {
        // hadd(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3 | a4+a5, a6+a7, b4+b5, b6+b7]: two levels give
        // each row's low-half sum in the low lane of h0123/h4567 and its high-half sum in the
        // high lane; one permute pairs them.
        const __m256 h0123 =
            _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
        const __m256 h4567 =
            _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
        _mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20),
                                            _mm256_permute2f128_ps(h0123, h4567, 0x31)));
        return;
    }
#endif
#if CTNN_CPU_NEON
    if constexpr (std::is_same_v<Isa, simd::Neon> && R % 4 == 0) {
        for (std::size_t r = 0; r < R; r += 4)
            vst1q_f32(out + r, vpaddq_f32(vpaddq_f32(acc[r], acc[r + 1]),
                                          vpaddq_f32(acc[r + 2], acc[r + 3])));
        return;
    }
#endif
    for (std::size_t r = 0; r < R; ++r) {
        alignas(64) float lanes[Isa::width];
        Isa::store(lanes, acc[r]);
        float s = 0.0f;
        for (std::size_t k = 0; k < Isa::width; ++k) s += lanes[k];
        out[r] = s;
    }
}

} // namespace detail

/// For S samples s: y[s * ldy + j] = b[j] + sum_i w[j * in + i] * x[s * ldx + i], j < out (b null:
/// no bias). W row-major [out][in]. Blocks of 8 / S rows, so that the S samples share each weight
/// load and the block still has 8 accumulators (the lane-sum tree's width).
template <std::size_t S = 1, class Isa = simd::Native>
void matvec(std::size_t in, std::size_t out, const float* w, const float* b, const float* x,
            std::size_t ldx, float* y, std::size_t ldy) noexcept {
    static_assert(S == 1 || S == 2 || S == 4, "matvec: 1, 2 or 4 samples per block");
    using reg = typename Isa::reg;
    constexpr std::size_t R = 8 / S, V = Isa::width;
    const std::size_t full = in - in % V;
    for (std::size_t j = 0; j < out; j += R) {
        // Rows j .. j + R - 1; past the last row, the last row again (its sums are dropped).
        const float* rows[R];
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) rows[r] = w + (j + r < out ? j + r : out - 1) * in;
        reg acc[S * R];
        CTNN_CPU_UNROLL
        for (std::size_t k = 0; k < S * R; ++k) acc[k] = Isa::zero();
        for (std::size_t i = 0; i < full; i += V) {
            reg xv[S];
            CTNN_CPU_UNROLL
            for (std::size_t s = 0; s < S; ++s) xv[s] = Isa::load(x + s * ldx + i);
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) {
                const reg wv = Isa::load(rows[r] + i);
                CTNN_CPU_UNROLL
                for (std::size_t s = 0; s < S; ++s)
                    acc[s * R + r] = Isa::fma(wv, xv[s], acc[s * R + r]);
            }
        }
        alignas(32) float sums[S * R];
        detail::lane_sums<Isa, S * R>(acc, sums);
        // The last in % V columns in scalar code: a masked vector block would double the
        // function's size for a loop that most layers (widths of multiples of 8) never run.
        for (std::size_t i = full; i < in; ++i)
            for (std::size_t s = 0; s < S; ++s)
                for (std::size_t r = 0; r < R; ++r) sums[s * R + r] += rows[r][i] * x[s * ldx + i];
        const std::size_t m = out - j < R ? out - j : R;
        for (std::size_t s = 0; s < S; ++s)
            for (std::size_t r = 0; r < m; ++r)
                y[s * ldy + j + r] = b != nullptr ? sums[s * R + r] + b[j + r] : sums[s * R + r];
    }
}

#else

/// Without the SIMD kernels (a CUDA translation unit, CTNN_NO_FUSED_CPU): the same product in
/// plain loops.
template <std::size_t S = 1>
void matvec(std::size_t in, std::size_t out, const float* w, const float* b, const float* x,
            std::size_t ldx, float* y, std::size_t ldy) noexcept {
    for (std::size_t s = 0; s < S; ++s)
        for (std::size_t j = 0; j < out; ++j) {
            float sum = 0.0f;
            for (std::size_t i = 0; i < in; ++i) sum += w[j * in + i] * x[s * ldx + i];
            y[s * ldy + j] = b != nullptr ? sum + b[j] : sum;
        }
}

#endif

} // namespace ctnn::cpu
