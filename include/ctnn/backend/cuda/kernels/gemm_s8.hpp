// ctnn/backend/cuda/kernels/gemm_s8.hpp — the int8 GEMM of quantized inference, on dp4a.
//
//   C(m, n) = sum_k A(m, k) B(n, k)   (int8 operands, int32 sums);   then epi(m, n, C(m, n)).
//
// Both operands are rows of int8 along k, as the CPU's int8 GEMM reads them (backend/cpu/int8.hpp):
// for a Dense stage A is the quantized input [M = batch, K = in] and B the weight [N = out, K =
// in]; for a convolution A the unfolded input [pixels, taps] and B the weight [out, taps]. The
// kernel reads them as 32-bit words of 4 values: a row is padded with zeros to a whole number of
// words, K4 = ceil(K / 4), and lda, ldb count words. Each word pair is one dp4a (4 multiply-adds,
// sm_61 and newer; host execution: backend/cuda/mma.hpp), so the sums are exact and equal the
// CPU's for K <= cpu::max_int8_depth.
//
// Tiles as gemm's GemmLarge (kernels/gemm.hpp): a block of 256 threads computes 64 x 64 of C, each
// thread 4 x 4 (rows m0 + ty + 16 i, columns n0 + tx + 16 j, so a half-warp stores 16
// consecutive n), walking K4 in steps of 8 words (32 values) through shared memory, word tiles
// stored k-major with rows padded by one word (the transposing stores of 8 consecutive threads, one
// per word of a row, hit distinct banks). Single-buffered, two barriers per K-step: a first
// kernel, not tuned on hardware (no GPU here). Out-of-range rows and words load as 0; the
// epilogue is guarded, so any M, N, K4 works; M == 0 or N == 0 launches nothing.
#pragma once
#include "../../../config.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../mma.hpp"
#include "../types.hpp"
#include "gemm.hpp"

#include <cstddef>
#include <cstdint>

#if CTNN_DEVICE_COMPILE
#define CTNN_GEMM_S8_UNROLL _Pragma("unroll")
#else
#define CTNN_GEMM_S8_UNROLL
#endif

namespace ctnn::cuda {

/// The tile of gemm_s8.
struct GemmS8Tile {
    static constexpr unsigned bm = 64, bn = 64, bk = 8; ///< bk in words of 4 int8
    static constexpr unsigned tm = 4, tn = 4, grid = 16, threads = 256;
};

namespace kernels {

/// C = A B^T over one 64 x 64 tile of C per block (blockIdx.x: n-tiles fastest), then epi(m, n,
/// C(m, n)) for the block's in-range elements.
template <class Epi>
__global__ void __launch_bounds__(GemmS8Tile::threads, 4)
    gemm_s8(std::uint32_t M, std::uint32_t N, std::uint32_t K4, const std::int32_t* a,
            std::uint32_t lda, const std::int32_t* b, std::uint32_t ldb, Epi epi) {
    using Tl = GemmS8Tile;
    constexpr unsigned BM = Tl::bm, BN = Tl::bn, BK = Tl::bk, TM = Tl::tm, TN = Tl::tn,
                       G = Tl::grid;
    __shared__ std::int32_t As[BK][BM + 1];
    __shared__ std::int32_t Bs[BK][BN + 1];

    const unsigned t = threadIdx.x;
    const unsigned tx = t % G, ty = t / G;
    const std::uint32_t tiles_n = (N + BN - 1) / BN;
    const std::uint32_t m0 = blockIdx.x / tiles_n * BM, n0 = blockIdx.x % tiles_n * BN;
    std::int32_t acc[TM][TN] = {};

    for (std::uint32_t k0 = 0; k0 < K4; k0 += BK) {
        // 64 rows x 8 words of each operand: two words per thread, 8 consecutive threads on the
        // 8 consecutive words of one row.
        CTNN_GEMM_S8_UNROLL
        for (unsigned l = 0; l < BM * BK / Tl::threads; ++l) {
            const unsigned idx = t + Tl::threads * l, r = idx / BK, kw = idx % BK;
            const std::uint32_t k = k0 + kw, m = m0 + r, n = n0 + r;
            As[kw][r] = m < M && k < K4 ? a[std::size_t{m} * lda + k] : 0;
            Bs[kw][r] = n < N && k < K4 ? b[std::size_t{n} * ldb + k] : 0;
        }
        // The tiles are complete before any thread multiplies them.
        __syncthreads();
        CTNN_GEMM_S8_UNROLL
        for (unsigned kw = 0; kw < BK; ++kw) {
            std::int32_t ra[TM], rb[TN];
            CTNN_GEMM_S8_UNROLL
            for (unsigned i = 0; i < TM; ++i) ra[i] = As[kw][ty + G * i];
            CTNN_GEMM_S8_UNROLL
            for (unsigned j = 0; j < TN; ++j) rb[j] = Bs[kw][tx + G * j];
            CTNN_GEMM_S8_UNROLL
            for (unsigned i = 0; i < TM; ++i) {
                CTNN_GEMM_S8_UNROLL
                for (unsigned j = 0; j < TN; ++j) acc[i][j] = dp4a(ra[i], rb[j], acc[i][j]);
            }
        }
        // Every thread is done with the tiles before the next K-step overwrites them.
        __syncthreads();
    }

    CTNN_GEMM_S8_UNROLL
    for (unsigned i = 0; i < TM; ++i) {
        const std::uint32_t m = m0 + ty + G * i;
        CTNN_GEMM_S8_UNROLL
        for (unsigned j = 0; j < TN; ++j) {
            const std::uint32_t n = n0 + tx + G * j;
            if (m < M && n < N) epi(m, n, acc[i][j]);
        }
    }
}

} // namespace kernels

/// C(m, n) = sum over the K4 words k of dp4a(A(m, k), B(n, k)) for m < M, n < N (A: a + m lda,
/// B: b + n ldb, words of 4 int8 each, rows zero-padded to whole words), then epi(m, n, C(m, n))
/// once per element (a functor callable on the device: (std::uint32_t, std::uint32_t,
/// std::int32_t)). One launch on `stream`; M == 0 or N == 0: none. Throws ctnn::cuda_error for a
/// grid of more than 2^31 - 1 blocks.
template <class Epi>
void gemm_s8(std::uint32_t M, std::uint32_t N, std::uint32_t K4, const std::int32_t* a,
             std::uint32_t lda, const std::int32_t* b, std::uint32_t ldb, const Epi& epi,
             stream_t stream = nullptr) {
    if (M == 0 || N == 0) return;
    using Tl = GemmS8Tile;
    const std::uint64_t blocks =
        std::uint64_t{(M + Tl::bm - 1) / Tl::bm} * std::uint64_t{(N + Tl::bn - 1) / Tl::bn};
    detail::check_gemm_grid("gemm_s8", M, N, 1, blocks);
    launch(&kernels::gemm_s8<Epi>, static_cast<unsigned>(blocks), Tl::threads, 0, stream, M, N, K4,
           a, lda, b, ldb, epi);
}

} // namespace ctnn::cuda

#undef CTNN_GEMM_S8_UNROLL
