// ctnn/backend/cpu/eigen/eval/pool.hpp — pooling stages (MaxPool2D, AvgPool2D, GlobalAvgPool).
//
// Direct window loops (../window.hpp); max pooling finds each window's argmax again in backward.
// With CTNN_CPU_FUSED on AVX-512, a 2 x 2 max pool's backward is vectorized
// (cpu::detail::max_pool2_backward) and may also apply the ReLU derivative of the stage before
// it (DirectPlan::relu_in_pool). A pool fused into the previous convolution's store
// (DirectPlan::pool_fused) is not evaluated here in forward (eigen::Executor skips it).
#pragma once
#include "../../pool.hpp"
#include "../window.hpp"
#include "common.hpp"
#include "direct.hpp"
#include "epilogue.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::pool> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        pool_forward<A::layer::op>(A::bound::window, ex.x_of(I), ex.batch_, ex.z_of(I));
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(ex.batch_, ex.ctx_, ex.z_of(I), nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        using A = typename S::anchor;
        if constexpr (Ex::flow::input_grad[I]) {
            constexpr auto G = A::bound::window;
#if CTNN_CPU_FUSED && defined(__AVX512F__)
            if constexpr (std::is_same_v<T, float> && A::layer::op == PoolOp::max &&
                          cpu::detail::max_pool2_vectorized<G>)
                cpu::detail::max_pool2_backward<Ex::direct::template relu_in_pool<I - 1>>(
                    G, ex.x_of(I), d, ex.batch_, other);
            else
#endif
                pool_backward<A::layer::op>(G, ex.x_of(I), d, ex.batch_, other);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
