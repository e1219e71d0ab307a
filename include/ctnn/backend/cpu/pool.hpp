// ctnn/backend/cpu/pool.hpp — vector kernels for pooling on the CPU (float, AVX-512).
//
// eigen::Executor pools with the generic window loops of backend/cpu/eigen/window.hpp. For the most
// common pool, MaxPool2D<2> on even sizes (2 x 2 windows that tile the input), the backward pass
// there finds each window's argmax again with a branch per tap, which ReLU outputs make
// unpredictable (docs/cpu.md, "Measured decisions"). max_pool2_backward does the same with
// mask compares on two input rows at a time, without branches, with identical results (the first
// maximum in row-major order; a NaN wins, as window_argmax).
#pragma once
#include "../../config.hpp"
#include "../../layers/window.hpp"
#include "eigen/window.hpp"
#include "simd.hpp"

#include <algorithm>
#include <cstddef>

namespace ctnn::cpu::detail {

/// Whether max_pool2_backward takes windows G: 2 x 2 windows that tile the input exactly, and
/// the kernel compiled in (AVX-512).
template <ctnn::detail::Window2D G>
inline constexpr bool max_pool2_vectorized =
#if CTNN_CPU_FUSED && defined(__AVX512F__)
    eigen::detail::tiling_window(G) && G.kh == 2 && G.kw == 2;
#else
    false;
#endif

#if CTNN_CPU_FUSED && defined(__AVX512F__)
/// Max pooling backward over 2 x 2 tiling windows: dx (overwritten) holds each output's gradient
/// dz at its window's argmax in x and zeros elsewhere, for `batch` samples of G.c planes. With
/// ReluMask, x is the output of a ReLU whose derivative is applied too: a window whose maximum
/// is <= 0 passes no gradient (ReLU'(z) = [not Y <= 0] at the argmax: a NaN passes, as in
/// PyTorch), which saves the executor a pass over dx.
/// The geometry is a run-time argument (static tile, dynamic extents); the caller checks
/// max_pool2_vectorized<G>.
template <bool ReluMask = false>
void max_pool2_backward(const ctnn::detail::Window2D& G, const float* x, const float* dz,
                        std::size_t batch, float* dx) {
    // Lane l reads lane l ^ 1 (the other column of its window); lane l reads window l / 2.
    const __m512i swap = _mm512_set_epi32(14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1);
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    constexpr __mmask16 all = 0xFFFF, even = 0x5555;
    const auto above = [](__m512 v, __m512 m) { // v > m, or v is NaN
        return static_cast<__mmask16>(_mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |
                                      _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
    };
    for (std::size_t row = 0; row < batch * G.c * G.oh; ++row) { // (sample, channel, oh)
        const float* x0 = x + row * 2 * G.w;
        const float* x1 = x0 + G.w;
        float* d0 = dx + row * 2 * G.w;
        float* d1 = d0 + G.w;
        const float* g = dz + row * G.ow;
        for (std::size_t c = 0; c < G.w; c += 16) {
            const std::size_t n = std::min<std::size_t>(16, G.w - c); // even: G.w is
            const auto lanes = static_cast<__mmask16>((1u << n) - 1u);
            // Even lane 2j of window j: a = r0[2j], b = r0[2j + 1], c = r1[2j], d = r1[2j + 1].
            const __m512 a = _mm512_maskz_loadu_ps(lanes, x0 + c);
            const __m512 cc = _mm512_maskz_loadu_ps(lanes, x1 + c);
            const __m512 b = _mm512_maskz_permutexvar_ps(all, swap, a);
            const __m512 d = _mm512_maskz_permutexvar_ps(all, swap, cc);
            const __mmask16 sb = above(b, a);
            const __m512 m1 = _mm512_mask_blend_ps(sb, a, b);
            const __mmask16 sc = above(cc, m1);
            const __m512 m2 = _mm512_mask_blend_ps(sc, m1, cc);
            const __mmask16 sd = above(d, m2);
            __mmask16 live = even;
            if constexpr (ReluMask) // the window's maximum is positive or NaN
                live &= _mm512_cmp_ps_mask(_mm512_mask_blend_ps(sd, m2, d), _mm512_setzero_ps(),
                                           _CMP_NLE_UQ);
            const auto ka = static_cast<unsigned>(live & ~sb & ~sc & ~sd);
            const auto kb = static_cast<unsigned>(live & sb & ~sc & ~sd);
            const auto kc = static_cast<unsigned>(live & sc & ~sd);
            const auto kd = static_cast<unsigned>(live & sd);
            const __m512 gv = _mm512_maskz_permutexvar_ps(
                all, dup,
                _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (n / 2)) - 1u), g + c / 2));
            _mm512_mask_storeu_ps(d0 + c, lanes,
                                  _mm512_maskz_mov_ps(static_cast<__mmask16>(ka | (kb << 1)), gv));
            _mm512_mask_storeu_ps(d1 + c, lanes,
                                  _mm512_maskz_mov_ps(static_cast<__mmask16>(kc | (kd << 1)), gv));
        }
    }
}
#endif

} // namespace ctnn::cpu::detail
