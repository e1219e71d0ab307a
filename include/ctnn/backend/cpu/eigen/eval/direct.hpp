// ctnn/backend/cpu/eigen/eval/direct.hpp — which stages of a model the CPU evaluates with ctnn's
// own convolution and pooling kernels instead of im2col + Eigen GEMM, and the scratch they need.
//
// Decided per stage list at compile time (CTNN_CPU_FUSED; without it every answer is no): a
// direct convolution (backend/cpu/conv.hpp, Winograd in winograd.hpp) for float, stride-1,
// one-group convolutions, its input gradient as a direct convolution too where the padding
// allows, Winograd-domain weight gradients, and the fusions of a ReLU + 2 x 2 max pool into the
// convolution's store (forward) and of the ReLU derivative into the pool's backward.
#pragma once
#include "../../../../config.hpp"
#include "../../../../core/type_list.hpp"
#include "../../../../graph/lowering.hpp"
#include "../../conv.hpp"
#include "../../conv_plan.hpp"
#include "../../pool.hpp"
#include "../../winograd.hpp"

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace ctnn::eigen::detail {

/// Direct: ctnn's direct and Winograd convolutions may run (not for a mixed precision, whose
/// convolutions are GEMMs on rounded operands: eval/mixed.hpp).
template <class Stages, class T, bool Direct = true>
struct DirectPlan {
    static constexpr std::size_t stage_count = Stages::size;
#if CTNN_CPU_FUSED
    /// A convolution stage whose forward pass runs as cpu::detail::DirectConv: float, stride 1,
    /// one group (conv_lowering::direct). Other convolutions, and every weight gradient, use
    /// im2col + GEMM.
    template <class S>
    static constexpr bool direct_conv = [] {
        if constexpr (Direct && S::kind == LayerKind::conv && std::is_same_v<T, float>)
            return conv_lowering<S>::direct;
        else return false;
    }();
    /// The kernel of a direct_conv stage: Winograd F(2 x 2, 3 x 3) or the direct convolution
    /// (conv_lowering::winograd). Both have the same interface (pad, pack, run).
    template <class S>
    using direct_of = typename cpu::detail::conv_kernel<cpu::simd::Native, S::anchor::bound::window,
                                                        conv_lowering<S>::out_channels,
                                                        conv_lowering<S>::winograd>::type;
    /// A direct_conv stage whose input gradient is a direct convolution of dZ as well (its
    /// padding is at most the kernel's extent on every side; the weight gradient stays a GEMM).
    template <class S>
    static constexpr bool direct_conv_dx = [] {
        if constexpr (direct_conv<S>) return conv_lowering<S>::direct_dx;
        else return false;
    }();
    template <class S>
    using direct_dx_of = typename cpu::detail::conv_kernel<
        cpu::simd::Native,
        cpu::detail::transposed_window(S::anchor::bound::window, conv_lowering<S>::out_channels),
        S::anchor::bound::window.c, conv_lowering<S>::winograd_dx>::type;
    /// A Winograd stage whose weight gradient is computed in the Winograd domain too
    /// (Winograd::accumulate_dw), sample by sample with its input gradient.
    template <class S>
    static constexpr bool winograd_dw = [] {
        if constexpr (direct_conv<S>)
            return conv_lowering<S>::winograd && (S::from_input || direct_conv_dx<S>);
        else return false;
    }();
    /// Floats of the direct scratch that an input gradient as a direct convolution uses: padded
    /// dZ, then the flipped and the packed weight.
    template <class S>
    static constexpr std::size_t dx_floats = [] {
        if constexpr (direct_conv_dx<S>)
            return direct_dx_of<S>::padded_floats + 2 * direct_dx_of<S>::packed_floats;
        else return std::size_t{0};
    }();
    /// Floats of the direct scratch: the largest padded input plus packed weight of a direct
    /// convolution (forward), or the input gradient's (dx_floats) plus, for winograd_dw, the
    /// padded input and transform buffers of the weight gradient and its accumulator.
    /// (for_each_type rather than a fold over a lambda: GCC 11 crashes on a lambda inside a pack
    /// expansion in a generic lambda.)
    static constexpr std::size_t direct_floats = [] {
        std::size_t m = 0;
        ctnn::detail::for_each_type(Stages{}, [&]<class S, std::size_t>() {
            if constexpr (direct_conv<S>)
                m = std::max(m, direct_of<S>::padded_floats + direct_of<S>::packed_floats);
            if constexpr (winograd_dw<S>)
                m = std::max(m,
                             dx_floats<S> + direct_of<S>::dw_floats + direct_of<S>::packed_floats);
            else m = std::max(m, dx_floats<S>);
        });
        return m;
    }();

private:
    /// Stage I's epilogue is one ReLU and stage I + 1, a max pool, is the only stage that reads
    /// its output: where both pool fusions below start.
    template <std::size_t I>
    static constexpr bool relu_then_sole_max_pool_at() {
        if constexpr (I + 1 >= stage_count) {
            return false;
        } else {
            using S = ctnn::detail::stage_at<Stages, I>;
            using P = ctnn::detail::stage_at<Stages, I + 1>;
            if constexpr (P::kind != LayerKind::pool || P::from_input) {
                return false;
            } else {
                constexpr std::size_t readers = []<class... X>(type_list<X...>) {
                    return ((!X::from_input && X::source == I ? 1 : 0) + ... + 0);
                }(Stages{});
                return P::anchor::layer::op == PoolOp::max && P::source == I && readers == 1 &&
                       cpu::detail::epilogue_is_relu<typename S::epilogue>;
            }
        }
    }
    /// Stage I + 1 is a 2 x 2, stride-2 max pool that stage I computes in its store.
    template <std::size_t I>
    static constexpr bool pool_fused_at() {
        if constexpr (!relu_then_sole_max_pool_at<I>()) {
            return false;
        } else {
            using S = ctnn::detail::stage_at<Stages, I>;
            using P = ctnn::detail::stage_at<Stages, I + 1>;
            if constexpr (!direct_conv<S>) {
                return false;
            } else {
                constexpr auto w = P::anchor::bound::window;
                return direct_of<S>::poolable && w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 &&
                       w.dh == 1 && w.dw == 1 && w.pt + w.pb + w.pl + w.pr == 0;
            }
        }
    }
    template <std::size_t I>
    static constexpr bool relu_in_pool_at() {
        if constexpr (!relu_then_sole_max_pool_at<I>()) {
            return false;
        } else {
            using S = ctnn::detail::stage_at<Stages, I>;
            using P = ctnn::detail::stage_at<Stages, I + 1>;
            return std::is_same_v<T, float> && S::has_anchor &&
                   cpu::detail::max_pool2_vectorized<P::anchor::bound::window>;
        }
    }

public:
    /// Stage I + 1 is a 2 x 2, stride-2 max pool that stage I computes in its store (Store::pool
    /// in inference, Store::y_and_pool in training): stage I is a direct_conv whose blocks hold
    /// whole row pairs, its epilogue one ReLU, and the pool the only reader of its output.
    template <std::size_t I>
    static constexpr bool pool_fused = pool_fused_at<I>();
    /// Stage I + 1 is a max pool whose vectorized backward (cpu::detail::max_pool2_backward)
    /// also applies stage I's ReLU derivative, so stage I skips its pass over dY.
    template <std::size_t I>
    static constexpr bool relu_in_pool = relu_in_pool_at<I>();
    /// Floats of a direct_conv stage's weight (PyTorch layout, bias excluded).
    template <class S>
    static constexpr std::size_t weight_floats =
        S::anchor::bound::taps_per_group* conv_lowering<S>::out_channels;
    /// Offset in the packed cache of stage I's copy of its weight and packing.
    template <std::size_t I>
    static constexpr std::size_t packed_offset = [] {
        std::size_t off = 0;
        ctnn::detail::for_each_type(Stages{}, [&]<class S, std::size_t J>() {
            if constexpr (J < I && direct_conv<S>)
                off += weight_floats<S> + direct_of<S>::packed_floats;
        });
        return off;
    }();
    static constexpr std::size_t packed_cache_floats = packed_offset<stage_count>;
#else
    template <class S>
    static constexpr bool direct_conv = false;
    template <class S>
    static constexpr bool direct_conv_dx = false;
    template <class S>
    static constexpr bool winograd_dw = false;
    static constexpr std::size_t direct_floats = 0;
    template <std::size_t I>
    static constexpr bool pool_fused = false;
    template <std::size_t I>
    static constexpr bool relu_in_pool = false;
    static constexpr std::size_t packed_cache_floats = 0;
#endif
    /// Pooling stages that a forward pass computes in the previous convolution's store:
    /// eigen::Executor::last_forward_stages() does not count them.
    static constexpr std::size_t fused_pools = []<std::size_t... I>(std::index_sequence<I...>) {
        return ((pool_fused<I> ? 1 : 0) + ... + 0);
    }
    (std::make_index_sequence<stage_count>{});
};

} // namespace ctnn::eigen::detail
