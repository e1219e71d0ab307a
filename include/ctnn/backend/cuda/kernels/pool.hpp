// ctnn/backend/cuda/kernels/pool.hpp — pooling stages (MaxPool2D, AvgPool2D, GlobalAvgPool).
//
//   forward:  one thread per output value (grid-stride): the max (PyTorch's rule: the first
//             maximum of the window in row-major order, a NaN wins; padding never wins) or the mean
//             over kh * kw (padding counts as zero, count_include_pad), then the stage's epilogue:
//             z = pool(x), y = Epi(z). One kernel.
//   backward: one thread per INPUT value, gathering from the windows that contain it (no atomics,
//             one write each): max pooling recomputes each window's argmax from x (nothing is
//             stored by forward) and takes dz where the argmax is this value; average pooling
//             takes dz / (kh * kw) from every window. The sum is multiplied by the previous
//             stage's epilogue derivative, so it leaves that stage's dL/dZ. One kernel.
// The same geometry (layers/window.hpp) and rules as the Eigen executor
// (backend/cpu/eigen/window.hpp). A 2 x 2, stride-2 pooling tiling the output of the Conv2D stage
// before it launches no pool_forward: conv_pool_forward (conv.hpp) computes it, with the same
// rules, in the GEMM's store (pool_fuses_into_previous, backend/cuda/schedule.hpp).
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../../../layers/window.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

/// Threads per block of the pooling kernels.
inline constexpr unsigned pool_block = 256;
/// Most blocks of a pooling launch (grid-stride beyond).
inline constexpr unsigned pool_max_blocks = 4096;

namespace detail {

/// Offset (within its channel) of the maximum of output pixel (oy, ox)'s window: the first
/// maximum in row-major tap order, a NaN wins (PyTorch's rule; as eigen::detail::window_argmax).
template <class Geo, class T>
__device__ __forceinline__ std::uint32_t pool_argmax(const T* xc, std::uint32_t oy,
                                                     std::uint32_t ox) {
    constexpr ::ctnn::detail::Window2D G = Geo::window;
    std::uint32_t arg = 0;
    T m = T(0);
    bool first = true;
    for (std::uint32_t ky = 0; ky < G.kh; ++ky) {
        const std::uint32_t iy = oy * static_cast<std::uint32_t>(G.sh) +
                                 ky * static_cast<std::uint32_t>(G.dh) -
                                 static_cast<std::uint32_t>(G.pt);
        if (iy >= G.h) continue; // above (wrapped) or below the image
        for (std::uint32_t kx = 0; kx < G.kw; ++kx) {
            const std::uint32_t ix = ox * static_cast<std::uint32_t>(G.sw) +
                                     kx * static_cast<std::uint32_t>(G.dw) -
                                     static_cast<std::uint32_t>(G.pl);
            if (ix >= G.w) continue;
            const std::uint32_t q = iy * static_cast<std::uint32_t>(G.w) + ix;
            const T v = xc[q];
            if (first || v > m || std::isnan(v)) {
                m = v;
                arg = q;
            }
            first = false;
        }
    }
    return arg;
}

} // namespace detail

namespace kernels {

template <class Geo, bool Max, class Epi, class T>
__global__ void __launch_bounds__(pool_block)
    pool_forward(const T* x, T* z, T* y, std::uint64_t count, ElemCtx ctx) {
    constexpr ::ctnn::detail::Window2D G = Geo::window;
    constexpr std::uint64_t P = G.oh * G.ow, HW = G.h * G.w;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t sc = i / P; // sample * C + channel
        const auto p = static_cast<std::uint32_t>(i % P);
        const std::uint32_t oy = p / static_cast<std::uint32_t>(G.ow);
        const std::uint32_t ox = p % static_cast<std::uint32_t>(G.ow);
        const T* xc = x + sc * HW;
        T v;
        if constexpr (Max) {
            v = xc[detail::pool_argmax<Geo>(xc, oy, ox)];
        } else {
            T s = T(0);
            for (std::uint32_t ky = 0; ky < G.kh; ++ky) {
                const std::uint32_t iy = oy * static_cast<std::uint32_t>(G.sh) +
                                         ky * static_cast<std::uint32_t>(G.dh) -
                                         static_cast<std::uint32_t>(G.pt);
                if (iy >= G.h) continue;
                for (std::uint32_t kx = 0; kx < G.kw; ++kx) {
                    const std::uint32_t ix = ox * static_cast<std::uint32_t>(G.sw) +
                                             kx * static_cast<std::uint32_t>(G.dw) -
                                             static_cast<std::uint32_t>(G.pl);
                    if (ix < G.w) s += xc[iy * static_cast<std::uint32_t>(G.w) + ix];
                }
            }
            v = s * (T(1) / static_cast<T>(G.kh * G.kw));
        }
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            y[i] = Epi::apply(v, c);
        }
    }
}

template <class Geo, bool Max, class PrevEpi, class T>
__global__ void __launch_bounds__(pool_block)
    pool_backward(const T* x, const T* dz, const T* zp, T* dx, std::uint64_t count, ElemCtx ctx) {
    constexpr ::ctnn::detail::Window2D G = Geo::window;
    constexpr std::uint64_t P = G.oh * G.ow, HW = G.h * G.w;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t sc = i / HW;
        const auto q = static_cast<std::uint32_t>(i % HW);
        const std::uint32_t iy = q / static_cast<std::uint32_t>(G.w);
        const std::uint32_t ix = q % static_cast<std::uint32_t>(G.w);
        const T* xc = x + sc * HW;
        const T* dzc = dz + sc * P;
        T g = T(0);
        // Every window containing (iy, ix): tap (ky, kx) of output pixel (oy, ox) with
        // oy * sh + ky * dh - pt == iy. Windows are visited in increasing (oy, ox), the order
        // the Eigen path accumulates them in.
        for (std::uint32_t oy = 0; oy < G.oh; ++oy) {
            const std::uint32_t top = oy * static_cast<std::uint32_t>(G.sh);
            const std::uint32_t ny = iy + static_cast<std::uint32_t>(G.pt);
            if (ny < top) break; // later windows start further down
            const std::uint32_t ry = ny - top;
            if (ry % static_cast<std::uint32_t>(G.dh) != 0 || ry / G.dh >= G.kh) continue;
            for (std::uint32_t ox = 0; ox < G.ow; ++ox) {
                const std::uint32_t left = ox * static_cast<std::uint32_t>(G.sw);
                const std::uint32_t nx = ix + static_cast<std::uint32_t>(G.pl);
                if (nx < left) break;
                const std::uint32_t rx = nx - left;
                if (rx % static_cast<std::uint32_t>(G.dw) != 0 || rx / G.dw >= G.kw) continue;
                const T d = dzc[oy * static_cast<std::uint32_t>(G.ow) + ox];
                if constexpr (Max) {
                    if (detail::pool_argmax<Geo>(xc, oy, ox) == q) g += d;
                } else {
                    g += d * (T(1) / static_cast<T>(G.kh * G.kw));
                }
            }
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
inline unsigned pool_grid(std::uint64_t count) {
    const std::uint64_t blocks = (count + pool_block - 1) / pool_block;
    return static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, pool_max_blocks));
}
} // namespace detail

/// Forward pass of a pooling stage over `batch` samples [C, H, W]: z = pool(x) ([C, OH, OW]),
/// y = Epi(z) when the epilogue is not empty. Geo is a type with `static constexpr Window2D
/// window` (a bound pooling layer; kernels take the geometry through a type, because nvcc's
/// launch stubs cannot spell class-type template arguments). One kernel launch.
template <class Geo, bool Max, class Epi, class T>
void pool_forward(const T* x, T* z, T* y, std::size_t batch, ElemCtx ctx,
                  stream_t stream = nullptr) {
    constexpr ::ctnn::detail::Window2D G = Geo::window;
    const std::uint64_t count = std::uint64_t{batch} * G.c * G.oh * G.ow;
    if (count == 0) return;
    launch(&kernels::pool_forward<Geo, Max, Epi, T>, detail::pool_grid(count), pool_block, 0,
           stream, x, z, y, count, ctx);
}

/// Input gradient of a pooling stage (x: the stage input of the forward pass), times the previous
/// stage's epilogue derivative at zp. dx must not alias dz. One kernel launch.
template <class Geo, bool Max, class PrevEpi, class T>
void pool_backward(const T* x, const T* dz, const T* zp, T* dx, std::size_t batch, ElemCtx ctx,
                   stream_t stream = nullptr) {
    constexpr ::ctnn::detail::Window2D G = Geo::window;
    const std::uint64_t count = std::uint64_t{batch} * G.c * G.h * G.w;
    if (count == 0) return;
    launch(&kernels::pool_backward<Geo, Max, PrevEpi, T>, detail::pool_grid(count), pool_block, 0,
           stream, x, dz, zp, dx, count, ctx);
}

} // namespace ctnn::cuda
