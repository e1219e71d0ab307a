// ctnn/backend/cuda/kernels/elementwise.hpp — a fused elementwise stage as one kernel.
//
// A stage without an anchor (graph/lowering.hpp: NoAnchor + Epilogue<Ops...>) is one pass over
// the batch tensor: y = Epi::apply(x) forward, dx = dy * Epi'(x) backward (the derivative of the
// whole chain from one evaluation on dual numbers). The Epilogue is the same CTNN_HOST_DEVICE
// functor the Eigen executor applies, with the same ElemCtx (index = sample * width + feature), so
// Dropout draws the same mask on every backend.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

namespace kernels {

/// y[i] = Epi::apply(x[i], ctx with index i) for i < count (grid-stride loop: any grid covers
/// any count). x and y may alias. No shared memory, no synchronization.
template <class Epi, class T>
__global__ void elementwise_forward(const T* x, T* y, std::uint64_t count, ElemCtx ctx) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        ElemCtx c = ctx;
        c.index = i;
        y[i] = Epi::apply(x[i], c);
    }
}

/// dx[i] = dy[i] * d Epi(z)/dz at z[i], for i < count (dx may alias dy). Same launch shape as
/// elementwise_forward.
template <class Epi, class T>
__global__ void elementwise_backward(const T* z, const T* dy, T* dx, std::uint64_t count,
                                     ElemCtx ctx) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        ElemCtx c = ctx;
        c.index = i;
        dx[i] = dy[i] * Epi::apply(expr::Dual<T>{z[i], T(1)}, c).d;
    }
}

} // namespace kernels

/// Threads per block of the elementwise kernels.
inline constexpr unsigned elementwise_block = 256;
/// Most blocks an elementwise launch uses; larger tensors are covered by the grid-stride loop.
inline constexpr unsigned elementwise_max_blocks = 1024;

/// Blocks for an elementwise pass over `count` values.
inline unsigned elementwise_grid(std::uint64_t count) {
    const std::uint64_t blocks = (count + elementwise_block - 1) / elementwise_block;
    return static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, elementwise_max_blocks));
}

/// Forward pass of an elementwise stage: y = Epi(x) over `count` values ([batch, width] with
/// count = batch * width). One kernel launch.
template <class Epi, class T>
void elementwise_forward(const T* x, T* y, std::size_t count, ElemCtx ctx,
                         stream_t stream = nullptr) {
    if (count == 0) return;
    launch(&kernels::elementwise_forward<Epi, T>, elementwise_grid(count), elementwise_block, 0,
           stream, x, y, std::uint64_t{count}, ctx);
}

/// Backward pass of an elementwise stage: dx = dy * Epi'(z) over `count` values, z being the
/// stage input of the forward pass. One kernel launch.
template <class Epi, class T>
void elementwise_backward(const T* z, const T* dy, T* dx, std::size_t count, ElemCtx ctx,
                          stream_t stream = nullptr) {
    if (count == 0) return;
    launch(&kernels::elementwise_backward<Epi, T>, elementwise_grid(count), elementwise_block, 0,
           stream, z, dy, dx, std::uint64_t{count}, ctx);
}

} // namespace ctnn::cuda
