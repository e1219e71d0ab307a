// ctnn/backend/cuda/kernel.hpp — the prelude of every kernel source: include it first.
//
// ctnn kernels are written in plain CUDA spellings (__global__, __device__, __shared__,
// threadIdx.x, __syncthreads(), __shfl_xor_sync(...), atomicAdd(...)). Under nvcc those are
// CUDA's own. Compiled by a plain C++ compiler (host mode), this header defines each of them as a
// macro onto the host execution runtime (host/runtime.hpp), so the same source runs on the CPU
// with real block and warp semantics. The macros exist only in translation units that include a
// ctnn kernel header; no other ctnn header defines them.
//
// Rules a kernel follows to run in both modes (docs/cuda.md explains each):
//   - Kernels in headers are templates (a non-template __global__ function in a header is
//     defined in every translation unit that includes it).
//   - __shared__ variables are declared without initializer, inside the kernel or a __device__
//     function. In host mode they become `static thread_local` storage shared by the fibers of the
//     running block and reused by the next block: never rely on their content at block start,
//     and never hand their address to another block or keep it after the kernel returns.
//   - Dynamic shared memory is declared with CTNN_DYNAMIC_SHARED(T, name), never with
//     `extern __shared__` directly (nvcc rejects one extern name with two element types).
//   - Kernel parameters are values (pointers, scalars, trivially copyable structs).
//   - Threads synchronize only with __syncthreads*() and the *_sync warp intrinsics; warp-level
//     code never relies on implicit lockstep execution.
//   - A kernel does not throw; device code does not allocate.
#pragma once
#include "../../config.hpp"

#if CTNN_DEVICE_COMPILE

#include <cuda_runtime.h>

/// Declares `T* name` pointing at the launch's dynamic shared memory (16-byte aligned).
#define CTNN_DYNAMIC_SHARED(T, name)                                                               \
    extern __shared__ __align__(16) unsigned char ctnn_dynamic_shared_storage_[];                  \
    T* name = reinterpret_cast<T*>(ctnn_dynamic_shared_storage_)

#else // host mode

#include "host/runtime.hpp"

#define CTNN_DYNAMIC_SHARED(T, name) T* name = ::ctnn::cuda::host::dynamic_shared<T>()

// Declaration specifiers.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
// Block-shared storage: one object per OS thread, shared by the fibers of the running block.
#define __shared__ static thread_local

// Built-in variables.
#define threadIdx (::ctnn::cuda::host::thread_idx())
#define blockIdx (::ctnn::cuda::host::block_idx())
#define blockDim (::ctnn::cuda::host::block_dim())
#define gridDim (::ctnn::cuda::host::grid_dim())
#define warpSize (::ctnn::cuda::host::warp_size)

// Synchronization.
#define __syncthreads ::ctnn::cuda::host::syncthreads
#define __syncthreads_count ::ctnn::cuda::host::syncthreads_count
#define __syncthreads_and ::ctnn::cuda::host::syncthreads_and
#define __syncthreads_or ::ctnn::cuda::host::syncthreads_or
#define __syncwarp ::ctnn::cuda::host::syncwarp
// Blocks run one at a time on one OS thread: memory is always coherent between them.
#define __threadfence() ((void)0)
#define __threadfence_block() ((void)0)

// Warp shuffles and votes.
#define __shfl_sync ::ctnn::cuda::host::shfl_sync
#define __shfl_up_sync ::ctnn::cuda::host::shfl_up_sync
#define __shfl_down_sync ::ctnn::cuda::host::shfl_down_sync
#define __shfl_xor_sync ::ctnn::cuda::host::shfl_xor_sync
#define __ballot_sync ::ctnn::cuda::host::ballot_sync
#define __any_sync ::ctnn::cuda::host::any_sync
#define __all_sync ::ctnn::cuda::host::all_sync

// Atomics.
#define atomicAdd ::ctnn::cuda::host::atomic_add
#define atomicSub ::ctnn::cuda::host::atomic_sub
#define atomicMax ::ctnn::cuda::host::atomic_max
#define atomicMin ::ctnn::cuda::host::atomic_min
#define atomicExch ::ctnn::cuda::host::atomic_exch
#define atomicCAS ::ctnn::cuda::host::atomic_cas

// Device math and bit intrinsics.
#define __ldg(p) (*(p))
#define rsqrtf ::ctnn::cuda::host::rsqrtf
#define __expf ::ctnn::cuda::host::fast_expf
#define __logf ::ctnn::cuda::host::fast_logf
#define __fdividef ::ctnn::cuda::host::fast_dividef
#define __saturatef ::ctnn::cuda::host::saturatef
#define __popc ::ctnn::cuda::host::popc
#define __ffs ::ctnn::cuda::host::ffs
#define __clz ::ctnn::cuda::host::clz

#endif
