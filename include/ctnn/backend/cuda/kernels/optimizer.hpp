// ctnn/backend/cuda/kernels/optimizer.hpp — the optimizer step over the flat parameter buffer.
//
// One kernel updates every parameter of a model: p[i], m[i], v[i] <- O::update(s, p[i], g[i],
// m[i], v[i]), with the element rule every backend uses (optim::update_element) and the same
// step-constant scalars (O::scalars(lr, t)).
#pragma once
#include "../../../config.hpp"
#include "../../../optim/optimizer.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

namespace kernels {

/// The update of parameters [0, n) (grid-stride loop). m and v are the optimizer's state buffers;
/// those it does not use (O::state_count < 2, < 1) may be null. No synchronization: every
/// element is independent.
template <class O, class T>
__global__ void optimizer_update(typename O::Scalars s, T* p, const T* g, T* m, T* v,
                                 std::uint64_t n) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        optim::update_element<O>(s, p, g, m, v, i);
    }
}

/// g[i] *= inv for i in [0, n) (grid-stride loop); *non_finite becomes 1 if any result is NaN or
/// infinite (an fp16 model's gradients after backward(): model/loss_scale.hpp).
template <class T>
__global__ void unscale_gradients(T* g, std::uint64_t n, T inv, std::uint32_t* non_finite) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    bool bad = false;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        const T v = g[i] * inv;
        g[i] = v;
        bad = bad || !(v - v == T(0)); // NaN or infinite: v - v is NaN
    }
    if (bad) atomicMax(non_finite, 1u);
}

} // namespace kernels

/// Threads per block of the optimizer kernel.
inline constexpr unsigned optimizer_block = 256;
/// Most blocks of an optimizer launch; larger buffers are covered by the grid-stride loop.
inline constexpr unsigned optimizer_max_blocks = 1024;

/// One optimizer step over n parameters (device pointers): one kernel launch. Same contract as
/// eigen::apply_update.
template <class O, class T>
void apply_update(const O&, const typename O::Scalars& s, T* p, const T* g, T* m, T* v,
                  std::size_t n, stream_t stream = nullptr) {
    if (n == 0) return;
    const std::uint64_t blocks = (std::uint64_t{n} + optimizer_block - 1) / optimizer_block;
    const auto grid =
        static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, optimizer_max_blocks));
    launch(&kernels::optimizer_update<O, T>, grid, optimizer_block, 0, stream, s, p, g, m, v,
           std::uint64_t{n});
}

/// g[i] *= inv for the n gradients (device pointers) and *non_finite (device, zeroed by the
/// caller) set to 1 if any is then not finite: one kernel launch.
template <class T>
void unscale_gradients(T* g, std::size_t n, T inv, std::uint32_t* non_finite,
                       stream_t stream = nullptr) {
    if (n == 0) return;
    const std::uint64_t blocks = (std::uint64_t{n} + optimizer_block - 1) / optimizer_block;
    const auto grid =
        static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, optimizer_max_blocks));
    launch(&kernels::unscale_gradients<T>, grid, optimizer_block, 0, stream, g, std::uint64_t{n},
           inv, non_finite);
}

} // namespace ctnn::cuda
