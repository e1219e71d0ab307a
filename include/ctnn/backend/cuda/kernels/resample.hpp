// ctnn/backend/cuda/kernels/resample.hpp — resampling stages (Upsample<S>, nearest or bilinear).
//
//   forward:  one thread per output value (grid-stride): z = x at (y / S, x / S) of the same
//             plane (nearest), or the interpolation of the four input values around its source
//             position (bilinear, layers/resample.hpp linear_tap), then the stage's epilogue
//             y = Epi(z). One kernel.
//   backward: one thread per INPUT value, gathering the output gradient over its S x S block
//             (nearest) or over the outputs that read it, times their weights (bilinear), in
//             row-major order (the Eigen path's order; no atomics, one write each), times the
//             previous stage's epilogue derivative, so it leaves that stage's dL/dZ. One kernel.
// Geometry comes through a type Geo (a bound Upsample: channels, height, width, scale), because
// nvcc's launch stubs cannot spell class-type template arguments.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../../../layers/resample.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

/// Threads per block of the resampling kernels.
inline constexpr unsigned resample_block = 256;
/// Most blocks of a resampling launch (grid-stride beyond).
inline constexpr unsigned resample_max_blocks = 4096;

namespace detail {
template <class U>
__device__ __forceinline__ U resample_min(U a, U b) {
    return a < b ? a : b;
}
} // namespace detail

namespace kernels {

template <class Geo, class Epi, class T>
__global__ void __launch_bounds__(resample_block)
    upsample_forward(const T* x, T* z, T* y, std::uint64_t count, ElemCtx ctx) {
    constexpr std::uint32_t S = Geo::scale, H = Geo::height, W = Geo::width, OW = S * W;
    constexpr std::uint64_t P = std::uint64_t{S} * H * OW; // output values per plane
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t plane = i / P; // sample * C + channel
        const auto p = static_cast<std::uint32_t>(i % P);
        const std::uint32_t oy = p / OW, ox = p % OW;
        const T* xp = x + plane * (H * W);
        T v;
        if constexpr (Geo::bilinear) {
            std::uint32_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
            T ly = T(0), lx = T(0);
            ::ctnn::detail::linear_tap(oy, S, H, y0, y1, ly);
            ::ctnn::detail::linear_tap(ox, S, W, x0, x1, lx);
            const T* r0 = xp + y0 * W;
            const T* r1 = xp + y1 * W;
            v = (T(1) - ly) * ((T(1) - lx) * r0[x0] + lx * r0[x1]) +
                ly * ((T(1) - lx) * r1[x0] + lx * r1[x1]);
        } else {
            v = xp[(oy / S) * W + ox / S];
        }
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            y[i] = Epi::apply(v, c);
        }
    }
}

template <class Geo, class PrevEpi, class T>
__global__ void __launch_bounds__(resample_block)
    upsample_backward(const T* dz, const T* zp, T* dx, std::uint64_t count, ElemCtx ctx) {
    constexpr std::uint32_t S = Geo::scale, H = Geo::height, W = Geo::width, OW = S * W;
    constexpr std::uint64_t HW = std::uint64_t{H} * W;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t plane = i / HW;
        const auto q = static_cast<std::uint32_t>(i % HW);
        const std::uint32_t iy = q / W, ix = q % W;
        T g = T(0);
        if constexpr (Geo::bilinear) {
            // The outputs whose source position lies in [i - 1, i + 1) along each axis, in
            // row-major order (the Eigen path's), each weighted by its interpolation weight.
            const T* dzp = dz + plane * (HW * S * S);
            const std::uint32_t ylo = iy >= 1 ? S * (iy - 1) : 0;
            const std::uint32_t yhi = detail::resample_min<std::uint32_t>(S * H, S * (iy + 2));
            const std::uint32_t xlo = ix >= 1 ? S * (ix - 1) : 0;
            const std::uint32_t xhi = detail::resample_min<std::uint32_t>(OW, S * (ix + 2));
            for (std::uint32_t oy = ylo; oy < yhi; ++oy) {
                const T wy = ::ctnn::detail::linear_weight<T>(oy, iy, S, H);
                if (wy == T(0)) continue;
                for (std::uint32_t ox = xlo; ox < xhi; ++ox)
                    g += wy * ::ctnn::detail::linear_weight<T>(ox, ix, S, W) * dzp[oy * OW + ox];
            }
        } else {
            const T* block = dz + plane * (HW * S * S) + std::uint64_t{iy} * S * OW + ix * S;
            for (std::uint32_t a = 0; a < S; ++a)
                for (std::uint32_t b = 0; b < S; ++b) g += block[a * OW + b];
        }
        if constexpr (PrevEpi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            g *= PrevEpi::apply(expr::Dual<T>{zp[i], T(1)}, c).d;
        }
        dx[i] = g;
    }
}

} // namespace kernels

namespace detail {
inline unsigned resample_grid(std::uint64_t count) {
    const std::uint64_t blocks = (count + resample_block - 1) / resample_block;
    return static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, resample_max_blocks));
}
} // namespace detail

/// Forward pass of an Upsample stage over `batch` samples [C, H, W]: z = upsample(x)
/// ([C, S H, S W]), y = Epi(z) when the epilogue is not empty. Geo is a bound Upsample (static
/// channels, height, width, scale). One kernel launch.
template <class Geo, class Epi, class T>
void upsample_forward(const T* x, T* z, T* y, std::size_t batch, ElemCtx ctx,
                      stream_t stream = nullptr) {
    const std::uint64_t count =
        std::uint64_t{batch} * Geo::channels * Geo::scale * Geo::height * Geo::scale * Geo::width;
    if (count == 0) return;
    launch(&kernels::upsample_forward<Geo, Epi, T>, detail::resample_grid(count), resample_block, 0,
           stream, x, z, y, count, ctx);
}

/// Input gradient of an Upsample stage: dx = the sum of dz over each S x S block, times the
/// previous stage's epilogue derivative at zp. dx must not alias dz. One kernel launch.
template <class Geo, class PrevEpi, class T>
void upsample_backward(const T* dz, const T* zp, T* dx, std::size_t batch, ElemCtx ctx,
                       stream_t stream = nullptr) {
    const std::uint64_t count = std::uint64_t{batch} * Geo::channels * Geo::height * Geo::width;
    if (count == 0) return;
    launch(&kernels::upsample_backward<Geo, PrevEpi, T>, detail::resample_grid(count),
           resample_block, 0, stream, dz, zp, dx, count, ctx);
}

} // namespace ctnn::cuda
