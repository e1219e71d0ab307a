// ctnn/backend/cpu/kernels.hpp — register-blocked micro-kernels of the fused CPU executor.
//
// Every product of the fused executor (forward Z = X W^T, input gradient dX = dZ W, weight
// gradient dW^T += X^T dZ) is one shape: an M x N output C, N contiguous in memory (a multiple of
// the register width, zero-padded), computed as
//
//     C(r, :) = init(r) + sum_j A(r, j) * B(j, :)        A(r, j) = a[r * AR + j * AJ]  (broadcast)
//                                                         B(j, :) = b[j * LDB ...]      (vectors)
//
// A block of R rows x V registers of C stays in registers for the whole j loop (the accumulators
// start at the bias, or at the values C already holds), each B row is loaded once per block and
// each A element broadcast once. The caller's `Tile` says how a block starts (init) and ends
// (finish: the epilogue on the accumulators, then the only store). All strides are template
// arguments: every address in the inner loop is a register plus a constant.
#pragma once
#include "../../config.hpp"
#include "simd.hpp"

#include <algorithm>
#include <cstddef>

#if CTNN_CPU_FUSED

namespace ctnn::cpu::detail {

/// acc(r, v) += sum_{j < k} a[r * AR + j * AJ] * b[j * LDB + v * width]
/// The j loop is unrolled 4 times (GCC leaves it rolled: one compare, one branch and two pointer
/// increments per 24 multiply-adds of a 6 x 4 block; docs/cpu.md, "Measured decisions").
template <class I, std::size_t R, std::size_t V, std::size_t AR, std::size_t AJ, std::size_t LDB>
CTNN_FORCEINLINE void accumulate(typename I::reg (&acc)[R][V], const float* a, const float* b,
                                 std::size_t k) {
    CTNN_CPU_UNROLL4
    for (std::size_t j = 0; j < k; ++j) {
        // Load: one B row of the block (V registers), reused by all R rows.
        typename I::reg bv[V];
        CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < V; ++v) bv[v] = I::load(b + j * LDB + v * I::width);
        // Compute: R broadcasts, R * V fused multiply-adds.
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) {
            const typename I::reg x = I::bcast(a[r * AR + j * AJ]);
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = I::fma(bv[v], x, acc[r][v]);
        }
    }
}

/// One R x V block of C at row r0, register column v0.
template <class I, std::size_t R, std::size_t V, std::size_t AR, std::size_t AJ, std::size_t LDB,
          class Tile>
inline void block(std::size_t r0, std::size_t v0, std::size_t k, const float* a, const float* b,
                  Tile& tile) {
    typename I::reg acc[R][V];
    tile.template init<R, V>(acc, r0, v0);
    accumulate<I, R, V, AR, AJ, LDB>(acc, a + r0 * AR, b + v0 * I::width, k);
    tile.template finish<R, V>(acc, r0, v0);
}

/// C = m rows x NV registers: tiles of up to I::max_vecs registers, each swept by blocks of
/// I::rows(V) rows, then the remaining rows by blocks of 4, 2 and 1.
template <class I, std::size_t NV, std::size_t AR, std::size_t AJ, std::size_t LDB,
          std::size_t V0 = 0, class Tile>
inline void gemm(std::size_t m, std::size_t k, const float* a, const float* b, Tile& tile) {
    if constexpr (V0 < NV) {
        constexpr std::size_t V = std::min(I::max_vecs, NV - V0);
        constexpr std::size_t R = I::rows(V);
        std::size_t r0 = 0;
        for (; r0 + R <= m; r0 += R) block<I, R, V, AR, AJ, LDB>(r0, V0, k, a, b, tile);
        if constexpr (R > 4)
            for (; r0 + 4 <= m; r0 += 4) block<I, 4, V, AR, AJ, LDB>(r0, V0, k, a, b, tile);
        if constexpr (R > 2)
            for (; r0 + 2 <= m; r0 += 2) block<I, 2, V, AR, AJ, LDB>(r0, V0, k, a, b, tile);
        if (r0 < m) block<I, 1, V, AR, AJ, LDB>(r0, V0, k, a, b, tile);
        gemm<I, NV, AR, AJ, LDB, V0 + V>(m, k, a, b, tile);
    }
}

/// One output row (batch-1 inference): C(0, :) = init + sum_j a[j] * B(j, :), in tiles of up to
/// 2 * max_vecs registers with two accumulator sets (even and odd j) to halve the dependency
/// chain of the fused multiply-adds.
template <class I, std::size_t NV, std::size_t LDB, std::size_t V0 = 0, class Tile>
inline void gemv(std::size_t k, const float* a, const float* b, Tile& tile) {
    if constexpr (V0 < NV) {
        constexpr std::size_t V = std::min(2 * I::max_vecs, NV - V0);
        using reg = typename I::reg;
        reg acc[1][V], odd[V];
        tile.template init<1, V>(acc, 0, V0);
        CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < V; ++v) odd[v] = I::zero();
        const float* bp = b + V0 * I::width;
        std::size_t j = 0;
        for (; j + 2 <= k; j += 2) {
            const reg x0 = I::bcast(a[j]), x1 = I::bcast(a[j + 1]);
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                acc[0][v] = I::fma(I::load(bp + j * LDB + v * I::width), x0, acc[0][v]);
                odd[v] = I::fma(I::load(bp + (j + 1) * LDB + v * I::width), x1, odd[v]);
            }
        }
        if (j < k) {
            const reg x0 = I::bcast(a[j]);
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v)
                acc[0][v] = I::fma(I::load(bp + j * LDB + v * I::width), x0, acc[0][v]);
        }
        CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < V; ++v) acc[0][v] = I::add(acc[0][v], odd[v]);
        tile.template finish<1, V>(acc, 0, V0);
        gemv<I, NV, LDB, V0 + V>(k, a, b, tile);
    }
}

} // namespace ctnn::cpu::detail

#endif // CTNN_CPU_FUSED
