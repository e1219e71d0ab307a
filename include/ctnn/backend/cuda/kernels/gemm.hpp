// ctnn/backend/cuda/kernels/gemm.hpp — tiled GEMM with a fused epilogue (a Dense stage's anchor).
//
//   C(m, n) = sum_k A(m, k) B(k, n)   for m < M, n < N;   then epi(m, n, C(m, n)) once per (m, n).
//
// The three products of a Dense layer (Z = X W^T forward, dX = dZ W, dW = dZ^T X) differ only in
// which operand is stored transposed, so the kernel is a template on TransA/TransB and reads both
// operands in place. The epilogue is the caller's functor (bias, activation, dropout, the store
// itself): it receives the finished accumulator, so C is written once, by the epilogue, in the
// same launch. With `ones_column`, B gets an extra all-ones column that is never read from memory,
// so dW and the bias gradient (row sums of dZ^T) come out of one product. A column epilogue
// (detail::ColumnEpilogue) receives a thread's 4 rows of a column at once instead (a convolution
// with a pooling in its store, conv.hpp).
//
// Design (for a real GPU; host execution runs the same source on the CPU, docs/cuda.md):
//   - Tiles. A block computes a BM x BN tile of C, walking K in steps of BK, with 256 threads laid
//     out 16 x 16 (tx along n, ty along m). Two configurations, chosen at run time per call (one
//     launch either way):
//       GemmLarge  64 x 64 x 16, a 4 x 4 register micro-tile per thread: 16 FMA per 8 shared
//                  loads, 8 KiB of operand tiles per K-step (x2 buffers, float);
//       GemmSmall  32 x 32 x 16, 2 x 2 per thread: four times the blocks for products whose
//                  64 x 64 grid has fewer than gemm_large_min_blocks blocks (a batch-32 forward
//                  pass or a narrow layer would otherwise leave most SMs idle).
//   - Thread -> C mapping. A thread owns rows m0 + ty + 16 i and columns n0 + tx + 16 j (strided,
//     not a contiguous 4 x 4 block): in the inner loop the 16 threads of a half-warp read 16
//     consecutive words of the B tile (no bank conflict) and one word of the A tile (broadcast);
//     in the epilogue they call epi for 16 consecutive n, so a storing epilogue writes whole
//     64-byte segments of a row-major C.
//   - Global -> shared. Each operand tile is seen as X(r, k), r being the row of C it feeds (m for
//     A, n for B). Consecutive threads take consecutive addresses in whichever direction the
//     operand is contiguous: along k for A untransposed and B transposed (16 threads cover 16
//     consecutive k of one row), along r for A transposed and B untransposed (a warp covers 32
//     consecutive r of one k). Loads go through the read-only path (__ldg).
//   - Shared layout. Both tiles are stored k-major, s[k][r], so the inner loop reads a row of A
//     and a row of B per k. A k-contiguous operand is therefore transposed on its way in; rows are
//     padded by 32 / BK words so that those transposing stores of a warp hit 32 distinct banks.
//   - Pipeline. Two shared buffers: while the block multiplies K-tile t from one buffer, each
//     thread already holds tile t + 1 in registers (fetched before the math, so the global-load
//     latency overlaps the FMAs) and stores it into the other buffer afterwards. One
//     __syncthreads() per K-tile.
//   - Bounds. Elements outside (M, N, K) load as 0 (the ones column is 0 past K), and the epilogue
//     is guarded, so any M, N, K works, including 1 and non-multiples of the tile. K == 0 calls
//     the epilogue with 0 everywhere; M == 0 or N == 0 launches nothing.
//   - Arithmetic. Plain FMA in T (float or double), no tensor cores. Each C element is one
//     thread's sequential sum over k, so the error is that of a recursive sum of K products:
//     |C - exact| <= ~K eps sum_k |A(m, k)| |B(k, n)|. Host execution rounds each product and sum
//     separately (no contraction), so the two modes differ in the last bits.
//
// Limits:
//   - No split-K: the parallelism is the M x N grid only. dW = dZ^T X with a large batch K and a
//     small layer (say K = 16384, M x N = 32 x 32) runs on one block that walks all of K alone.
//   - Scalar global loads: no 128-bit vector loads (leading dimensions such as in + 1 and operand
//     offsets are not multiples of 4), no cp.async, no swizzled block order for L2 reuse. The
//     configurations are not tuned on hardware (no GPU here); gemm_large_min_blocks is a guess.
//   - Sizes are the caller's problem: M, N, K, lda, ldb and the epilogue's indices are uint32 and
//     must stay below 2^32 - 64 (tile arithmetic is 32-bit; element offsets are 64-bit); a grid of
//     more than 2^31 - 1 blocks throws cuda_error. Double uses the same tiles (33 KiB of shared
//     memory for GemmLarge) and is meant for checking, not speed.
#pragma once
#include "../../../config.hpp"
#include "../error.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

// Full unrolling of the register-tile loops under nvcc (an array indexed by a loop counter stays in
// registers only once the loop is unrolled); g++ would warn about the pragma. #undef at the end.
#if CTNN_DEVICE_COMPILE
#define CTNN_GEMM_UNROLL _Pragma("unroll")
#else
#define CTNN_GEMM_UNROLL
#endif

namespace ctnn::cuda {

/// A block tile configuration of gemm: a block computes BM x BN of C, walking K in steps of BK,
/// with 256 threads as a 16 x 16 grid, each owning a (BM / 16) x (BN / 16) register micro-tile.
template <unsigned BM, unsigned BN, unsigned BK>
struct GemmTile {
    static constexpr unsigned bm = BM, bn = BN, bk = BK;
    static constexpr unsigned threads = 256;
    /// The thread grid: grid_x threads along n, grid_y along m.
    static constexpr unsigned grid_x = 16, grid_y = 16;
    /// The micro-tile of one thread: rows m0 + ty + grid_y i (i < tm), columns n0 + tx + grid_x j.
    static constexpr unsigned tm = BM / grid_y, tn = BN / grid_x;
    /// Padding of a shared row (words): transposing stores of a warp hit 32 distinct banks.
    static constexpr unsigned pad = 32 / BK;
    static_assert(BM % grid_y == 0 && BN % grid_x == 0, "GemmTile: BM and BN are multiples of 16");
    static_assert(BK == 8 || BK == 16 || BK == 32, "GemmTile: BK is 8, 16 or 32");
};

/// 64 x 64 x 16, 4 x 4 per thread: the configuration for products with many blocks.
using GemmLarge = GemmTile<64, 64, 16>;
/// 32 x 32 x 16, 2 x 2 per thread: four times as many blocks for small products.
using GemmSmall = GemmTile<32, 32, 16>;

/// Which configuration gemm launches: chosen from M and N (automatic), or forced (tests, tuning).
enum class GemmTiles { automatic, small, large };

/// Blocks of a gemm grid with tile configuration Tile.
template <class Tile>
constexpr std::uint64_t gemm_blocks(std::uint32_t M, std::uint32_t N) {
    return (std::uint64_t{M} + Tile::bm - 1) / Tile::bm *
           ((std::uint64_t{N} + Tile::bn - 1) / Tile::bn);
}

/// Fewest GemmLarge blocks for which the automatic choice takes GemmLarge: a few blocks per SM of
/// a Jetson Orin (16 SMs). Below it, GemmSmall gives four times the blocks.
inline constexpr std::uint64_t gemm_large_min_blocks = 64;

/// The configuration the automatic choice takes for an M x N product.
constexpr GemmTiles gemm_tiles_for(std::uint32_t M, std::uint32_t N) {
    return gemm_blocks<GemmLarge>(M, N) >= gemm_large_min_blocks ? GemmTiles::large
                                                                 : GemmTiles::small;
}

/// The simplest epilogue: c[m * ldc + n] = acc (C row-major with leading dimension ldc).
template <class T>
struct StoreEpilogue {
    T* c;
    std::uint32_t ldc;
    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t n, T acc) const {
        c[std::size_t{m} * ldc + n] = acc;
    }
};

namespace detail {

/// A GEMM operand in memory, seen as X(r, k) (r: the row of C it feeds, m for A, n for B):
///   KContiguous:  X(r, k) = x[r * ld + k]        otherwise:  X(r, k) = x[k * ld + r]
/// The operand interface of gemm_core: `k_contiguous` (which direction consecutive threads should
/// walk for coalesced loads) and `load(group, r, k)` for r and k in range.
template <class T, bool KContiguous>
struct StridedOperand {
    static constexpr bool k_contiguous = KContiguous;
    const T* x;
    std::uint32_t ld;
    __device__ __forceinline__ T load(std::uint32_t, std::uint32_t r, std::uint32_t k) const {
        return __ldg(x + (KContiguous ? std::size_t{r} * ld + k : std::size_t{k} * ld + r));
    }
};

/// An epilogue of gemm (epi(m, n, acc)) as an epilogue of gemm_core (epi(group, m, n, acc)).
template <class Epi>
struct UngroupedEpilogue {
    Epi epi;
    template <class T>
    __device__ __forceinline__ void operator()(std::uint32_t, std::uint32_t m, std::uint32_t n,
                                               T acc) const {
        epi(m, n, acc);
    }
};

/// A column epilogue (`static constexpr unsigned column_rows`, `epi.column(g, m, n, v)`) takes a
/// thread's whole column of its micro-tile at once: v[i] = C(m + grid_y i, n) for i <
/// column_rows, so it can combine rows in registers (a pooling window, conv.hpp). gemm_grouped
/// runs it on the tile whose micro-tile has column_rows rows; the rows are not bounds-checked
/// against M (the epilogue knows which are real), the column is.
template <class Epi>
concept ColumnEpilogue = requires {
    Epi::column_rows;
};

/// One thread's share of an operand tile on its way from global to shared memory, the operand
/// seen as X(r, k), covering Rows x BK per K-tile. Consecutive threads take consecutive k of one
/// row (Op::k_contiguous) or consecutive r of one k. Each thread moves `count` elements:
/// (r_first + i step, k_first) or (r_first, k_first + i step).
template <class T, unsigned Rows, unsigned BK, unsigned Threads, bool KContiguous>
struct OperandFetch {
    static constexpr unsigned count = Rows * BK / Threads;
    static constexpr unsigned step = KContiguous ? Threads / BK : Threads / Rows;
    static_assert(Rows * BK % Threads == 0 && (KContiguous ? Threads % BK == 0 && Rows % step == 0
                                                           : Threads % Rows == 0 && BK % step == 0),
                  "GemmTile: the threads must cover an operand tile in whole rows and columns");

    unsigned r_first, k_first;
    T v[count];

    __device__ explicit OperandFetch(unsigned t)
        : r_first(KContiguous ? t / BK : t % Rows), k_first(KContiguous ? t % BK : t / Rows), v{} {}

    __device__ unsigned r(unsigned i) const { return KContiguous ? r_first + i * step : r_first; }
    __device__ unsigned k(unsigned i) const { return KContiguous ? k_first : k_first + i * step; }

    /// Global -> registers: this thread's elements of the tile at rows r0 + r(i), columns
    /// k0 + k(i). Rows below `stored` are loaded from op; row `ones` (if any) is 1; everything
    /// else, and every k >= K, is 0.
    template <class Op>
    __device__ void fetch(const Op& op, std::uint32_t g, std::uint32_t r0, std::uint32_t stored,
                          std::uint32_t ones, std::uint32_t k0, std::uint32_t K) {
        CTNN_GEMM_UNROLL
        for (unsigned i = 0; i < count; ++i) {
            const std::uint32_t gr = r0 + r(i), gk = k0 + k(i);
            T e = T(0);
            if (gk < K) {
                if (gr < stored) e = op.load(g, gr, gk);
                else if (gr == ones) e = T(1);
            }
            v[i] = e;
        }
    }

    /// Registers -> the k-major shared tile s[k][r].
    template <unsigned Ld>
    __device__ void store(T (&s)[BK][Ld]) const {
        CTNN_GEMM_UNROLL
        for (unsigned i = 0; i < count; ++i) s[k(i)][r(i)] = v[i];
    }
};

/// A block's part of a gemm grid: blockIdx.x walks the BM x BN tiles of C (n-tiles fastest),
/// blockIdx.y the groups (g); K is walked in tiles_k tiles of BK. B's rows (n) below b_stored
/// come from memory, row b_ones is the all-ones column (none without ones_column).
template <unsigned BM, unsigned BN, unsigned BK>
struct GemmBlock {
    std::uint32_t g, m0, n0, tiles_k, b_stored, b_ones;

    __device__ GemmBlock(std::uint32_t N, std::uint32_t K, bool ones_column)
        : g(blockIdx.y), m0(0), n0(0), tiles_k(K / BK + (K % BK != 0 ? 1u : 0u)),
          b_stored(ones_column ? N - 1 : N), b_ones(ones_column ? N - 1 : 0xFFFFFFFFu) {
        const std::uint32_t tiles_n = N / BN + (N % BN != 0 ? 1u : 0u);
        m0 = blockIdx.x / tiles_n * BM;
        n0 = blockIdx.x % tiles_n * BN;
    }

    /// Both operands' K-tile starting at k0 into the fetches' registers.
    template <class FA, class FB, class OpA, class OpB>
    __device__ void fetch(FA& fa, FB& fb, const OpA& opa, const OpB& opb, std::uint32_t M,
                          std::uint32_t k0, std::uint32_t K) const {
        fa.fetch(opa, g, m0, M, 0xFFFFFFFFu, k0, K);
        fb.fetch(opb, g, n0, b_stored, b_ones, k0, K);
    }
};

/// Refuses a grid of more blocks than CUDA takes (2^31 - 1 tiles of C, 65535 groups).
inline void check_gemm_grid(const char* kernel, std::uint32_t M, std::uint32_t N,
                            std::uint32_t groups, std::uint64_t blocks) {
    if (blocks > 0x7FFFFFFFu || groups > 65535u)
        throw cuda_error("cudaErrorInvalidConfiguration",
                         std::string(kernel) + ": " + std::to_string(M) + " x " +
                             std::to_string(N) + " in " + std::to_string(groups) +
                             " group(s) needs " + std::to_string(blocks) +
                             " blocks per group, more than a grid holds",
                         __FILE__, __LINE__);
}

} // namespace detail

namespace kernels {

/// C = A B over one Tile of C per block, then epi(group, m, n, C(m, n)) for the block's in-range
/// elements. blockIdx.x walks the tiles of C (n-tiles fastest), blockIdx.y the groups: a grouped
/// product (a grouped convolution) is G independent M x N x K products in one launch, and the
/// operands and the epilogue receive the group. With ones_column, B(k, N - 1) = 1 and opb is
/// read only for n < N - 1.
///
/// Launch bounds: `Tile::threads` per block, and at least 4 resident blocks per SM for float
/// (at most 64 registers, ptxas's own default cap at 256 threads; the kernels need 32 to 64). For
/// double only 1: under the default cap, ptxas for sm_90 spills a GemmLarge<double>; with 1 it
/// takes ~110 registers and spills nothing.
template <class Tile, class T, class OpA, class OpB, class Epi>
__global__ void __launch_bounds__(Tile::threads, sizeof(T) == 8 ? 1 : 4)
    gemm(std::uint32_t M, std::uint32_t N, std::uint32_t K, OpA opa, OpB opb, Epi epi,
         bool ones_column) {
    constexpr unsigned BM = Tile::bm, BN = Tile::bn, BK = Tile::bk;
    constexpr unsigned TM = Tile::tm, TN = Tile::tn, GX = Tile::grid_x, GY = Tile::grid_y;
    // Double-buffered, k-major operand tiles: As[buffer][k][m - m0], Bs[buffer][k][n - n0].
    __shared__ T As[2][BK][BM + Tile::pad];
    __shared__ T Bs[2][BK][BN + Tile::pad];

    const unsigned t = threadIdx.x;
    const unsigned tx = t % GX, ty = t / GX;
    const detail::GemmBlock<BM, BN, BK> blk(N, K, ones_column);
    const std::uint32_t g = blk.g, m0 = blk.m0, n0 = blk.n0, tiles_k = blk.tiles_k;

    detail::OperandFetch<T, BM, BK, Tile::threads, OpA::k_contiguous> fa(t);
    detail::OperandFetch<T, BN, BK, Tile::threads, OpB::k_contiguous> fb(t);
    T acc[TM][TN] = {};

    // Prologue: K-tile 0 into buffer 0.
    if (tiles_k > 0) {
        blk.fetch(fa, fb, opa, opb, M, 0, K);
        fa.store(As[0]);
        fb.store(Bs[0]);
    }
    // Tile 0 is complete in shared memory before any thread multiplies it.
    __syncthreads();

    for (std::uint32_t kt = 0; kt < tiles_k; ++kt) {
        const unsigned cur = kt % 2u;
        const bool more = kt + 1 < tiles_k; // the same for every thread: barriers stay uniform
        // Load: K-tile kt + 1 into registers now, so its global latency overlaps the FMAs below.
        if (more) blk.fetch(fa, fb, opa, opb, M, (kt + 1) * BK, K);
        // Compute: the outer product of an A column and a B row per k, into the micro-tile.
        CTNN_GEMM_UNROLL
        for (unsigned k = 0; k < BK; ++k) {
            T ra[TM], rb[TN];
            CTNN_GEMM_UNROLL
            for (unsigned i = 0; i < TM; ++i) ra[i] = As[cur][k][ty + GY * i];
            CTNN_GEMM_UNROLL
            for (unsigned j = 0; j < TN; ++j) rb[j] = Bs[cur][k][tx + GX * j];
            CTNN_GEMM_UNROLL
            for (unsigned i = 0; i < TM; ++i) {
                CTNN_GEMM_UNROLL
                for (unsigned j = 0; j < TN; ++j) acc[i][j] += ra[i] * rb[j];
            }
        }
        if (more) {
            // Store: tile kt + 1 into the other buffer. Every thread finished reading that buffer
            // (tile kt - 1) before the barrier that ended the previous iteration.
            fa.store(As[cur ^ 1u]);
            fb.store(Bs[cur ^ 1u]);
            // Tile kt + 1 is complete before anyone multiplies it, and every thread is done with
            // buffer `cur` before the next iteration overwrites it with tile kt + 2.
            __syncthreads();
        }
    }

    if constexpr (detail::ColumnEpilogue<Epi>) {
        // Epilogue, by columns: each in-range n of the thread once with its TM rows.
        static_assert(Epi::column_rows == TM, "gemm: a column epilogue needs its tile's rows");
        CTNN_GEMM_UNROLL
        for (unsigned j = 0; j < TN; ++j) {
            const std::uint32_t n = n0 + tx + GX * j;
            T col[TM];
            CTNN_GEMM_UNROLL
            for (unsigned i = 0; i < TM; ++i) col[i] = acc[i][j];
            if (n < N) epi.column(g, m0 + ty, n, col);
        }
    } else {
        // Epilogue: each in-range (m, n) of the block once, 16 consecutive n per half-warp.
        CTNN_GEMM_UNROLL
        for (unsigned i = 0; i < TM; ++i) {
            const std::uint32_t m = m0 + ty + GY * i;
            CTNN_GEMM_UNROLL
            for (unsigned j = 0; j < TN; ++j) {
                const std::uint32_t n = n0 + tx + GX * j;
                if (m < M && n < N) epi(g, m, n, acc[i][j]);
            }
        }
    }
}

} // namespace kernels

namespace detail {

/// One launch of kernels::gemm with configuration Tile over `groups` groups.
template <class Tile, class T, class OpA, class OpB, class Epi>
void launch_gemm(std::uint32_t M, std::uint32_t N, std::uint32_t K, std::uint32_t groups,
                 const OpA& a, const OpB& b, const Epi& epi, bool ones_column, stream_t stream) {
    const std::uint64_t blocks = gemm_blocks<Tile>(M, N);
    check_gemm_grid("gemm", M, N, groups, blocks);
    launch(&kernels::gemm<Tile, T, OpA, OpB, Epi>, dim3(static_cast<unsigned>(blocks), groups),
           Tile::threads, 0, stream, M, N, K, a, b, epi, ones_column);
}

} // namespace detail

/// The general form behind gemm and the convolutions: `groups` independent products
/// C_g(m, n) = sum_k A_g(m, k) B_g(k, n), m < M, n < N, in one launch; then
/// epi(g, m, n, acc) once per (g, m, n). The operands are policies (see detail::StridedOperand):
/// `static constexpr bool k_contiguous` and `T load(g, r, k)` (r < M or N, k < K; they may gather,
/// as an implicit-GEMM convolution does, and return 0 for padding). ones_column as in gemm.
/// groups == 0, M == 0 or N == 0: no launch.
template <class T, class OpA, class OpB, class Epi>
void gemm_grouped(std::uint32_t M, std::uint32_t N, std::uint32_t K, std::uint32_t groups,
                  const OpA& a, const OpB& b, const Epi& epi, bool ones_column = false,
                  stream_t stream = nullptr, GemmTiles tiles = GemmTiles::automatic) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "cuda::gemm multiplies float or double operands");
    static_assert(std::is_trivially_copyable_v<Epi> && std::is_trivially_copyable_v<OpA> &&
                      std::is_trivially_copyable_v<OpB>,
                  "cuda::gemm: operands and epilogue are kernel arguments and must be trivially "
                  "copyable");
    static_assert(
        detail::ColumnEpilogue<Epi> ||
            std::is_invocable_v<const Epi&, std::uint32_t, std::uint32_t, std::uint32_t, T>,
        "cuda::gemm_grouped: the epilogue must be callable as epi(group, m, n, acc)");
    if (M == 0 || N == 0 || groups == 0) return;
    if constexpr (detail::ColumnEpilogue<Epi>) {
        // A column epilogue is written for one micro-tile height: GemmLarge's (`tiles` ignored).
        static_assert(Epi::column_rows == GemmLarge::tm,
                      "cuda::gemm_grouped: a column epilogue takes GemmLarge's 4 rows per thread");
        detail::launch_gemm<GemmLarge, T>(M, N, K, groups, a, b, epi, ones_column, stream);
    } else {
        if (tiles == GemmTiles::automatic)
            tiles = gemm_blocks<GemmLarge>(M, N) * groups >= gemm_large_min_blocks
                        ? GemmTiles::large
                        : GemmTiles::small;
        if (tiles == GemmTiles::large)
            detail::launch_gemm<GemmLarge, T>(M, N, K, groups, a, b, epi, ones_column, stream);
        else detail::launch_gemm<GemmSmall, T>(M, N, K, groups, a, b, epi, ones_column, stream);
    }
}

/// C(m, n) = sum_k A(m, k) B(k, n) for m < M, n < N; then epi(m, n, acc) is called exactly once
/// per (m, n), on the device, with the finished sum. All pointers are device pointers.
///   A(m, k) = TransA ? a[k * lda + m] : a[m * lda + k]
///   B(k, n) = TransB ? b[n * ldb + k] : b[k * ldb + n]
/// If ones_column is true, B has one extra column n == N - 1 that is all ones and is not read from
/// memory (b is addressed only for n < N - 1): one product gives dW and the bias gradient
/// (sum over k of A(m, k)) together. K == 0 gives acc == 0 for every (m, n); M or N == 0 launches
/// nothing. Otherwise exactly one kernel launch on `stream`.
///
/// Epi is a trivially copyable functor, passed by value to the kernel, with
/// `CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t n, T acc) const` (it stores
/// the result itself); StoreEpilogue<T> just stores it. T is float or double. `tiles` forces a
/// tile configuration (default: gemm_tiles_for(M, N)). Sizes must stay below 2^32 - 64 (see the
/// file comment); precision: ~K eps sum_k |A(m, k)| |B(k, n)|.
template <bool TransA, bool TransB, class T, class Epi>
void gemm(std::uint32_t M, std::uint32_t N, std::uint32_t K, const T* a, std::uint32_t lda,
          const T* b, std::uint32_t ldb, const Epi& epi, bool ones_column = false,
          stream_t stream = nullptr, GemmTiles tiles = GemmTiles::automatic) {
    static_assert(std::is_invocable_v<const Epi&, std::uint32_t, std::uint32_t, T>,
                  "cuda::gemm: the epilogue must be callable as epi(m, n, acc)");
    gemm_grouped<T>(M, N, K, 1, detail::StridedOperand<T, !TransA>{a, lda},
                    detail::StridedOperand<T, TransB>{b, ldb}, detail::UngroupedEpilogue<Epi>{epi},
                    ones_column, stream, tiles);
}

} // namespace ctnn::cuda

#undef CTNN_GEMM_UNROLL
