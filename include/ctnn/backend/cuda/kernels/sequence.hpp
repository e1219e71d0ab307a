// ctnn/backend/cuda/kernels/sequence.hpp — Embedding and step pooling (LastStep, MeanOverSteps).
//
//   embedding_forward   z[p] = weight[id[p]] for every position p (one value per thread), the
//                       stage's epilogue fused (y = Epi(z), ElemCtx index = the flat position);
//   embedding_backward  dW = 0, then each position's dZ row added to the row of its id. Ids
//                       repeat, so threads would collide on a row: instead thread (c, j) owns
//                       column j of the rows whose id is c modulo embedding_lanes and walks every
//                       position in order, so each sum is formed in one fixed order (the CPU's:
//                       deterministic, no atomics) at the cost of every thread reading every id
//                       (a warp reads the same id: one broadcast);
//   sequence_lengths    each sample's length, the steps before its first id 0 (MaskZero);
//   step_pool_forward   z[b, f] = x[b, T - 1, f] or the mean over t, epilogue fused;
//   step_pool_backward  dX[b, t, f] = dZ[b, f] at the last step (0 before it) or dZ[b, f] / T,
//                       times the derivative of the previous stage's epilogue.
// A masked sequence pools over each sample's length n_b instead of T (padding: no gradient).
// The ids were checked on the host before the upload (cuda::Executor::forward): the kernels
// read them as integers in [0, V).
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

/// Residue classes of the ids that embedding_backward's threads split the rows into.
inline constexpr unsigned embedding_lanes = 8;

namespace kernels {

template <class Epi, class T>
__global__ void embedding_forward(const T* ids, const T* w, T* z, T* y, std::uint64_t positions,
                                  std::uint32_t dim, ElemCtx ctx) {
    const std::uint64_t count = positions * dim;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const auto id = static_cast<std::uint64_t>(ids[i / dim]);
        const T v = w[id * dim + i % dim];
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            y[i] = Epi::apply(v, c);
        }
    }
}

/// Block (32, embedding_lanes): x along the columns, y the residue class.
template <class T>
__global__ void embedding_backward(const T* ids, const T* dz, T* gw, std::uint64_t positions,
                                   std::uint32_t dim, std::uint32_t vocab) {
    const std::uint32_t j = blockIdx.x * 32u + threadIdx.x;
    const std::uint32_t c = threadIdx.y;
    if (j >= dim) return;
    for (std::uint32_t r = c; r < vocab; r += embedding_lanes) gw[std::size_t{r} * dim + j] = T(0);
    for (std::uint64_t p = 0; p < positions; ++p) {
        const auto id = static_cast<std::uint32_t>(ids[p]);
        if (id % embedding_lanes == c) gw[std::size_t{id} * dim + j] += dz[p * dim + j];
    }
}

/// lengths[b] = the steps of sample b before its first id 0 (MaskZero; ids checked on the host).
template <class T>
__global__ void sequence_lengths(const T* ids, T* lengths, std::uint32_t batch,
                                 std::uint32_t steps) {
    const std::uint32_t stride = gridDim.x * blockDim.x;
    for (std::uint32_t b = blockIdx.x * blockDim.x + threadIdx.x; b < batch; b += stride) {
        std::uint32_t n = 0;
        while (n < steps && ids[std::uint64_t{b} * steps + n] != T(0)) ++n;
        lengths[b] = T(n);
    }
}

template <bool Last, class Epi, class T>
__global__ void step_pool_forward(const T* x, const T* lengths, T* z, T* y, std::uint32_t batch,
                                  std::uint32_t steps, std::uint32_t features, ElemCtx ctx) {
    const std::uint64_t count = std::uint64_t{batch} * features;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t b = i / features, f = i % features;
        const T* xb = x + b * steps * features + f;
        const auto n = lengths ? static_cast<std::uint32_t>(lengths[b]) : steps;
        T v;
        if constexpr (Last) {
            v = xb[std::uint64_t{n - 1} * features];
        } else {
            v = T(0);
            for (std::uint32_t t = 0; t < n; ++t) v += xb[std::uint64_t{t} * features];
            v /= T(n);
        }
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            y[i] = Epi::apply(v, c);
        }
    }
}

template <bool Last, class PrevEpi, class T>
__global__ void step_pool_backward(const T* dz, const T* zp, const T* lengths, T* dx,
                                   std::uint32_t batch, std::uint32_t steps, std::uint32_t features,
                                   ElemCtx ctx) {
    const std::uint64_t count = std::uint64_t{batch} * steps * features;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t f = i % features, t = i / features % steps, b = i / features / steps;
        const T g = dz[b * features + f];
        const auto n = lengths ? static_cast<std::uint64_t>(lengths[b]) : std::uint64_t{steps};
        T v;
        if constexpr (Last) v = t + 1 == n ? g : T(0);
        else v = t < n ? g / T(n) : T(0);
        if constexpr (PrevEpi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            v *= PrevEpi::apply(expr::Dual<T>{zp[i], T(1)}, c).d;
        }
        dx[i] = v;
    }
}

} // namespace kernels

namespace detail {
inline unsigned sequence_grid(std::uint64_t count) {
    return static_cast<unsigned>(std::clamp<std::uint64_t>((count + 255) / 256, 1, 1024));
}
} // namespace detail

/// Embedding forward over `positions` ids (batch x steps): z and y = Epi(z). One kernel.
template <class Epi, class T>
void embedding_forward(const T* ids, const T* w, T* z, T* y, std::size_t positions, std::size_t dim,
                       ElemCtx ctx, stream_t stream) {
    if (positions == 0) return;
    const std::uint64_t count = std::uint64_t{positions} * dim;
    launch(&kernels::embedding_forward<Epi, T>, detail::sequence_grid(count), 256u, 0, stream, ids,
           w, z, y, std::uint64_t{positions}, static_cast<std::uint32_t>(dim), ctx);
}

/// Embedding weight gradient (overwriting gw, [vocab, dim]). One kernel.
template <class T>
void embedding_backward(const T* ids, const T* dz, T* gw, std::size_t positions, std::size_t dim,
                        std::size_t vocab, stream_t stream) {
    const dim3 block(32u, embedding_lanes);
    launch(&kernels::embedding_backward<T>, static_cast<unsigned>((dim + 31) / 32), block, 0,
           stream, ids, dz, gw, std::uint64_t{positions}, static_cast<std::uint32_t>(dim),
           static_cast<std::uint32_t>(vocab));
}

/// Each sample's length (steps before its first padding id 0, MaskZero). One kernel.
template <class T>
void sequence_lengths(const T* ids, T* lengths, std::size_t batch, std::size_t steps,
                      stream_t stream) {
    if (batch == 0) return;
    launch(&kernels::sequence_lengths<T>, detail::sequence_grid(batch), 256u, 0, stream, ids,
           lengths, static_cast<std::uint32_t>(batch), static_cast<std::uint32_t>(steps));
}

/// LastStep / MeanOverSteps forward: z [batch, features], y = Epi(z); `lengths`: each sample's
/// steps (a masked sequence) or null. One kernel.
template <bool Last, class Epi, class T>
void step_pool_forward(const T* x, const T* lengths, T* z, T* y, std::size_t batch,
                       std::size_t steps, std::size_t features, ElemCtx ctx, stream_t stream) {
    if (batch == 0) return;
    launch(&kernels::step_pool_forward<Last, Epi, T>,
           detail::sequence_grid(std::uint64_t{batch} * features), 256u, 0, stream, x, lengths, z,
           y, static_cast<std::uint32_t>(batch), static_cast<std::uint32_t>(steps),
           static_cast<std::uint32_t>(features), ctx);
}

/// LastStep / MeanOverSteps input gradient, PrevEpi' at zp fused. One kernel.
template <bool Last, class PrevEpi, class T>
void step_pool_backward(const T* dz, const T* zp, const T* lengths, T* dx, std::size_t batch,
                        std::size_t steps, std::size_t features, ElemCtx ctx, stream_t stream) {
    if (batch == 0) return;
    launch(&kernels::step_pool_backward<Last, PrevEpi, T>,
           detail::sequence_grid(std::uint64_t{batch} * steps * features), 256u, 0, stream, dz, zp,
           lengths, dx, static_cast<std::uint32_t>(batch), static_cast<std::uint32_t>(steps),
           static_cast<std::uint32_t>(features), ctx);
}

} // namespace ctnn::cuda
