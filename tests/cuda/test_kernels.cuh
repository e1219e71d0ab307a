// tests/cuda/test_kernels.cuh — kernels that test the host execution of CUDA kernels.
//
// Compiled twice: by g++ into tests/unit/cuda_host.cpp (host mode, run against scalar references)
// and by nvcc into tests/cuda/kernels.cu (for sm_87 and sm_90, proving the same source is valid
// CUDA). Kernels are templates or live in one translation unit per target.
#pragma once
#include <ctnn/backend/cuda/kernel.hpp>
#include <ctnn/backend/cuda/mma.hpp>
#include <ctnn/backend/cuda/primitives.hpp>

#include <cstddef>
#include <cstdint>

namespace ctnn_test {

/// Shared-memory tree reduction: out[blockIdx.x] = sum of x[blockIdx.x * Block, +Block) (zero
/// past n). Block is a power of two.
template <unsigned Block>
__global__ void tree_reduce(const float* x, float* out, unsigned n) {
    __shared__ float s[Block];
    const unsigned t = threadIdx.x;
    const unsigned i = blockIdx.x * Block + t;
    s[t] = i < n ? x[i] : 0.0f;
    // Every thread's load is in s before any thread reads a neighbour's slot.
    __syncthreads();
    for (unsigned stride = Block / 2; stride > 0; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        // This level's partial sums are complete before the next level reads them.
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

/// tree_reduce with a planted bug: the barrier between the load and the first level is missing,
/// so a thread may add a neighbour's slot before the neighbour has stored it.
template <unsigned Block>
__global__ void tree_reduce_missing_barrier(const float* x, float* out, unsigned n) {
    __shared__ float s[Block];
    const unsigned t = threadIdx.x;
    const unsigned i = blockIdx.x * Block + t;
    s[t] = i < n ? x[i] : 0.0f;
    for (unsigned stride = Block / 2; stride > 0; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        // Levels after the first are separated correctly; only the load above is unprotected.
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

/// Number of outputs per thread of warp_ops.
inline constexpr unsigned warp_op_count = 9;

/// Every warp intrinsic once; thread g writes out[k * total + g] for op k (1-D blocks whose size
/// is a multiple of 32).
__global__ void warp_ops(const int* in, int* out) {
    const unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned total = gridDim.x * blockDim.x;
    const unsigned lane = threadIdx.x % 32u;
    const int v = in[g];
    const unsigned full = 0xFFFFFFFFu;
    out[0 * total + g] = __shfl_sync(full, v, static_cast<int>((lane * 7u + 3u) % 32u));
    out[1 * total + g] = __shfl_sync(full, v, 5, 8);
    out[2 * total + g] = __shfl_up_sync(full, v, 3u, 16);
    out[3 * total + g] = __shfl_down_sync(full, v, 5u);
    out[4 * total + g] = __shfl_xor_sync(full, v, 6, 8);
    out[5 * total + g] = static_cast<int>(__ballot_sync(full, v % 2 != 0));
    out[6 * total + g] = __any_sync(full, v > 90);
    out[7 * total + g] = __all_sync(full, v >= 3);
    // Lanes split in two halves that shuffle within their own half-warp mask.
    const unsigned half = lane < 16u ? 0x0000FFFFu : 0xFFFF0000u;
    out[8 * total + g] = __shfl_xor_sync(half, v, 1);
    // Not needed for correctness: exercises __syncwarp's rendezvous of the whole warp.
    __syncwarp();
}

/// Reverses each block's slice through dynamic shared memory: floats first, then an int tag per
/// thread behind them (blockDim.x * (sizeof(float) + sizeof(int)) bytes).
__global__ void reverse_dynamic(const float* x, float* y, int* tags, unsigned n) {
    CTNN_DYNAMIC_SHARED(float, s);
    int* tag = reinterpret_cast<int*>(s + blockDim.x);
    const unsigned t = threadIdx.x;
    const unsigned base = blockIdx.x * blockDim.x;
    s[t] = base + t < n ? x[base + t] : -1.0f;
    tag[t] = static_cast<int>(t * 10u);
    // All of the block's slice is in shared memory before threads read mirrored slots.
    __syncthreads();
    const unsigned r = blockDim.x - 1u - t;
    if (base + t < n) {
        y[base + t] = s[r];
        tags[base + t] = tag[r];
    }
}

/// Writes each thread's global coordinates: out[linear global id] = encoded (block, thread) ids,
/// for any 3-D grid and block.
__global__ void coordinates(unsigned* out) {
    const unsigned bx = blockDim.x, by = blockDim.y, bz = blockDim.z;
    const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned thread = threadIdx.x + bx * (threadIdx.y + by * threadIdx.z);
    out[block * (bx * by * bz) + thread] =
        (threadIdx.x + 7u * threadIdx.y + 13u * threadIdx.z) * 1000003u +
        (blockIdx.x + 3u * blockIdx.y + 5u * blockIdx.z);
}

/// y[i] = 2 x[i] + 1 for i < n over a 1-D grid (the grid may overshoot n).
__global__ void axpb(const float* x, float* y, unsigned n) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i] + 1.0f;
}

/// Atomics: a histogram of v % bins, the sum and maximum of v, and a CAS-claimed first thread.
__global__ void atomics(const int* v, unsigned n, int* hist, unsigned bins, int* sum, int* max,
                        float* fsum, unsigned* claimed) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicAdd(&hist[static_cast<unsigned>(v[i]) % bins], 1);
    atomicAdd(sum, v[i]);
    atomicMax(max, v[i]);
    atomicAdd(fsum, 0.5f);
    atomicCAS(claimed, 0xFFFFFFFFu, i);
}

/// __syncthreads_count / _and / _or over a predicate.
__global__ void barrier_votes(const int* v, int* out) {
    const int p = v[threadIdx.x] > 0;
    // Each barrier both synchronizes the block and reduces p over it (the point of the test).
    const int count = __syncthreads_count(p);
    const int all = __syncthreads_and(p);
    const int any = __syncthreads_or(p);
    if (threadIdx.x == 0) {
        out[0] = count;
        out[1] = all;
        out[2] = any;
    }
}

/// Misuse: threads of the upper half return before the barrier the others wait at.
__global__ void divergent_barrier(float* out) {
    if (threadIdx.x >= blockDim.x / 2) return;
    out[threadIdx.x] = 1.0f;
    // Deliberately divergent: the test expects host execution to report it.
    __syncthreads();
}

/// Misuse: lanes 0-15 shuffle with a full mask while lanes 16-31 have exited.
__global__ void divergent_shuffle(int* out) {
    if (threadIdx.x >= 16u) return;
    out[threadIdx.x] = __shfl_sync(0xFFFFFFFFu, static_cast<int>(threadIdx.x), 0);
}

/// Misuse: a shuffle width that is not a power of two.
__global__ void bad_shuffle_width(int* out) {
    out[threadIdx.x] = __shfl_sync(0xFFFFFFFFu, static_cast<int>(threadIdx.x), 0, 3);
}

/// Misuse: even lanes shuffle while odd lanes vote, both naming the whole warp.
__global__ void mismatched_warp_ops(int* out) {
    if (threadIdx.x % 2u == 0u) out[threadIdx.x] = __shfl_sync(0xFFFFFFFFu, 1, 0);
    else out[threadIdx.x] = static_cast<int>(__ballot_sync(0xFFFFFFFFu, 1));
}

/// Block sum and maximum of x through block_reduce_sum/max, twice in a row (the second on 2 x),
/// so the temp storage is reused: out[4 b + 0..3] = sum, max, sum of 2x, max of 2x of block b.
template <int Block>
__global__ void block_reductions(const float* x, float* out, unsigned n) {
    const unsigned i = blockIdx.x * static_cast<unsigned>(Block) + threadIdx.x;
    const float v = i < n ? x[i] : 0.0f;
    const float lowest = -3.402823466e38f;
    const float s = ctnn::cuda::block_reduce_sum<Block>(v);
    const float m = ctnn::cuda::block_reduce_max<Block>(i < n ? v : lowest);
    const float s2 = ctnn::cuda::block_reduce_sum<Block>(2.0f * v);
    const float m2 = ctnn::cuda::block_reduce_max<Block>(i < n ? 2.0f * v : lowest);
    // Every thread got the totals; check it by having the last thread write them.
    if (threadIdx.x == static_cast<unsigned>(Block) - 1u) {
        out[4 * blockIdx.x + 0] = s;
        out[4 * blockIdx.x + 1] = m;
        out[4 * blockIdx.x + 2] = s2;
        out[4 * blockIdx.x + 3] = m2;
    }
}

/// Warp sums through warp_reduce_sum: out[warp] = sum of the warp's 32 values.
__global__ void warp_sums(const int* x, int* out) {
    const unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
    const int s = ctnn::cuda::warp_reduce_sum(x[g]);
    if (threadIdx.x % 32u == 0u) out[g / 32u] = s;
}

/// A gemm epilogue that checks the contract while it stores: c[m * ldc + n] = acc and
/// calls[m * ldc + n] counts the calls for (m, n); a call outside M x N counts in *stray instead.
template <class T>
struct GemmRecordEpilogue {
    T* c;
    unsigned* calls;
    unsigned* stray;
    std::uint32_t ldc, M, N;
    __device__ void operator()(std::uint32_t m, std::uint32_t n, T acc) const {
        if (m >= M || n >= N) {
            atomicAdd(stray, 1u);
            return;
        }
        c[std::size_t{m} * ldc + n] = acc;
        atomicAdd(&calls[std::size_t{m} * ldc + n], 1u);
    }
};

/// One warp: d = a b + c for a 16 x 16 A (row-major 16-bit elements), a 16 x 8 B and a 16 x 8 f32
/// C (row-major), through shared memory, ldmatrix and one mma.sync m16n8k16. B is given as B^T
/// (8 x 16 row-major: B column-major, loaded by ldmatrix .x2) or, with TransB, as B (16 x 8
/// row-major, loaded by ldmatrix .x2.trans). C and D are read and written in the accumulator
/// fragment layout.
template <ctnn::cuda::MmaInput Input, bool TransB>
__global__ void mma_tile(const std::uint16_t* a, const std::uint16_t* b, const float* c, float* d) {
    __align__(16) __shared__ std::uint16_t sa[16 * 16];
    __align__(16) __shared__ std::uint16_t sb[16 * 8];
    const unsigned l = threadIdx.x;
    for (unsigned i = l; i < 16 * 16; i += 32) sa[i] = a[i];
    for (unsigned i = l; i < 16 * 8; i += 32) sb[i] = b[i];
    // Every element is in shared memory before any lane's ldmatrix reads its rows.
    __syncwarp();
    // A as four 8 x 8 matrices, in the order of the A fragment's registers: rows 0-7 / 8-15 of
    // columns 0-7, then of columns 8-15. Lane l names row l % 8 of matrix l / 8.
    std::uint32_t ra[4];
    ctnn::cuda::ldmatrix_m8n8<4>(ra, sa + (((l / 8) % 2) * 8 + l % 8) * 16 + (l / 16) * 8);
    // B's fragment: k 0-7, then k 8-15, of column groupID.
    std::uint32_t rb[2];
    if constexpr (TransB)
        ctnn::cuda::ldmatrix_m8n8<2, true>(rb, sb + (((l / 8) % 2) * 8 + l % 8) * 8);
    else ctnn::cuda::ldmatrix_m8n8<2>(rb, sb + (l % 8) * 16 + ((l / 8) % 2) * 8);
    const unsigned g = l / 4, t = l % 4;
    float rc[4], rd[4];
    for (unsigned i = 0; i < 4; ++i) rc[i] = c[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];
    ctnn::cuda::mma_m16n8k16<Input>(rd, ra, rb, rc);
    for (unsigned i = 0; i < 4; ++i) d[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = rd[i];
}

/// One warp: every lane's registers of ldmatrix .x4 (.trans with Trans) of a 32 x 8 array of
/// 16-bit elements (row r of matrix j: row 8j + r), stored as out[lane * 4 + j].
template <bool Trans>
__global__ void ldmatrix_dump(const std::uint16_t* m, std::uint32_t* out) {
    __align__(16) __shared__ std::uint16_t s[32 * 8];
    const unsigned l = threadIdx.x;
    for (unsigned i = l; i < 32 * 8; i += 32) s[i] = m[i];
    // The whole array is in shared memory before ldmatrix reads it.
    __syncwarp();
    std::uint32_t r[4];
    ctnn::cuda::ldmatrix_m8n8<4, Trans>(r, s + l * 8);
    for (unsigned j = 0; j < 4; ++j) out[l * 4 + j] = r[j];
}

} // namespace ctnn_test
