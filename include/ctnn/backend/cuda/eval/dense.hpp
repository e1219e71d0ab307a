// ctnn/backend/cuda/eval/dense.hpp — Dense stages on the GEMM of kernels/gemm.hpp.
//
//   forward  gemm<false, true>   Z = X W^T; store: bias, Z kept, Y = epilogue(Z) (and a folded
//                                BatchNorm or fused join, fusion.hpp)
//   backward gemm<true, false>   dW = dZ^T X, db as the ones column
//            gemm<false, false>  dX = dZ W; store: x the source's epilogue'
// A Dense on a sequence [T, F] (per_step_dense) is the same three GEMMs over B T rows of F: the
// sample-major [B, T, F] tensor is a [B T, F] matrix, and the store's index m n + j is the flat
// index the CPU's epilogue uses.
// In a mixed-precision executor (Ex::gemm_operands bf16 or fp16) the three are gemm_mma, the
// tensor-core GEMM, with the same operands and stores: the weights, activations and gradients
// stay float in memory and are rounded as the GEMM reads them; sums, stores and epilogues are
// fp32.
#pragma once
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../kernels/gemm_mma.hpp"
#include "../kernels/join.hpp"
#include "common.hpp"
#include "fusion.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>

namespace ctnn::cuda::detail {

/// Store of a dense stage's forward GEMM: v = acc + bias; Z = v; Y = Epi(v). With an active
/// Fold (an inference-mode BatchNorm folded in; Epi is then empty), v also goes to the fold,
/// which writes the BatchNorm stage's outputs (kernels/fold.hpp); with an active Join, the
/// output goes on to a two-branch Add join (kernels/join.hpp, FusedJoin).
template <class Epi, class T, class Fold = NoFold, class Join = NoJoin>
struct ForwardStore {
    T* z;
    T* y;
    const T* bias; ///< null: no bias
    ElemCtx ctx;
    std::uint32_t n; ///< stage output width
    Fold fold;
    Join join;

    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t j, T acc) const {
        const std::size_t i = std::size_t{m} * n + j;
        const T v = bias != nullptr ? acc + bias[j] : acc;
        z[i] = v;
        forward_store_tail<Epi>(i, v, y, ctx, fold, join);
    }
};

/// Store of the input-gradient GEMM: dX = acc x PrevEpi'(zp), i.e. dL/dZ of the previous stage;
/// with `add`, dX += that (a second product adding its share: a recurrent stage's reverse
/// direction, eval/recurrent.hpp).
template <class PrevEpi, class T>
struct InputGradStore {
    T* dx;
    const T* zp; ///< the previous stage's epilogue input
    ElemCtx ctx;
    std::uint32_t n; ///< stage input width
    bool add;

    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t j, T acc) const {
        const std::size_t i = std::size_t{m} * n + j;
        if constexpr (PrevEpi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            acc *= PrevEpi::apply(expr::Dual<T>{zp[i], T(1)}, c).d;
        }
        dx[i] = add ? dx[i] + acc : acc;
    }
};

/// Store of the weight-gradient GEMM, C[out][in + 1]: columns < in are dW (PyTorch layout
/// [out][in]), column `in` (the ones column) is the bias gradient.
template <class T>
struct WeightGradStore {
    T* gw;
    T* gb;
    std::uint32_t in;

    CTNN_HOST_DEVICE void operator()(std::uint32_t o, std::uint32_t i, T acc) const {
        if (i < in) gw[std::size_t{o} * in + i] = acc;
        else gb[o] = acc;
    }
};

template <>
struct Eval<LayerKind::dense> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        // A Dense on a sequence [T, F] applies at every step: B T rows of F (per_step_dense).
        constexpr std::uint32_t n_in = A::bound::in_features, n_out = A::layer::units;
        const auto B = static_cast<std::uint32_t>(ex.batch_ * A::bound::steps);
        const T* w = params + A::param_offset;
        const T* bias = A::layer::has_bias ? w + std::size_t{n_in} * n_out : nullptr;
        Fusions::with<I>(ex, params, [&](auto fold, auto join) {
            const ForwardStore<epilogue_of<S>, T, decltype(fold), decltype(join)> store{
                ex.z_of(I), ex.y_of(I), bias, ex.ctx_, n_out, fold, join};
            gemm_as<Ex::gemm_operands, false, true>(B, n_out, n_in, ex.x_of(I), n_in, w, n_in,
                                                    store, false, ex.stream_);
        });
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::uint32_t n_in = A::bound::in_features, n_out = A::layer::units;
        const auto B = static_cast<std::uint32_t>(ex.batch_ * A::bound::steps);
        if constexpr (A::param_count > 0) {
            T* gw = grads + A::param_offset;
            const WeightGradStore<T> store{gw, gw + std::size_t{n_in} * n_out, n_in};
            gemm_as<Ex::gemm_operands, true, false>(n_out, n_in + (A::layer::has_bias ? 1u : 0u), B,
                                                    d, n_out, ex.x_of(I), n_in, store,
                                                    A::layer::has_bias, ex.stream_);
        }
        if constexpr (Ex::flow::input_grad[I]) {
            const T* w = params + A::param_offset;
            const InputGradStore<source_epilogue<typename Ex::stages, I>, T> store{
                other, ex.epi_in_of(S::source), ex.ctx_, n_in, false};
            gemm_as<Ex::gemm_operands, false, false>(B, n_in, n_out, d, n_out, w, n_in, store,
                                                     false, ex.stream_);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::cuda::detail
