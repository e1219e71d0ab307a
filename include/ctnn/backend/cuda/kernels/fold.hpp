// ctnn/backend/cuda/kernels/fold.hpp — an inference-mode BatchNorm folded into the store of the
// Conv2D or Dense GEMM before it (folds_into_previous, graph/fold.hpp).
//
// The GEMM's store computes v = acc + bias and keeps it as the anchor's Z (BatchNorm's input, read
// by a backward pass), then hands v to the fold, which does what batch_norm_infer_forward
// (kernels/norm.hpp) would do for that value, with the same float operations:
//   z = v * scale_c + (beta_c - running_mean_c * scale_c),  scale_c = gamma_c / sqrt(var_c + eps)
//   y = BatchNorm's epilogue(z)
// and, for the first C values, the per-channel statistics a backward pass reads. The BatchNorm
// kernel is then not launched: one kernel and one pass over the activations fewer. The scale and
// shift are recomputed per value from the parameters and buffers (a few flops against a GEMM's
// K multiply-adds), so nothing is cached and nothing goes stale.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../kernel.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda::detail {

/// Nothing folded into a forward store.
struct NoFold {
    static constexpr bool active = false;
};

/// A BatchNorm of C channels of HW values (per sample) with epilogue BnEpi, folded into a forward
/// store. gamma/beta: its parameters; running: its buffers (mean [C], var [C]); z, y: its stage's
/// outputs; stats: mean and 1/sqrt(var + eps) per channel for a backward pass. StoreY = false:
/// y is not written (a join evaluated in the same store is the only reader of BatchNorm's output,
/// kernels/join.hpp FusedJoin); the call returns that output either way.
template <std::uint32_t C, std::uint32_t HW, class BnEpi, class T, bool StoreY = true>
struct FoldedNorm {
    static constexpr bool active = true;
    const T* gamma;
    const T* beta;
    const T* running;
    T* z;
    T* y;
    T* stats;
    float eps;

    /// v: the value at index i of the [batch, C * HW] tensor that BatchNorm reads. Returns
    /// BatchNorm's output (its epilogue's) at i.
    CTNN_HOST_DEVICE T operator()(std::size_t i, T v, ElemCtx ctx) const {
        const auto c = static_cast<std::uint32_t>(i / HW % C);
        const T mean = running[c];
        const T inv = T(1) / std::sqrt(running[C + c] + static_cast<T>(eps));
        if (i < C) {
            // Every batch holds at least C values: the store of index i < C also keeps channel
            // i's statistics for a backward pass (as batch_norm_infer_forward does).
            stats[i] = running[i];
            stats[C + i] = T(1) / std::sqrt(running[C + i] + static_cast<T>(eps));
        }
        const T scale = inv * gamma[c];
        const T zb = v * scale + (beta[c] - mean * scale);
        z[i] = zb;
        if constexpr (BnEpi::size > 0) {
            ctx.index = i;
            const T out = BnEpi::apply(zb, ctx);
            if constexpr (StoreY) y[i] = out;
            return out;
        } else {
            return zb;
        }
    }
};

} // namespace ctnn::cuda::detail
