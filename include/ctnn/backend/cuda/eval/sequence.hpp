// ctnn/backend/cuda/eval/sequence.hpp — Embedding and step-pooling stages
// (kernels/sequence.hpp): one kernel each way, the epilogue fused forward.
#pragma once
#include "../../../layers/embedding.hpp"
#include "../../../layers/sequence.hpp"
#include "../kernels/sequence.hpp"
#include "common.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::cuda::detail {

/// Embedding: a gather forward; the weight gradient backward (ids have no gradient). The ids
/// are checked on the host before they are uploaded (check_token_ids, layers/embedding.hpp).
template <>
struct Eval<LayerKind::embedding> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        embedding_forward<epilogue_of<S>>(ex.x_of(I), params + A::param_offset, ex.z_of(I),
                                          ex.y_of(I), ex.batch_ * A::bound::steps, A::layer::dim,
                                          ex.ctx_, ex.stream_);
        if constexpr (A::layer::masks) // the lengths masking the stages after it (mask_plan)
            sequence_lengths(ex.x_of(I), ex.aux_of(I), ex.batch_, A::bound::steps, ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T* grads, T*& d, T*&) {
        using A = typename S::anchor;
        static_assert(!Ex::flow::input_grad[I],
                      "Model::input_gradient: this model's input is token ids (Embedding), "
                      "which have no gradient");
        embedding_backward(ex.x_of(I), d, grads + A::param_offset, ex.batch_ * A::bound::steps,
                           A::layer::dim, A::layer::vocab, ex.stream_);
    }
};

/// LastStep and MeanOverSteps.
template <>
struct Eval<LayerKind::step_pool> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        step_pool_forward<A::layer::op == StepPool::last, epilogue_of<S>>(
            ex.x_of(I), ex.lengths_of(I), ex.z_of(I), ex.y_of(I), ex.batch_, A::bound::steps,
            A::bound::features, ex.ctx_, ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        using A = typename S::anchor;
        if constexpr (Ex::flow::input_grad[I]) {
            step_pool_backward<A::layer::op == StepPool::last,
                               source_epilogue<typename Ex::stages, I>>(
                d, ex.epi_in_of(S::source), ex.lengths_of(I), other, ex.batch_, A::bound::steps,
                A::bound::features, ex.ctx_, ex.stream_);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::cuda::detail
