// ctnn/backend/cuda/kernels/gemm_mma.hpp — the tensor-core GEMM: gemm_grouped's product with f16
// or bf16 operands and f32 accumulation, on mma.sync m16n8k16 (sm_80 and newer).
//
//   C(m, n) = sum_k r(A(m, k)) r(B(k, n))   (f32 sums),   then epi(g, m, n, C(m, n))
//
// where r rounds a float to the 16-bit input type (round to nearest even, as cvt.rn does). The
// operands are gemm_grouped's policies (gemm.hpp: `k_contiguous`, `float load(g, r, k)`): they stay
// fp32 in global memory, the master copies of mixed-precision training, and are rounded on their
// way into shared memory, so a Dense layer's three products (forward, dX, dW) read the same
// buffers as on the SIMT path. The epilogue is gemm's (epi(g, m, n, acc), called once per
// in-range element); column epilogues are not supported here.
//
// Design:
//   - Tiles. A block computes 64 x 64 of C with 4 warps (128 threads) as 2 x 2; a warp's 32 x 32
//     is 2 x 4 mma tiles of 16 x 8 (8 accumulator fragments, 32 floats per lane). K advances by
//     32 per tile, two mma k-steps of 16.
//   - Shared layout. Both operands r-major with k contiguous, as 16-bit elements: As[m][k],
//     Bs[n][k] (B's mma fragment is .col, i.e. B^T row-major, which Bs is). Rows are padded to 40
//     elements (80 bytes), so the 8 row addresses of one ldmatrix matrix fall in 8 distinct
//     16-byte bank groups.
//   - Fragments. A: one ldmatrix.x4 per 16 x 16 (matrices: rows 0-7 and 8-15 of k 0-7, then of
//     k 8-15: the order of the A fragment's registers); B: one ldmatrix.x4 per two 8-wide n-tiles
//     (k 0-7 and k 8-15 of each). Lane l names row l % 8 of matrix l / 8. The per-lane layouts are
//     the PTX ISA's; host execution computes them the same way (host/mma.hpp), so a wrong index
//     fails the host-execution test.
//   - Global -> shared as gemm's (detail::OperandFetch: coalesced in the operand's contiguous
//     direction, zeros past M, N and K, the optional all-ones column of B), rounded at the store;
//     double-buffered: K-tile t + 1 is fetched into registers before the mma of tile t.
//   - Epilogue. Accumulator c_i of a lane in a 16 x 8 tile is row groupID + 8 (i / 2), column
//     2 threadID_in_group + i % 2 (groupID = lane / 4, threadID_in_group = lane % 4).
//
// Precision: each product of two rounded inputs is exact in f32; the sum is f32 (the hardware's
// order within an mma is unspecified). Against the fp32 product, the rounding of the inputs
// dominates: |C - C_fp32| <= ~2 u sum_k |A(m, k)| |B(k, n)| with u = 2^-8 (bf16) or 2^-11 (f16);
// f16 overflows past 65504 (the caller scales, as loss scaling does).
//
// Limits (first version, not tuned on hardware: no GPU here): one tile configuration; the
// rounding stores of an r-contiguous operand (A transposed, B untransposed) hit 4-way bank
// conflicts; no cp.async, no split-K. Sizes as gemm's (below 2^32 - 64).
#pragma once
#include "../../../config.hpp"
#include "../../../core/precision.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../mma.hpp"
#include "../types.hpp"
#include "gemm.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

#if CTNN_DEVICE_COMPILE
#define CTNN_MMA_UNROLL _Pragma("unroll")
#else
#define CTNN_MMA_UNROLL
#endif

namespace ctnn::cuda {

/// The tile configuration of gemm_mma: 64 x 64 x 32 per block of 4 warps (2 x 2, 32 x 32 each).
struct GemmMmaTile {
    static constexpr unsigned bm = 64, bn = 64, bk = 32;
    static constexpr unsigned threads = 128;
    static constexpr unsigned warp_m = 32, warp_n = 32; // a warp's part of the block tile
    static constexpr unsigned frag_m = 2, frag_n = 4;   // its 16 x 8 mma tiles
    static constexpr unsigned ld = bk + 8;              // padded shared row, in elements
};

namespace kernels {

/// C = A B with operands rounded to Input, one GemmMmaTile of C per block, then
/// epi(group, m, n, C(m, n)) for the block's in-range elements. Grid as kernels::gemm: blockIdx.x
/// walks the tiles of C (n-tiles fastest), blockIdx.y the groups.
template <MmaInput Input, class OpA, class OpB, class Epi>
__global__ void __launch_bounds__(GemmMmaTile::threads)
    gemm_mma(std::uint32_t M, std::uint32_t N, std::uint32_t K, OpA opa, OpB opb, Epi epi,
             bool ones_column) {
    using Tile = GemmMmaTile;
    constexpr unsigned BM = Tile::bm, BN = Tile::bn, BK = Tile::bk, LD = Tile::ld;
    constexpr unsigned FM = Tile::frag_m, FN = Tile::frag_n;
    __align__(16) __shared__ std::uint16_t As[2][BM][LD];
    __align__(16) __shared__ std::uint16_t Bs[2][BN][LD];

    const unsigned t = threadIdx.x;
    const unsigned lane = t % 32u, warp = t / 32u;
    const unsigned wm = warp / 2u * Tile::warp_m, wn = warp % 2u * Tile::warp_n;
    const detail::GemmBlock<BM, BN, BK> blk(N, K, ones_column);
    const std::uint32_t g = blk.g, m0 = blk.m0, n0 = blk.n0, tiles_k = blk.tiles_k;

    detail::OperandFetch<float, BM, BK, Tile::threads, OpA::k_contiguous> fa(t);
    detail::OperandFetch<float, BN, BK, Tile::threads, OpB::k_contiguous> fb(t);
    float acc[FM][FN][4] = {};

    // Registers -> shared, rounded to the input type.
    const auto store = [&](unsigned buf) {
        CTNN_MMA_UNROLL
        for (unsigned i = 0; i < decltype(fa)::count; ++i)
            As[buf][fa.r(i)][fa.k(i)] = round_to_mma_input<Input>(fa.v[i]);
        CTNN_MMA_UNROLL
        for (unsigned i = 0; i < decltype(fb)::count; ++i)
            Bs[buf][fb.r(i)][fb.k(i)] = round_to_mma_input<Input>(fb.v[i]);
    };

    if (tiles_k > 0) {
        blk.fetch(fa, fb, opa, opb, M, 0, K);
        store(0);
    }
    // Tile 0 is complete in shared memory before any warp loads fragments from it.
    __syncthreads();

    // This lane's row of the ldmatrix matrices it names (lane / 8: the matrix).
    const unsigned mat = lane / 8u, row = lane % 8u;
    for (std::uint32_t kt = 0; kt < tiles_k; ++kt) {
        const unsigned cur = kt % 2u;
        const bool more = kt + 1 < tiles_k; // the same for every thread: barriers stay uniform
        if (more) blk.fetch(fa, fb, opa, opb, M, (kt + 1) * BK, K);
        CTNN_MMA_UNROLL
        for (unsigned ks = 0; ks < BK; ks += 16) {
            std::uint32_t a[FM][4], b[FN][2];
            CTNN_MMA_UNROLL
            for (unsigned i = 0; i < FM; ++i) // matrices: rows 0-7 / 8-15, then k 0-7 / 8-15
                ldmatrix_m8n8<4>(a[i],
                                 &As[cur][wm + 16 * i + (mat % 2u) * 8 + row][ks + (mat / 2u) * 8]);
            CTNN_MMA_UNROLL
            for (unsigned j = 0; j < FN; j += 2) { // matrices: tile j k 0-7 / 8-15, tile j + 1
                std::uint32_t r[4];
                ldmatrix_m8n8<4>(r, &Bs[cur][wn + 8 * (j + mat / 2u) + row][ks + (mat % 2u) * 8]);
                b[j][0] = r[0], b[j][1] = r[1], b[j + 1][0] = r[2], b[j + 1][1] = r[3];
            }
            CTNN_MMA_UNROLL
            for (unsigned i = 0; i < FM; ++i) {
                CTNN_MMA_UNROLL
                for (unsigned j = 0; j < FN; ++j)
                    mma_m16n8k16<Input>(acc[i][j], a[i], b[j], acc[i][j]);
            }
        }
        if (more) {
            // Every warp finished reading buffer cur ^ 1 (tile kt - 1) before the barrier that
            // ended the previous iteration.
            store(cur ^ 1u);
            // Tile kt + 1 is complete before anyone loads it, and every warp is done with buffer
            // cur before the next iteration overwrites it.
            __syncthreads();
        }
    }

    const unsigned group_id = lane / 4u, tig = lane % 4u;
    CTNN_MMA_UNROLL
    for (unsigned i = 0; i < FM; ++i) {
        CTNN_MMA_UNROLL
        for (unsigned j = 0; j < FN; ++j) {
            CTNN_MMA_UNROLL
            for (unsigned e = 0; e < 4; ++e) {
                const std::uint32_t m = m0 + wm + 16 * i + group_id + 8 * (e / 2u);
                const std::uint32_t n = n0 + wn + 8 * j + 2 * tig + e % 2u;
                if (m < M && n < N) epi(g, m, n, acc[i][j][e]);
            }
        }
    }
}

} // namespace kernels

/// gemm_grouped (gemm.hpp) on tensor cores: the same operands, groups, ones column and epilogue
/// (not a column epilogue), the operands rounded to Input (f16 or bf16) and summed in f32. One
/// launch on `stream`; groups == 0, M == 0 or N == 0: none. Needs sm_80 or newer on a GPU.
template <MmaInput Input, class OpA, class OpB, class Epi>
void gemm_mma_grouped(std::uint32_t M, std::uint32_t N, std::uint32_t K, std::uint32_t groups,
                      const OpA& a, const OpB& b, const Epi& epi, bool ones_column = false,
                      stream_t stream = nullptr) {
    static_assert(std::is_trivially_copyable_v<Epi> && std::is_trivially_copyable_v<OpA> &&
                      std::is_trivially_copyable_v<OpB>,
                  "cuda::gemm_mma: operands and epilogue are kernel arguments and must be "
                  "trivially copyable");
    static_assert(
        !detail::ColumnEpilogue<Epi> &&
            std::is_invocable_v<const Epi&, std::uint32_t, std::uint32_t, std::uint32_t, float>,
        "cuda::gemm_mma_grouped: the epilogue must be callable as epi(group, m, n, acc)");
    if (M == 0 || N == 0 || groups == 0) return;
    const std::uint64_t blocks = gemm_blocks<GemmMmaTile>(M, N);
    detail::check_gemm_grid("gemm_mma", M, N, groups, blocks);
    launch(&kernels::gemm_mma<Input, OpA, OpB, Epi>, dim3(static_cast<unsigned>(blocks), groups),
           GemmMmaTile::threads, 0, stream, M, N, K, a, b, epi, ones_column);
}

/// gemm (gemm.hpp: A(m, k) = TransA ? a[k * lda + m] : a[m * lda + k], B likewise, epi(m, n, acc))
/// on tensor cores, with the float operands rounded to Input and f32 sums.
template <MmaInput Input, bool TransA, bool TransB, class Epi>
void gemm_mma(std::uint32_t M, std::uint32_t N, std::uint32_t K, const float* a, std::uint32_t lda,
              const float* b, std::uint32_t ldb, const Epi& epi, bool ones_column = false,
              stream_t stream = nullptr) {
    static_assert(std::is_invocable_v<const Epi&, std::uint32_t, std::uint32_t, float>,
                  "cuda::gemm_mma: the epilogue must be callable as epi(m, n, acc)");
    gemm_mma_grouped<Input>(M, N, K, 1, detail::StridedOperand<float, !TransA>{a, lda},
                            detail::StridedOperand<float, TransB>{b, ldb},
                            detail::UngroupedEpilogue<Epi>{epi}, ones_column, stream);
}

/// The MmaInput of a reduced GEMM operand format (bf16 or fp16).
template <GemmOperands G>
inline constexpr MmaInput mma_input_of = G == GemmOperands::fp16 ? MmaInput::f16 : MmaInput::bf16;

/// gemm_grouped with operands in format G: the SIMT GEMM in T (G scalar) or gemm_mma (bf16 or
/// fp16, T float). How an evaluator runs a product in its model's precision (core/precision.hpp).
template <GemmOperands G, class T, class OpA, class OpB, class Epi>
void gemm_grouped_as(std::uint32_t M, std::uint32_t N, std::uint32_t K, std::uint32_t groups,
                     const OpA& a, const OpB& b, const Epi& epi, bool ones_column = false,
                     stream_t stream = nullptr) {
    // int8: a quantized model's float stages (its int8 ones run gemm_s8, eval/int8.hpp).
    if constexpr (G == GemmOperands::scalar || G == GemmOperands::int8) {
        gemm_grouped<T>(M, N, K, groups, a, b, epi, ones_column, stream);
    } else {
        static_assert(std::is_same_v<T, float>, "cuda::gemm_grouped_as: bf16 and fp16 operands "
                                                "are rounded from float values");
        gemm_mma_grouped<mma_input_of<G>>(M, N, K, groups, a, b, epi, ones_column, stream);
    }
}

/// gemm with operands in format G: gemm (G scalar; int8's float stages) or gemm_mma (bf16 or
/// fp16, T float).
template <GemmOperands G, bool TransA, bool TransB, class T, class Epi>
void gemm_as(std::uint32_t M, std::uint32_t N, std::uint32_t K, const T* a, std::uint32_t lda,
             const T* b, std::uint32_t ldb, const Epi& epi, bool ones_column = false,
             stream_t stream = nullptr) {
    if constexpr (G == GemmOperands::scalar || G == GemmOperands::int8)
        gemm<TransA, TransB>(M, N, K, a, lda, b, ldb, epi, ones_column, stream);
    else
        gemm_mma<mma_input_of<G>, TransA, TransB>(M, N, K, a, lda, b, ldb, epi, ones_column,
                                                  stream);
}

} // namespace ctnn::cuda

#undef CTNN_MMA_UNROLL
