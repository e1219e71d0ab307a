// ctnn/backend/cuda/eval/rowwise.hpp — Softmax and LogSoftmax stages (kernels/rowwise.hpp) and
// the stages without an anchor (kernels/elementwise.hpp).
#pragma once
#include "../kernels/elementwise.hpp"
#include "../kernels/rowwise.hpp"
#include "common.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::cuda::detail {

template <>
struct Eval<LayerKind::rowwise> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        rowwise_forward<S::anchor::layer::log, epilogue_of<S>>(
            ex.x_of(I), ex.z_of(I), ex.y_of(I), ex.batch_, S::out_size, ex.ctx_, ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        if constexpr (Ex::flow::input_grad[I]) {
            rowwise_backward<S::anchor::layer::log, source_epilogue<typename Ex::stages, I>>(
                ex.z_of(I), d, ex.epi_in_of(S::source), other, ex.batch_, S::out_size, ex.ctx_,
                ex.stream_);
            std::swap(d, other);
        }
    }
};

/// A stage without an anchor: its epilogue over the stage input. Backward runs only for the
/// first stage of a branch (elsewhere the epilogue's derivative is fused into the store of the
/// stage after it): dX = dZ times the source's epilogue derivative.
template <>
struct Eval<LayerKind::elementwise> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        elementwise_forward<epilogue_of<S>>(ex.x_of(I), ex.y_of(I), ex.batch_ * S::out_size,
                                            ex.ctx_, ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        if constexpr (Ex::flow::input_grad[I]) {
            using SrcEpi = source_epilogue<typename Ex::stages, I>;
            if constexpr (SrcEpi::size > 0) {
                elementwise_backward<SrcEpi>(ex.epi_in_of(S::source), d, other,
                                             ex.batch_ * S::in_size, ex.ctx_, ex.stream_);
                std::swap(d, other);
            }
        }
    }
};

} // namespace ctnn::cuda::detail
