// ctnn/backend/cuda/primitives.hpp — block- and warp-wide reductions for ctnn kernels.
//
// Under nvcc the block reductions are CUB's cub::BlockReduce (default algorithm: per-warp shuffle
// trees, then the warp totals in order). In host mode they are a host twin with the same contract:
// every thread stores its value in shared memory and thread 0 adds them up in thread order. Both
// return the exact same result for integers; for floats the summation order differs, so the
// results agree within the usual bound of recursive summation, |error| <= (n - 1) eps sum|v_i|
// for n threads (tests use a relative tolerance of n * 2^-23 on sums of positive values).
// block_reduce_max is exact in both modes.
//
// The warp reductions are plain shuffle butterflies and run the same code in both modes.
#pragma once
#include "../../config.hpp"
#include "kernel.hpp"

#if CTNN_DEVICE_COMPILE
#include <cub/block/block_reduce.cuh>
#endif

namespace ctnn::cuda {

namespace detail {
/// max(a, b) as a CUB reduction operator (portable across CUB versions).
struct MaxOp {
    template <class T>
    __host__ __device__ __forceinline__ T operator()(const T& a, const T& b) const {
        return a < b ? b : a;
    }
};
} // namespace detail

/// Sum of v over the 32 lanes of a full warp, returned to every lane. All 32 lanes must call it.
template <class T>
__device__ __forceinline__ T warp_reduce_sum(T v) {
    // Butterfly: each shuffle is a warp-wide exchange; after 5 steps every lane holds the total.
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
    return v;
}

/// Maximum of v over the 32 lanes of a full warp, returned to every lane. All 32 lanes must call
/// it.
template <class T>
__device__ __forceinline__ T warp_reduce_max(T v) {
    // Butterfly: each shuffle is a warp-wide exchange; after 5 steps every lane holds the maximum.
    for (int offset = 16; offset > 0; offset /= 2) {
        const T o = __shfl_xor_sync(0xFFFFFFFFu, v, offset);
        v = v < o ? o : v;
    }
    return v;
}

namespace detail {
/// a + b as a reduction operator.
struct SumOp {
    template <class T>
    __host__ __device__ __forceinline__ T operator()(const T& a, const T& b) const {
        return a + b;
    }
};

/// op-reduction of v over a 1-D block of BlockThreads threads, returned to every thread: the
/// shared implementation of block_reduce_sum and block_reduce_max.
template <int BlockThreads, class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op) {
    static_assert(BlockThreads >= 1 && BlockThreads <= 1024, "a block has 1 to 1024 threads");
    __shared__ T total;
#if CTNN_DEVICE_COMPILE
    using Reduce = cub::BlockReduce<T, BlockThreads>;
    __shared__ typename Reduce::TempStorage storage;
    const T r = Reduce(storage).Reduce(v, op); // valid in thread 0
    if (threadIdx.x == 0) total = r;
#else
    __shared__ T values[static_cast<unsigned>(BlockThreads)];
    values[threadIdx.x] = v;
    // Every thread's value is stored before thread 0 combines them.
    __syncthreads();
    if (threadIdx.x == 0) {
        T acc = values[0];
        for (int i = 1; i < BlockThreads; ++i) acc = op(acc, values[i]);
        total = acc;
    }
#endif
    // Thread 0 has written the result before anyone reads it.
    __syncthreads();
    const T out = total;
    // Everyone has read the result (and left the temp storage) before a next call overwrites them.
    __syncthreads();
    return out;
}
} // namespace detail

/// Sum of v over a 1-D block of BlockThreads threads (blockDim.x == BlockThreads), returned to
/// every thread. Every thread of the block must call it (it contains barriers); consecutive calls
/// need no barrier in between. Threads without data pass 0.
template <int BlockThreads, class T>
__device__ __forceinline__ T block_reduce_sum(T v) {
    return detail::block_reduce<BlockThreads>(v, detail::SumOp{});
}

/// Maximum of v over a 1-D block of BlockThreads threads, returned to every thread; same contract
/// as block_reduce_sum (threads without data pass the lowest value of T).
template <int BlockThreads, class T>
__device__ __forceinline__ T block_reduce_max(T v) {
    return detail::block_reduce<BlockThreads>(v, detail::MaxOp{});
}

} // namespace ctnn::cuda
