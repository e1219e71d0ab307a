// ctnn/backend/cpu/eigen/eval/join.hpp — the join of a block's branches (Add, Residual: a sum;
// Concat: per-sample concatenation).
//
// Backward hands dZ to the branches: the last computed branch's gradient stays in d (the runner
// continues with it), the other computed branches' are kept for the runner to resume from, and
// the identity branches' shares start the block source's accumulator (backend/runner.hpp).
#pragma once
#include "../../../../core/type_list.hpp"
#include "../../../../graph/branch.hpp"
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::add> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::out_size;
        const std::size_t batch = ex.batch_;
        T* z = ex.z_of(I);
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            const T* y = ex.template branch_output<A, Br>();
            if constexpr (A::op == JoinOp::concat) {
                for (std::size_t b = 0; b < batch; ++b)
                    std::copy_n(y + b * Br::size, Br::size, z + b * n + Br::offset);
            } else if constexpr (K == 0) {
                std::copy_n(y, batch * n, z);
            } else {
                for (std::size_t i = 0; i < batch * n; ++i) z[i] += y[i];
            }
        });
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(batch, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::out_size, n_src = A::in_size;
        const std::size_t batch = ex.batch_;
        T* kept = ex.kept_of(I);
        T* acc = kept + A::acc_offset * batch;
        // The slice of dZ that is branch Br's gradient, written (or added) into dst.
        auto slice = [&]<class Br>(T* dst, bool add) {
            for (std::size_t b = 0; b < batch; ++b) {
                const T* src = d + b * n + Br::offset;
                T* out = dst + b * Br::size;
                if (add)
                    for (std::size_t j = 0; j < Br::size; ++j) out[j] += src[j];
                else std::copy_n(src, Br::size, out);
            }
        };
        // The source's accumulator, unless no gradient of the source is needed (liveness).
        constexpr bool acc_needed = Ex::flow::template source_grad_needed<A>;
        if constexpr (acc_needed) std::fill_n(acc, batch * n_src, T(0));
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            if constexpr (Br::identity) {
                if constexpr (acc_needed) slice.template operator()<Br>(acc, true);
            } else if constexpr (K != A::last_computed) {
                slice.template operator()<Br>(kept + Br::slot * batch, false);
            }
        });
        if constexpr (A::computed > 0) {
            using Last = ctnn::detail::stage_at<typename A::branches, A::last_computed>;
            if constexpr (A::op == JoinOp::concat) {
                slice.template operator()<Last>(other, false);
                std::swap(d, other);
            } // a sum hands dZ itself on: it stays in d
        } else if constexpr (acc_needed) {
            d = acc; // only identity branches: the gradient of the source is complete
        }
    }
};

} // namespace ctnn::eigen::detail
