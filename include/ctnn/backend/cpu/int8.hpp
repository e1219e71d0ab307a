// ctnn/backend/cpu/int8.hpp — the int8 GEMM of a quantized model on the CPU: int8 operands,
// int32 sums (core/quantize.hpp has the quantization itself).
//
// Both operands are read as rows of K contiguous int8 (a Dense weight [out, in] and its input
// [batch, in] as PyTorch stores them; a convolution's weight [out, taps] and its unfolded input
// [pixels, taps]), so every output is one dot product. The portable loops below widen to int32
// and vectorize (x86: sign extension and multiply-add of 16-bit pairs); VNNI, AMX and ARM SDOT
// kernels are not built yet. Exact: |sum| <= K * 127^2 < 2^31 for K <= max_int8_depth.
#pragma once
#include "../../config.hpp"

#include <cstddef>
#include <cstdint>

namespace ctnn::cpu {

/// The largest K whose int8 dot products cannot overflow an int32 sum.
inline constexpr std::size_t max_int8_depth = std::size_t{2147483647} / (127 * 127);

/// c[n * ldc + m] = sum over k < K of a[m * lda + k] * b[n * ldb + k], for m < M and n < N.
inline void gemm_s8(const std::int8_t* a, std::size_t lda, const std::int8_t* b, std::size_t ldb,
                    std::int32_t* c, std::size_t ldc, std::size_t M, std::size_t N, std::size_t K) {
    const std::size_t m4 = M - M % 4;
    for (std::size_t n = 0; n < N; ++n) {
        const std::int8_t* bn = b + n * ldb;
        std::int32_t* cn = c + n * ldc;
        // Four rows of a per pass: each value of b's row is loaded once for four products.
        for (std::size_t m = 0; m < m4; m += 4) {
            const std::int8_t* a0 = a + m * lda;
            const std::int8_t* a1 = a0 + lda;
            const std::int8_t* a2 = a1 + lda;
            const std::int8_t* a3 = a2 + lda;
            std::int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (std::size_t k = 0; k < K; ++k) {
                const std::int32_t v = bn[k];
                s0 += std::int32_t{a0[k]} * v;
                s1 += std::int32_t{a1[k]} * v;
                s2 += std::int32_t{a2[k]} * v;
                s3 += std::int32_t{a3[k]} * v;
            }
            cn[m] = s0;
            cn[m + 1] = s1;
            cn[m + 2] = s2;
            cn[m + 3] = s3;
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
