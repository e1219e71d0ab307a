// ctnn/backend/cuda/eval/fusion.hpp — stages evaluated in the GEMM store of the stage before them.
//
// In inference, a BatchNorm right after a Conv2D or Dense stage with an empty epilogue runs in
// that stage's GEMM store (kernels/fold.hpp; folds_into_previous, graph/fold.hpp). A
// two-branch Add join whose branch ends in that stage runs in the store too: in every pass right
// after the stage (join_fuses_into_previous), or in inference after a folded BatchNorm
// (join_fuses_through_fold); kernels/join.hpp FusedJoin. The fused stages launch nothing.
#pragma once
#include "../../../graph/fold.hpp"
#include "../kernels/fold.hpp"
#include "../kernels/join.hpp"
#include "../schedule.hpp"
#include "common.hpp"

#include <cstddef>
#include <cstdint>

namespace ctnn::cuda::detail {

/// The fold functor of BatchNorm stage J into stage J - 1 (folds_into_previous<Stages, J>).
template <class Stages, std::size_t J, class T, bool = folds_into_previous<Stages, J>>
struct fold_for {
    using type = NoFold;
};
template <class Stages, std::size_t J, class T>
struct fold_for<Stages, J, T, true> {
    using Bn = ctnn::detail::stage_at<Stages, J>;
    // BatchNorm's Y is not stored when a join evaluated in the same store is its only reader.
    using type = FoldedNorm<static_cast<std::uint32_t>(Bn::anchor::bound::channels),
                            static_cast<std::uint32_t>(Bn::anchor::bound::spatial), epilogue_of<Bn>,
                            T, !join_fuses_through_fold<Stages, J + 1>>;
};

struct Fusions {
    /// BatchNorm stage J evaluated in the previous stage's GEMM store (inference): its
    /// parameters, running statistics and outputs, and its mode recorded for a backward pass.
    template <std::size_t J, class Ex, class T>
    static auto fold(Ex& ex, const T* params) ->
        typename fold_for<typename Ex::stages, J, T>::type {
        using A = typename ctnn::detail::stage_at<typename Ex::stages, J>::anchor;
        constexpr std::size_t C = A::bound::channels;
        const T* gamma = params + A::param_offset;
        ex.bn_training_[J] = false;
        return {gamma,        gamma + C,  ex.buffers_ + A::buffer_offset,
                ex.z_of(J),   ex.y_of(J), ex.stats_.data() + Ex::plan::layout[J].stats,
                A::layer::eps};
    }

    /// Join stage J evaluated in a GEMM store: the other branch's output (the source, or the
    /// model input, for an identity branch) and the join's outputs.
    template <std::size_t J, class Ex>
    static auto join(Ex& ex) {
        using S = ctnn::detail::stage_at<typename Ex::stages, J>;
        using A = typename S::anchor;
        using Other = ctnn::detail::stage_at<typename A::branches, 1 - A::last_computed>;
        return FusedJoin<epilogue_of<S>, A::last_computed == 1, typename Ex::value_type>{
            ex.template branch_output<A, Other>(), ex.z_of(J), ex.y_of(J)};
    }

    /// Calls f(fold, join) with what the GEMM store of stage I evaluates besides stage I in this
    /// pass: the BatchNorm stage I + 1 folded in (inference), and a join after it (inference) or
    /// right after stage I (every pass); NoFold / NoJoin otherwise.
    template <std::size_t I, class Ex, class T, class F>
    static void with(Ex& ex, const T* params, F&& f) {
        using St = typename Ex::stages;
        if constexpr (folds_into_previous<St, I + 1>) {
            if (!ex.ctx_.training) {
                if constexpr (join_fuses_through_fold<St, I + 2>)
                    f(fold<I + 1>(ex, params), join<I + 2>(ex));
                else f(fold<I + 1>(ex, params), NoJoin{});
                return;
            }
        }
        if constexpr (join_fuses_into_previous<St, I + 1>) f(NoFold{}, join<I + 1>(ex));
        else f(NoFold{}, NoJoin{});
    }
};

} // namespace ctnn::cuda::detail
