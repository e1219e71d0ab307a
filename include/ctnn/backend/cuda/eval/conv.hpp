// ctnn/backend/cuda/eval/conv.hpp — Conv2D stages on the implicit GEMM of kernels/conv.hpp.
//
//   forward  conv_forward (same stores as Dense, fusion.hpp's fold and join included), or
//            conv_pool_forward when a 2 x 2 MaxPool2D / AvgPool2D tiling the output runs in the
//            store (pool_fuses_into_previous; in inference also after a folded BatchNorm,
//            pool_fuses_through_fold): the pooling stage then launches nothing
//   backward conv_backward_weights (dW, db as the ones column), conv_backward_data (the
//            source's epilogue' fused)
// In a mixed-precision executor (Ex::gemm_operands bf16) the implicit GEMMs run on tensor cores
// (gemm_grouped_as: gemm_mma_grouped), except conv_pool_forward, whose pooling store takes a
// column of four rows at once, which gemm_mma does not hand out: a convolution with a pooling in
// its store computes its forward in fp32 (describe() says so).
#pragma once
#include "../../../layers/pool.hpp"
#include "../kernels/conv.hpp"
#include "../schedule.hpp"
#include "common.hpp"
#include "fusion.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::cuda::detail {

/// The ConvShape of a convolution stage's anchor.
template <class A>
using conv_shape_of = ConvShape<A::bound::window, A::bound::out_channels, A::bound::group_count>;

template <>
struct Eval<LayerKind::conv> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using Shape = conv_shape_of<A>;
        using Epi = epilogue_of<S>;
        using St = typename Ex::stages;
        const T* w = params + A::param_offset;
        const T* bias =
            A::layer::has_bias ? w + std::size_t{Shape::og} * Shape::groups * Shape::taps : nullptr;
        if constexpr (pool_fuses_into_previous<St, I + 1>) {
            // The 2 x 2 pooling stage I + 1 in this GEMM's store (it launches nothing).
            using P = ctnn::detail::stage_at<St, I + 1>;
            using PA = typename P::anchor;
            conv_pool_forward<Shape, Epi, typename PA::bound, PA::layer::op == PoolOp::max,
                              epilogue_of<P>>(ex.x_of(I), w, bias, ex.z_of(I), ex.y_of(I),
                                              ex.z_of(I + 1), ex.y_of(I + 1), ex.batch_, ex.ctx_,
                                              ex.stream_);
            return;
        }
        if constexpr (pool_fuses_through_fold<St, I + 2>) {
            if (!ex.ctx_.training) {
                // Inference: the BatchNorm stage I + 1 and the 2 x 2 pooling stage I + 2 in this
                // GEMM's store.
                using P = ctnn::detail::stage_at<St, I + 2>;
                using PA = typename P::anchor;
                conv_pool_forward<Shape, Epi, typename PA::bound, PA::layer::op == PoolOp::max,
                                  epilogue_of<P>>(
                    ex.x_of(I), w, bias, ex.z_of(I), ex.y_of(I), ex.z_of(I + 2), ex.y_of(I + 2),
                    ex.batch_, ex.ctx_, ex.stream_, Fusions::fold<I + 1>(ex, params));
                return;
            }
        }
        Fusions::with<I>(ex, params, [&](auto fold, auto join) {
            conv_forward<Shape, Epi, Ex::gemm_operands>(ex.x_of(I), w, bias, ex.z_of(I), ex.y_of(I),
                                                        ex.batch_, ex.ctx_, ex.stream_, fold, join);
        });
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using Shape = conv_shape_of<A>;
        const T* w = params + A::param_offset;
        if constexpr (A::param_count > 0) {
            T* gw = grads + A::param_offset;
            T* gb = A::layer::has_bias ? gw + std::size_t{Shape::og} * Shape::groups * Shape::taps
                                       : nullptr;
            conv_backward_weights<Shape, Ex::gemm_operands>(d, ex.x_of(I), gw, gb, ex.batch_,
                                                            ex.stream_);
        }
        if constexpr (Ex::flow::input_grad[I]) {
            conv_backward_data<Shape, source_epilogue<typename Ex::stages, I>, Ex::gemm_operands>(
                d, w, ex.epi_in_of(S::source), other, ex.batch_, ex.ctx_, ex.stream_);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::cuda::detail
