// ctnn/backend/cuda/eval/pool.hpp — pooling and upsampling stages (kernels/pool.hpp,
// kernels/resample.hpp): forward with the stage's epilogue fused, backward with the source's
// epilogue derivative fused. A pool computed in the previous convolution's store (conv.hpp)
// launches nothing in forward.
#pragma once
#include "../../../layers/pool.hpp"
#include "../kernels/pool.hpp"
#include "../kernels/resample.hpp"
#include "common.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::cuda::detail {

template <>
struct Eval<LayerKind::pool> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        pool_forward<typename A::bound, A::layer::op == PoolOp::max, epilogue_of<S>>(
            ex.x_of(I), ex.z_of(I), ex.y_of(I), ex.batch_, ex.ctx_, ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        if constexpr (Ex::flow::input_grad[I]) {
            using A = typename S::anchor;
            pool_backward<typename A::bound, A::layer::op == PoolOp::max,
                          source_epilogue<typename Ex::stages, I>>(
                ex.x_of(I), d, ex.epi_in_of(S::source), other, ex.batch_, ex.ctx_, ex.stream_);
            std::swap(d, other);
        }
    }
};

template <>
struct Eval<LayerKind::resample> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        upsample_forward<typename S::anchor::bound, epilogue_of<S>>(
            ex.x_of(I), ex.z_of(I), ex.y_of(I), ex.batch_, ex.ctx_, ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        if constexpr (Ex::flow::input_grad[I]) {
            upsample_backward<typename S::anchor::bound, source_epilogue<typename Ex::stages, I>>(
                d, ex.epi_in_of(S::source), other, ex.batch_, ex.ctx_, ex.stream_);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::cuda::detail
