// ctnn/backend/cuda/eval/join.hpp — the join of a block's branches (kernels/join.hpp).
//
// Forward: one kernel over the branch outputs (an identity branch reads the source), the
// join's epilogue fused. Backward: one kernel gives each computed branch its dL/dZ (its last
// stage's epilogue' fused) and starts the source's accumulator with the identity branches'
// share; d leaves as the last computed branch's dL/dZ (without computed branches, as the
// source's). A join evaluated in a GEMM store (fusion.hpp) launches nothing in forward.
#pragma once
#include "../../../core/type_list.hpp"
#include "../kernels/join.hpp"
#include "common.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::cuda::detail {

/// The epilogue of each branch's last stage of a join (identity branches: stage 0's, unused), as
/// a type_list. At namespace scope: nvcc names kernel template arguments through it.
template <class Stages, class Branches>
struct branch_epilogues;
template <class Stages, class... Br>
struct branch_epilogues<Stages, type_list<Br...>> {
    using type =
        type_list<epilogue_of<ctnn::detail::stage_at<Stages, Br::identity ? 0 : Br::last>>...>;
};

template <class A>
using join_shape_of = JoinShape<A::op, A::out_size, A::in_size, typename A::branches>;

template <>
struct Eval<LayerKind::add> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        using Geo = join_shape_of<A>;
        JoinInputs<T, Geo::count> in{};
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            in.y[K] = ex.template branch_output<A, Br>();
        });
        join_forward<Geo, epilogue_of<S>>(in, ex.z_of(I), ex.y_of(I), ex.batch_, ex.ctx_,
                                          ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        if constexpr (Ex::flow::input_grad[I]) {
            using A = typename S::anchor;
            using Geo = join_shape_of<A>;
            using St = typename Ex::stages;
            constexpr bool acc = Ex::flow::template source_grad_needed<A>;
            T* kept = ex.kept_of(I);
            JoinGrads<T, Geo::count> g{};
            ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
                if constexpr (!Br::identity) {
                    g.g[K] = K == A::last_computed ? other : kept + Br::slot * ex.batch_;
                    g.z[K] = ex.epi_in_of(Br::last);
                }
            });
            using Epis = typename branch_epilogues<St, typename A::branches>::type;
            const T* zsrc = nullptr;
            T* acc_ptr = nullptr;
            if constexpr (acc) {
                zsrc = ex.epi_in_of(A::source);
                acc_ptr = kept + A::acc_offset * ex.batch_;
            }
            join_backward<Geo, Epis, source_epilogue<St, I>, acc>(d, g, acc_ptr, zsrc, ex.batch_,
                                                                  ex.ctx_, ex.stream_);
            if constexpr (A::computed > 0) std::swap(d, other);
            else if constexpr (acc) d = acc_ptr;
        }
    }
};

} // namespace ctnn::cuda::detail
