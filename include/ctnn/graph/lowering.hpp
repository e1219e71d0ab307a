// ctnn/graph/lowering.hpp — lowering a model type to stages (one kernel each).
//
// A stage is an anchor operation followed by a fused epilogue of elementwise ops:
//   Dense<128>, ReLU, Dropout<0.2f>   ->  one stage: GEMM, epilogue (bias, ReLU, Dropout)
//   Input<4>, Tanh                    ->  one stage: no anchor, epilogue (Tanh)
//   Softmax, Sigmoid                  ->  one stage: row softmax, epilogue (Sigmoid)
//   Conv2D<32, 3, Same>, ReLU         ->  one stage: convolution (a GEMM), epilogue (bias, ReLU)
//   MaxPool2D<2>, ReLU                ->  one stage: max pooling, epilogue (ReLU)
//   Residual<Dense<8>, Tanh>, ReLU    ->  stage boundary before the body (the skip source is a
//                                         stored output); one stage: GEMM, epilogue (bias, Tanh);
//                                         one stage: add the skip, epilogue (ReLU)
// Views (Flatten, Reshape) reinterpret memory and produce no stage. Each backend evaluates a stage
// as one pass: one kernel on CUDA, one GEMM plus one fused sweep over the output on Eigen.
#pragma once
#include "../config.hpp"
#include "../core/type_list.hpp"
#include "../expr/context.hpp"
#include "sequential.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ctnn {

/// The anchor of a stage that has only an elementwise epilogue.
template <class In>
struct NoAnchor {
    using in_shape = In;
    using out_shape = In;
    static constexpr LayerKind kind = LayerKind::elementwise;
    static constexpr std::size_t in_size = In::size;
    static constexpr std::size_t out_size = In::size;
    static constexpr std::size_t param_count = 0;
};

/// A chain of elementwise layer nodes applied one after the other.
template <class... Ops>
struct Epilogue {
    static constexpr std::size_t size = sizeof...(Ops);
    using ops = type_list<Ops...>;

    /// Applies every op to v (a real, or a Dual to get the chain's derivative as well).
    template <class S>
    CTNN_HOST_DEVICE static S apply(S v, ElemCtx ctx) {
        ((ctx.layer = static_cast<std::uint32_t>(Ops::index),
          v = Ops::layer::template apply<S>(v, ctx)),
         ...);
        return v;
    }
};

/// A stage: an anchor (a LayerNode of kind dense, rowwise, conv or pool, or NoAnchor) and its
/// epilogue.
/// Per sample it reads in_size values and writes out_size values.
template <class Anchor, class Epi>
struct Stage {
    using anchor = Anchor;
    using epilogue = Epi;
    static constexpr LayerKind kind = Anchor::kind;
    static constexpr std::size_t in_size = Anchor::in_size;
    static constexpr std::size_t out_size = Anchor::out_size;
    static constexpr bool has_anchor = kind != LayerKind::elementwise;
};

/// The anchor of a Residual's join stage: z = x + skip, where x is the body's output (the
/// previous stage's) and skip the tensor that entered the block: the output of stage
/// SkipPlusOne - 1, or the model input when SkipPlusOne is 0. Node is the ResidualAdd marker.
template <class Node, std::size_t SkipPlusOne>
struct AddAnchor {
    using node = Node;
    using layer = typename Node::layer;
    using in_shape = typename Node::in_shape;
    using out_shape = typename Node::out_shape;
    static constexpr LayerKind kind = LayerKind::add;
    static constexpr std::size_t index = Node::index;
    static constexpr std::size_t in_size = in_shape::size;
    static constexpr std::size_t out_size = in_shape::size;
    static constexpr std::size_t param_count = 0;
    static constexpr bool skip_is_input = SkipPlusOne == 0;
    /// The stage whose output is the skip (valid unless skip_is_input).
    static constexpr std::size_t skip_stage = SkipPlusOne == 0 ? 0 : SkipPlusOne - 1;
    /// The first stage of the body: the skip gradient joins after its backward pass.
    static constexpr std::size_t body_first = SkipPlusOne;
};

namespace detail {

/// Lowering state: the closed stages, the open one (void: none) and the open Residuals (a stack
/// of skip sources, as SkipPlusOne values).
template <class Done, class Cur, class Skips = type_list<>>
struct lower_state {
    using done = Done;
    using current = Cur; // void: no open stage
    using skips = Skips;
};

template <class S, class Op>
struct append_op;
template <class A, class... Ops, class Op>
struct append_op<Stage<A, Epilogue<Ops...>>, Op> {
    using type = Stage<A, Epilogue<Ops..., Op>>;
};

template <class Done, class Cur>
using close_t = std::conditional_t<std::is_void_v<Cur>, Done, push_back_t<Done, Cur>>;

template <class State, class N>
constexpr auto lower_step() {
    using Done = typename State::done;
    using Cur = typename State::current;
    using Skips = typename State::skips;
    if constexpr (N::kind == LayerKind::view || N::kind == LayerKind::input) {
        return std::type_identity<State>{};
    } else if constexpr (N::kind == LayerKind::elementwise) {
        if constexpr (std::is_void_v<Cur>)
            return std::type_identity<
                lower_state<Done, Stage<NoAnchor<typename N::in_shape>, Epilogue<N>>, Skips>>{};
        else
            return std::type_identity<lower_state<Done, typename append_op<Cur, N>::type, Skips>>{};
    } else if constexpr (N::kind == LayerKind::residual_begin) {
        // The skip source must be a stored tensor: end the open stage here.
        using Closed = close_t<Done, Cur>;
        return std::type_identity<lower_state<
            Closed, void, push_back_t<Skips, std::integral_constant<std::size_t, Closed::size>>>>{};
    } else if constexpr (N::kind == LayerKind::add) {
        using Skip = typename last<Skips>::type;
        return std::type_identity<
            lower_state<close_t<Done, Cur>, Stage<AddAnchor<N, Skip::value>, Epilogue<>>,
                        typename pop_back<Skips>::type>>{};
    } else {
        return std::type_identity<lower_state<close_t<Done, Cur>, Stage<N, Epilogue<>>, Skips>>{};
    }
}

template <class State, class Nodes>
struct lower_all;
template <class State>
struct lower_all<State, type_list<>> {
    using type = close_t<typename State::done, typename State::current>;
};
template <class State, class N, class... R>
struct lower_all<State, type_list<N, R...>> {
    using next = typename decltype(lower_step<State, N>())::type;
    using type = typename lower_all<next, type_list<R...>>::type;
};

} // namespace detail

/// How the CPU backend lowers a convolution stage: im2col of `chunk` samples at a time into a
/// (chunk * pixels) x taps matrix, one GEMM per group with the weights, then the epilogue. The
/// scratch (the im2col matrix and the GEMM output) depends only on the model type, never on the
/// batch. Samples are chunked so that one GEMM has about `gemm_rows` rows even on small maps.
template <class S>
struct conv_lowering {
    using bound = typename S::anchor::bound;
    static constexpr std::size_t gemm_rows = 512;
    static constexpr std::size_t pixels = bound::window.out_pixels();           ///< output pixels
    static constexpr std::size_t taps = bound::window.c * bound::window.taps(); ///< all groups
    static constexpr std::size_t out_channels = bound::out_channels;
    static constexpr std::size_t chunk = (gemm_rows + pixels - 1) / pixels;
    /// Floats of scratch: the im2col matrix (also its gradient) and the GEMM output (or dZ).
    static constexpr std::size_t scratch = chunk * pixels * (taps + out_channels);
};

namespace detail {
template <class S>
constexpr std::size_t stage_scratch() {
    if constexpr (S::kind == LayerKind::conv) return conv_lowering<S>::scratch;
    else return 0;
}
/// Values per sample of the gradient a Residual's join keeps for its skip connection.
template <class S>
constexpr std::size_t stage_skip_grad() {
    if constexpr (S::kind == LayerKind::add) return S::out_size;
    else return 0;
}
/// Batch-independent values a stage keeps from forward to backward: a BatchNorm stage keeps the
/// mean and 1/sqrt(var + eps) it normalized with, per channel.
template <class S>
constexpr std::size_t stage_stats() {
    if constexpr (S::kind == LayerKind::batch_norm) return 2 * S::anchor::bound::channels;
    else return 0;
}
} // namespace detail

/// Per-sample workspace offsets of one stage (in Ts; multiplied by the batch at run time).
struct StageLayout {
    std::size_t z = 0;         ///< anchor output offset
    std::size_t y = 0;         ///< epilogue output offset
    bool own_z = false;        ///< the stage stores an anchor output
    bool own_y = false;        ///< the stage stores an epilogue output (else y aliases z)
    std::size_t stats = 0;     ///< offset of the stage's batch-independent statistics (BatchNorm)
    std::size_t skip_grad = 0; ///< per-sample offset of a Residual join's skip gradient
};

/// The activation workspace of a stage list, per sample, computed at compile time: each stage
/// keeps its anchor output Z (if it has an anchor) and its epilogue output Y (if it has an
/// epilogue; otherwise Y aliases Z). Both backends use this layout.
template <class Stages>
struct workspace_plan;
template <class... S>
struct workspace_plan<type_list<S...>> {
    static constexpr std::size_t count = sizeof...(S);
    static constexpr auto make() {
        std::array<StageLayout, count> l{};
        std::size_t off = 0, i = 0;
        std::size_t stats = 0, skip = 0;
        ((l[i].own_z = S::has_anchor, l[i].z = off, off += S::has_anchor ? S::out_size : 0,
          l[i].own_y = S::epilogue::size > 0, l[i].y = l[i].own_y ? off : l[i].z,
          off += l[i].own_y ? S::out_size : 0, l[i].stats = stats,
          stats += detail::stage_stats<S>(), l[i].skip_grad = skip,
          skip += detail::stage_skip_grad<S>(), ++i),
         ...);
        return std::tuple{l, off, stats, skip};
    }
    static constexpr auto layout = std::get<0>(make());
    /// Floats of activation storage per sample.
    static constexpr std::size_t per_sample = std::get<1>(make());
    /// Floats of batch-independent statistics kept from forward to backward (BatchNorm).
    static constexpr std::size_t stats = std::get<2>(make());
    /// Floats per sample of the skip gradients Residual joins keep during backward.
    static constexpr std::size_t skip_grad_per_sample = std::get<3>(make());
    /// Floats per sample of each of the two gradient ping-pong buffers. Stage 0 never
    /// propagates to the model input, and every later stage's input is its predecessor's
    /// output, so the widest stage output bounds them all.
    static constexpr std::size_t grad_per_sample = std::max({std::size_t{1}, S::out_size...});
    /// Floats of batch-independent scratch the CPU backend shares between stages (im2col).
    static constexpr std::size_t scratch =
        std::max({std::size_t{0}, detail::stage_scratch<S>()...});
};

/// The stages of a model, in execution order (a type_list of Stage<...>).
template <class Net>
using stages_of =
    typename detail::lower_all<detail::lower_state<type_list<>, void>, typename Net::nodes>::type;

/// Floats of activation storage per sample that a training forward pass keeps for backward.
template <class Net>
inline constexpr std::size_t activation_floats_per_sample =
    workspace_plan<stages_of<Net>>::per_sample;
/// Floats per sample of each of the two gradient buffers of a backward pass.
template <class Net>
inline constexpr std::size_t gradient_floats_per_sample =
    workspace_plan<stages_of<Net>>::grad_per_sample;

/// Number of stages (kernels) of one forward pass.
template <class Net>
inline constexpr std::size_t forward_stage_count = stages_of<Net>::size;

} // namespace ctnn
