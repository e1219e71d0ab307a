// ctnn/backend/cuda/kernels/norm.hpp — BatchNorm and LayerNorm stages, forward and backward.
//
// BatchNorm (C channels of HW values per sample, batch tensor [B, C, HW]):
//   training forward   one block per channel (grid-stride over channels): the channel's mean, then
//                      its biased variance around that mean (two passes, block_reduce_sum), then
//                      thread 0 keeps mean and 1/sqrt(var + eps) for backward (`stats`), updates
//                      the running statistics (momentum, unbiased variance, in double as the Eigen
//                      path does) and derives scale and shift; the block then writes z = x scale +
//                      shift and y = Epi(z). One kernel.
//   inference forward  one thread per value (grid-stride): z from the running statistics, y =
//                      Epi(z); the first C threads also keep the statistics for backward. One
//                      kernel.
//   backward           one block per channel: sum(dz) (dbeta) and sum(dz xhat) (dgamma), then dx =
//                      gamma invstd (dz - sum(dz)/N - xhat sum(dz xhat)/N) (after an inference
//                      forward: gamma invstd dz), times the derivative of the previous stage's
//                      epilogue, so it leaves that stage's dL/dZ. One kernel.
// LayerNorm (n values per sample, [rows, n]):
//   forward            one block per row (as rowwise.hpp): mean, biased variance, z = xhat w + b,
//                      y = Epi(z). One kernel.
//   backward           (1) one block per row: the row's mean and invstd (recomputed from x, as the
//                      Eigen path does) kept in `row_stats`, and dx = invstd (g - mean(g) - xhat
//                      mean(g xhat)) with g = dz w, previous epilogue' fused; (2) one thread per
//                      feature summing dw = sum dz xhat and db = sum dz over the rows in order. Two
//                      kernels: the parameter gradients reduce over the other axis.
// No float atomics: every sum is a block reduction (CUB on the device) or a sequential loop, so
// results do not depend on scheduling. The formulas and the ElemCtx indices (sample * width +
// feature) are the Eigen executor's (backend/cpu/eigen/executor.hpp).
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

/// Threads per block of the normalization kernels.
inline constexpr unsigned norm_block = 256;
/// Most blocks of a normalization launch; more channels, rows or values are covered by
/// grid-stride loops.
inline constexpr unsigned norm_max_blocks = 1024;

namespace detail {
/// Offset of value k (k < batch * HW) of channel c in a [batch, C, HW] tensor.
template <std::uint32_t C, std::uint32_t HW>
__device__ __forceinline__ std::size_t channel_offset(std::uint32_t c, std::uint32_t k) {
    return (std::size_t{k / HW} * C + c) * HW + k % HW;
}
} // namespace detail

namespace kernels {

/// BatchNorm training forward (see the file comment). stats: [mean C, invstd C]; running: the
/// layer's buffers [running_mean C, running_var C, num_batches_tracked 1].
template <std::uint32_t C, std::uint32_t HW, class Epi, class T>
__global__ void __launch_bounds__(norm_block)
    batch_norm_train_forward(const T* x, const T* gamma, const T* beta, T* z, T* y, T* stats,
                             T* running, std::uint32_t batch, float momentum, float eps,
                             ElemCtx ctx) {
    constexpr int B = static_cast<int>(norm_block);
    const std::uint32_t count = batch * HW; // values per channel (>= 2, checked by the caller)
    __shared__ T coef[2];                   // the channel's scale and shift
    for (std::uint32_t c = blockIdx.x; c < C; c += gridDim.x) {
        // Mean of the channel.
        T s = T(0);
        for (std::uint32_t k = threadIdx.x; k < count; k += blockDim.x)
            s += x[detail::channel_offset<C, HW>(c, k)];
        const T mean = block_reduce_sum<B>(s) / static_cast<T>(count);
        // Biased variance around it.
        T q = T(0);
        for (std::uint32_t k = threadIdx.x; k < count; k += blockDim.x) {
            const T e = x[detail::channel_offset<C, HW>(c, k)] - mean;
            q += e * e;
        }
        const T var = block_reduce_sum<B>(q) / static_cast<T>(count);
        // Thread 0: the statistics kept for backward, the running statistics, scale and shift.
        if (threadIdx.x == 0) {
            const auto mu = static_cast<double>(mean), v = static_cast<double>(var);
            const auto inv = static_cast<T>(1.0 / std::sqrt(v + static_cast<double>(eps)));
            stats[c] = mean;
            stats[C + c] = inv;
            const auto m = static_cast<double>(momentum);
            const double unbiased =
                v * static_cast<double>(count) / static_cast<double>(count - 1u);
            running[c] = static_cast<T>((1 - m) * static_cast<double>(running[c]) + m * mu);
            running[C + c] =
                static_cast<T>((1 - m) * static_cast<double>(running[C + c]) + m * unbiased);
            if (c == 0) running[2 * C] += T(1); // num_batches_tracked, once per pass
            const T scale = inv * gamma[c];
            coef[0] = scale;
            coef[1] = beta[c] - mean * scale;
        }
        // Thread 0 has written scale and shift before anyone reads them. (It overwrites them only
        // for the next channel, after the barriers of that channel's reductions, which every
        // thread reaches after reading these.)
        __syncthreads();
        const T scale = coef[0], shift = coef[1];
        // Normalize, epilogue, store.
        for (std::uint32_t k = threadIdx.x; k < count; k += blockDim.x) {
            const std::size_t i = detail::channel_offset<C, HW>(c, k);
            const T v = x[i] * scale + shift;
            z[i] = v;
            if constexpr (Epi::size > 0) {
                ElemCtx e = ctx;
                e.index = i;
                y[i] = Epi::apply(v, e);
            }
        }
    }
}

/// BatchNorm inference forward over `count` = batch * C * HW values: the running statistics
/// (running: [running_mean C, running_var C, ...]) normalize, then the epilogue. Threads i < C
/// also keep channel i's mean and invstd in stats for a backward pass.
template <std::uint32_t C, std::uint32_t HW, class Epi, class T>
__global__ void __launch_bounds__(norm_block)
    batch_norm_infer_forward(const T* x, const T* gamma, const T* beta, const T* running, T* z,
                             T* y, T* stats, std::uint64_t count, float eps, ElemCtx ctx) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const auto c = static_cast<std::uint32_t>(i / HW % C);
        const T mean = running[c];
        const T inv = T(1) / std::sqrt(running[C + c] + static_cast<T>(eps));
        if (i < C) {
            // There are at least C values: thread i also keeps channel i's statistics (computed
            // as every thread of channel i computes them) for a backward pass.
            stats[i] = running[i];
            stats[C + i] = T(1) / std::sqrt(running[C + i] + static_cast<T>(eps));
        }
        const T scale = inv * gamma[c];
        const T v = x[i] * scale + (beta[c] - mean * scale);
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx e = ctx;
            e.index = i;
            y[i] = Epi::apply(v, e);
        }
    }
}

/// BatchNorm backward (see the file comment): dgamma, dbeta and, when InputGrad, dx times
/// PrevEpi'(zp). `training`: the mode of the forward pass whose statistics are in stats.
template <std::uint32_t C, std::uint32_t HW, class PrevEpi, bool InputGrad, class T>
__global__ void __launch_bounds__(norm_block)
    batch_norm_backward(const T* x, const T* dz, const T* gamma, const T* stats, const T* zp,
                        T* dgamma, T* dbeta, T* dx, std::uint32_t batch, bool training,
                        ElemCtx ctx) {
    constexpr int B = static_cast<int>(norm_block);
    const std::uint32_t count = batch * HW;
    for (std::uint32_t c = blockIdx.x; c < C; c += gridDim.x) {
        const T mean = stats[c], inv = stats[C + c];
        // Per-channel sums of dz and dz xhat.
        T s = T(0), sx = T(0);
        for (std::uint32_t k = threadIdx.x; k < count; k += blockDim.x) {
            const std::size_t i = detail::channel_offset<C, HW>(c, k);
            s += dz[i];
            sx += dz[i] * (x[i] - mean) * inv;
        }
        s = block_reduce_sum<B>(s);
        sx = block_reduce_sum<B>(sx);
        if (threadIdx.x == 0) {
            dgamma[c] = sx;
            dbeta[c] = s;
        }
        // Input gradient, previous epilogue' fused.
        if constexpr (InputGrad) {
            const T k0 = gamma[c] * inv;
            const T mean_dz = training ? s / static_cast<T>(count) : T(0);
            const T mean_dz_xhat = training ? sx / static_cast<T>(count) : T(0);
            for (std::uint32_t k = threadIdx.x; k < count; k += blockDim.x) {
                const std::size_t i = detail::channel_offset<C, HW>(c, k);
                const T xhat = (x[i] - mean) * inv;
                T g = k0 * (dz[i] - mean_dz - xhat * mean_dz_xhat);
                if constexpr (PrevEpi::size > 0) {
                    ElemCtx e = ctx;
                    e.index = i;
                    g *= PrevEpi::apply(expr::Dual<T>{zp[i], T(1)}, e).d;
                }
                dx[i] = g;
            }
        } else {
            (void)gamma;
            (void)zp;
            (void)dx;
            (void)training;
            (void)ctx;
        }
    }
}

/// A row's mean and 1/sqrt(var + eps).
template <class T>
struct RowStats {
    T mean, inv;
};

/// Mean and 1/sqrt(var + eps) of row xr (n values), returned to every thread of the block (which
/// must all call it: it contains barriers).
template <class T>
__device__ __forceinline__ RowStats<T> layer_norm_row_stats(const T* xr, std::uint32_t n,
                                                            float eps) {
    constexpr int B = static_cast<int>(norm_block);
    T s = T(0);
    for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) s += xr[j];
    const T mean = block_reduce_sum<B>(s) / static_cast<T>(n);
    T q = T(0);
    for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) {
        const T e = xr[j] - mean;
        q += e * e;
    }
    const T var = block_reduce_sum<B>(q) / static_cast<T>(n);
    // Every thread derives the same value from the same reduced variance (as the Eigen path: in
    // double, then rounded).
    return {mean,
            static_cast<T>(1.0 / std::sqrt(static_cast<double>(var) + static_cast<double>(eps)))};
}

/// LayerNorm forward: z = (x - mean) invstd w + b per row, y = Epi(z).
template <class Epi, class T>
__global__ void __launch_bounds__(norm_block)
    layer_norm_forward(const T* x, const T* w, const T* b, T* z, T* y, std::uint32_t rows,
                       std::uint32_t n, float eps, ElemCtx ctx) {
    for (std::uint32_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const std::size_t row = std::size_t{r} * n;
        const RowStats<T> st = layer_norm_row_stats(x + row, n, eps);
        for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) {
            const T v = (x[row + j] - st.mean) * st.inv * w[j] + b[j];
            z[row + j] = v;
            if constexpr (Epi::size > 0) {
                ElemCtx e = ctx;
                e.index = row + j;
                y[row + j] = Epi::apply(v, e);
            }
        }
    }
}

/// LayerNorm backward, per row: keeps the row's mean and invstd in row_stats[2 r], [2 r + 1] for
/// layer_norm_backward_params, and (InputGrad) writes dx times PrevEpi'(zp).
template <class PrevEpi, bool InputGrad, class T>
__global__ void __launch_bounds__(norm_block)
    layer_norm_backward_rows(const T* x, const T* dz, const T* w, const T* zp, T* row_stats, T* dx,
                             std::uint32_t rows, std::uint32_t n, float eps, ElemCtx ctx) {
    for (std::uint32_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const std::size_t row = std::size_t{r} * n;
        const RowStats<T> st = layer_norm_row_stats(x + row, n, eps);
        const T mean = st.mean, inv = st.inv;
        if (threadIdx.x == 0) {
            row_stats[2 * std::size_t{r}] = mean;
            row_stats[2 * std::size_t{r} + 1] = inv;
        }
        if constexpr (InputGrad) {
            constexpr int B = static_cast<int>(norm_block);
            // mean(g) and mean(g xhat), g = dz w.
            T sg = T(0), sgx = T(0);
            for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) {
                const T xhat = (x[row + j] - mean) * inv;
                sg += dz[row + j] * w[j];
                sgx += dz[row + j] * w[j] * xhat;
            }
            const T mean_g = block_reduce_sum<B>(sg) / static_cast<T>(n);
            const T mean_gx = block_reduce_sum<B>(sgx) / static_cast<T>(n);
            for (std::uint32_t j = threadIdx.x; j < n; j += blockDim.x) {
                const T xhat = (x[row + j] - mean) * inv;
                T g = inv * (dz[row + j] * w[j] - mean_g - xhat * mean_gx);
                if constexpr (PrevEpi::size > 0) {
                    ElemCtx e = ctx;
                    e.index = row + j;
                    g *= PrevEpi::apply(expr::Dual<T>{zp[row + j], T(1)}, e).d;
                }
                dx[row + j] = g;
            }
        } else {
            (void)dz;
            (void)w;
            (void)zp;
            (void)dx;
            (void)ctx;
        }
    }
}

/// LayerNorm parameter gradients: one thread per feature j sums dw[j] = sum_r dz xhat and
/// db[j] = sum_r dz over the rows in order (coalesced: consecutive threads, consecutive j).
template <class T>
__global__ void __launch_bounds__(norm_block)
    layer_norm_backward_params(const T* x, const T* dz, const T* row_stats, T* dw, T* db,
                               std::uint32_t rows, std::uint32_t n) {
    const std::uint32_t stride = gridDim.x * blockDim.x;
    for (std::uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < n; j += stride) {
        T gw = T(0), gb = T(0);
        for (std::uint32_t r = 0; r < rows; ++r) {
            const std::size_t i = std::size_t{r} * n + j;
            const T* st = row_stats + 2 * std::size_t{r};
            const T xhat = (x[i] - st[0]) * st[1];
            gw += dz[i] * xhat;
            gb += dz[i];
        }
        dw[j] = gw;
        db[j] = gb;
    }
}

} // namespace kernels

namespace detail {
inline unsigned norm_grid(std::uint64_t units) {
    return static_cast<unsigned>(std::clamp<std::uint64_t>(units, 1, norm_max_blocks));
}
} // namespace detail

/// Training forward of a BatchNorm stage over `batch` samples of C channels x HW values: batch
/// statistics, stats (device, [2C]) kept for backward, running statistics (device, [2C + 1]: the
/// layer's buffers) updated, z = normalized and scaled, y = Epi(z). batch * HW >= 2 (the caller
/// checks). One kernel launch.
template <std::uint32_t C, std::uint32_t HW, class Epi, class T>
void batch_norm_train_forward(const T* x, const T* gamma, const T* beta, T* z, T* y, T* stats,
                              T* running, std::size_t batch, float momentum, float eps, ElemCtx ctx,
                              stream_t stream = nullptr) {
    if (batch == 0) return;
    launch(&kernels::batch_norm_train_forward<C, HW, Epi, T>, detail::norm_grid(C), norm_block, 0,
           stream, x, gamma, beta, z, y, stats, running, static_cast<std::uint32_t>(batch),
           momentum, eps, ctx);
}

/// Inference forward of a BatchNorm stage with the running statistics (device, [2C + 1]); also
/// keeps them in stats for a backward pass. One kernel launch.
template <std::uint32_t C, std::uint32_t HW, class Epi, class T>
void batch_norm_infer_forward(const T* x, const T* gamma, const T* beta, const T* running, T* z,
                              T* y, T* stats, std::size_t batch, float eps, ElemCtx ctx,
                              stream_t stream = nullptr) {
    const std::uint64_t count = std::uint64_t{batch} * C * HW;
    if (count == 0) return;
    launch(&kernels::batch_norm_infer_forward<C, HW, Epi, T>,
           detail::norm_grid((count + norm_block - 1) / norm_block), norm_block, 0, stream, x,
           gamma, beta, running, z, y, stats, count, eps, ctx);
}

/// Backward of a BatchNorm stage from dz (dL/dZ, device): dgamma and dbeta (overwritten) and,
/// when InputGrad, dx times PrevEpi'(zp). dx must not alias dz. One kernel launch.
template <std::uint32_t C, std::uint32_t HW, class PrevEpi, bool InputGrad, class T>
void batch_norm_backward(const T* x, const T* dz, const T* gamma, const T* stats, const T* zp,
                         T* dgamma, T* dbeta, T* dx, std::size_t batch, bool training, ElemCtx ctx,
                         stream_t stream = nullptr) {
    if (batch == 0) return;
    launch(&kernels::batch_norm_backward<C, HW, PrevEpi, InputGrad, T>, detail::norm_grid(C),
           norm_block, 0, stream, x, dz, gamma, stats, zp, dgamma, dbeta, dx,
           static_cast<std::uint32_t>(batch), training, ctx);
}

/// Forward of a LayerNorm stage over `rows` rows of n values: z = normalized x * w + b,
/// y = Epi(z). One kernel launch.
template <class Epi, class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* z, T* y, std::size_t rows,
                        std::size_t n, float eps, ElemCtx ctx, stream_t stream = nullptr) {
    if (rows == 0 || n == 0) return;
    launch(&kernels::layer_norm_forward<Epi, T>, detail::norm_grid(rows), norm_block, 0, stream, x,
           w, b, z, y, static_cast<std::uint32_t>(rows), static_cast<std::uint32_t>(n), eps, ctx);
}

/// Backward of a LayerNorm stage from dz: dw and db (overwritten) and, when InputGrad, dx times
/// PrevEpi'(zp). row_stats is device scratch of 2 * rows values. dx must not alias dz. Two kernel
/// launches (rows, then parameters).
template <class PrevEpi, bool InputGrad, class T>
void layer_norm_backward(const T* x, const T* dz, const T* w, const T* zp, T* dw, T* db, T* dx,
                         T* row_stats, std::size_t rows, std::size_t n, float eps, ElemCtx ctx,
                         stream_t stream = nullptr) {
    if (rows == 0 || n == 0) return;
    const auto r32 = static_cast<std::uint32_t>(rows), n32 = static_cast<std::uint32_t>(n);
    launch(&kernels::layer_norm_backward_rows<PrevEpi, InputGrad, T>, detail::norm_grid(rows),
           norm_block, 0, stream, x, dz, w, zp, row_stats, dx, r32, n32, eps, ctx);
    launch(&kernels::layer_norm_backward_params<T>,
           detail::norm_grid((n + norm_block - 1) / norm_block), norm_block, 0, stream, x, dz,
           static_cast<const T*>(row_stats), dw, db, r32, n32);
}

} // namespace ctnn::cuda
