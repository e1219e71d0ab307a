// ctnn/backend/cuda/kernels/rowwise.hpp — per-sample reduction stages (Softmax, LogSoftmax).
//
// A rowwise stage reads one sample row of n values, reduces it (max, sum of exponentials) and
// writes n values. One block handles one row at a time (grid-stride over rows), its threads
// striding over the row, with block_reduce_max/sum for the reductions:
//   forward:  z = softmax(x) or log_softmax(x), then the stage's epilogue y = Epi(z), one kernel;
//   backward: dx = J^T dz (softmax: z * (dz - sum(dz * z)); log-softmax: dz - exp(z) sum(dz)),
//             multiplied by the derivative of the PREVIOUS stage's epilogue (PrevEpi, at that
//             stage's pre-epilogue values zp), so it leaves dL/dZ of the previous stage: one
//             kernel.
// The formulas are the Eigen executor's (backend/cpu/eigen/executor.hpp), with the same ElemCtx
// indices (sample * width + feature) for the epilogues.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../primitives.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

/// Threads per block of the rowwise kernels (one block per row).
inline constexpr unsigned rowwise_block = 128;
/// Most blocks of a rowwise launch; more rows are covered by the grid-stride loop.
inline constexpr unsigned rowwise_max_blocks = 1024;

namespace kernels {

template <bool Log, class Epi, class T>
__global__ void __launch_bounds__(rowwise_block)
    rowwise_forward(const T* x, T* z, T* y, std::uint32_t rows, std::uint32_t n, ElemCtx ctx) {
    constexpr int B = static_cast<int>(rowwise_block);
    for (std::uint32_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + std::size_t{r} * n;
        T* zr = z + std::size_t{r} * n;
        T m = xr[0]; // every thread starts from a value of the row (n >= 1)
        for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
        m = block_reduce_max<B>(m);
        T s = T(0);
        for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) s += std::exp(xr[j] - m);
        s = block_reduce_sum<B>(s);
        // (x - m) - log(s): m + log(s) would round log(s) away for large |m| (as on the CPU).
        const T ls = std::log(s), inv = T(1) / s;
        for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) {
            const T v = Log ? (xr[j] - m) - ls : std::exp(xr[j] - m) * inv;
            zr[j] = v;
            if constexpr (Epi::size > 0) {
                ElemCtx c = ctx;
                c.index = std::size_t{r} * n + j;
                y[std::size_t{r} * n + j] = Epi::apply(v, c);
            }
        }
    }
}

template <bool Log, class PrevEpi, class T>
__global__ void __launch_bounds__(rowwise_block)
    rowwise_backward(const T* z, const T* dz, const T* zp, T* dx, std::uint32_t rows,
                     std::uint32_t n, ElemCtx ctx) {
    constexpr int B = static_cast<int>(rowwise_block);
    for (std::uint32_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const std::size_t row = std::size_t{r} * n;
        T s = T(0);
        for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x)
            s += Log ? dz[row + j] : dz[row + j] * z[row + j];
        s = block_reduce_sum<B>(s);
        for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) {
            T g = Log ? dz[row + j] - std::exp(z[row + j]) * s : z[row + j] * (dz[row + j] - s);
            if constexpr (PrevEpi::size > 0) {
                ElemCtx c = ctx;
                c.index = row + j;
                g *= PrevEpi::apply(expr::Dual<T>{zp[row + j], T(1)}, c).d;
            }
            dx[row + j] = g;
        }
    }
}

} // namespace kernels

namespace detail {
inline unsigned rowwise_grid(std::size_t rows) {
    return static_cast<unsigned>(std::clamp<std::size_t>(rows, 1, rowwise_max_blocks));
}
} // namespace detail

/// Forward pass of a rowwise stage over `rows` rows of n values: z = (log_)softmax(x) and, if
/// the epilogue is not empty, y = Epi(z). One kernel launch.
template <bool Log, class Epi, class T>
void rowwise_forward(const T* x, T* z, T* y, std::size_t rows, std::size_t n, ElemCtx ctx,
                     stream_t stream = nullptr) {
    if (rows == 0 || n == 0) return;
    launch(&kernels::rowwise_forward<Log, Epi, T>, detail::rowwise_grid(rows), rowwise_block, 0,
           stream, x, z, y, static_cast<std::uint32_t>(rows), static_cast<std::uint32_t>(n), ctx);
}

/// Backward pass of a rowwise stage: dx = J^T dz times PrevEpi'(zp) (see the file comment). dx
/// must not alias dz. One kernel launch.
template <bool Log, class PrevEpi, class T>
void rowwise_backward(const T* z, const T* dz, const T* zp, T* dx, std::size_t rows, std::size_t n,
                      ElemCtx ctx, stream_t stream = nullptr) {
    if (rows == 0 || n == 0) return;
    launch(&kernels::rowwise_backward<Log, PrevEpi, T>, detail::rowwise_grid(rows), rowwise_block,
           0, stream, z, dz, zp, dx, static_cast<std::uint32_t>(rows),
           static_cast<std::uint32_t>(n), ctx);
}

} // namespace ctnn::cuda
