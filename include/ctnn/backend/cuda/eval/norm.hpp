// ctnn/backend/cuda/eval/norm.hpp — BatchNorm and LayerNorm stages (kernels/norm.hpp).
//
//   batch_norm  batch_norm_train_forward (batch statistics, running statistics updated in the
//               model's buffers, epilogue fused) or batch_norm_infer_forward (running
//               statistics); batch_norm_backward (dgamma, dbeta, dX, the source's epilogue')
//   layer_norm  layer_norm_forward (epilogue fused); layer_norm_backward (rows: dX with the
//               source's epilogue' fused; columns: dweight, dbias)
#pragma once
#include "../kernels/norm.hpp"
#include "common.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>

namespace ctnn::cuda::detail {

template <>
struct Eval<LayerKind::batch_norm> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using Epi = epilogue_of<S>;
        constexpr auto C = static_cast<std::uint32_t>(A::bound::channels);
        constexpr auto HW = static_cast<std::uint32_t>(A::bound::spatial);
        const T* gamma = params + A::param_offset;
        T* running = ex.buffers_ + A::buffer_offset;
        T* stats = ex.stats_.data() + Ex::plan::layout[I].stats;
        ex.bn_training_[I] = ex.ctx_.training;
        if (ex.ctx_.training)
            batch_norm_train_forward<C, HW, Epi>(
                ex.x_of(I), gamma, gamma + C, ex.z_of(I), ex.y_of(I), stats, running, ex.batch_,
                A::layer::momentum, A::layer::eps, ex.ctx_, ex.stream_);
        else
            batch_norm_infer_forward<C, HW, Epi>(ex.x_of(I), gamma, gamma + C, running, ex.z_of(I),
                                                 ex.y_of(I), stats, ex.batch_, A::layer::eps,
                                                 ex.ctx_, ex.stream_);
    }

    /// From dZ in d: dgamma, dbeta and (when needed) dX in one kernel.
    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr auto C = static_cast<std::uint32_t>(A::bound::channels);
        constexpr auto HW = static_cast<std::uint32_t>(A::bound::spatial);
        constexpr bool input_grad = Ex::flow::input_grad[I];
        const T* gamma = params + A::param_offset;
        T* dgamma = grads + A::param_offset;
        const T* zp = nullptr;
        if constexpr (input_grad) zp = ex.epi_in_of(S::source);
        batch_norm_backward<C, HW, source_epilogue<typename Ex::stages, I>, input_grad>(
            ex.x_of(I), d, gamma, ex.stats_.data() + Ex::plan::layout[I].stats, zp, dgamma,
            dgamma + C, other, ex.batch_, ex.bn_training_[I], ex.ctx_, ex.stream_);
        if constexpr (input_grad) std::swap(d, other);
    }
};

template <>
struct Eval<LayerKind::layer_norm> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        const T* w = params + A::param_offset;
        layer_norm_forward<epilogue_of<S>>(ex.x_of(I), w, w + S::in_size, ex.z_of(I), ex.y_of(I),
                                           ex.batch_, S::out_size, A::layer::eps, ex.ctx_,
                                           ex.stream_);
    }

    /// From dZ in d: per-row statistics and (when needed) dX, then dweight and dbias; two
    /// kernels.
    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        constexpr bool input_grad = Ex::flow::input_grad[I];
        const T* w = params + A::param_offset;
        T* dw = grads + A::param_offset;
        const T* zp = nullptr;
        if constexpr (input_grad) zp = ex.epi_in_of(S::source);
        layer_norm_backward<source_epilogue<typename Ex::stages, I>, input_grad>(
            ex.x_of(I), d, w, zp, dw, dw + n, other, ex.ln_rows_.data(), ex.batch_, n,
            A::layer::eps, ex.ctx_, ex.stream_);
        if constexpr (input_grad) std::swap(d, other);
    }
};

} // namespace ctnn::cuda::detail
