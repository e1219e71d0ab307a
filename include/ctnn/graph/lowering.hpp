// ctnn/graph/lowering.hpp — lowering a model type to stages (one kernel each).
//
// A stage is an anchor operation followed by a fused epilogue of elementwise ops:
//   Dense<128>, ReLU, Dropout<0.2f>   ->  one stage: GEMM, epilogue (bias, ReLU, Dropout)
//   Input<4>, Tanh                    ->  one stage: no anchor, epilogue (Tanh)
//   Softmax, Sigmoid                  ->  one stage: row softmax, epilogue (Sigmoid)
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

/// A stage: an anchor (a LayerNode of kind dense or rowwise, or NoAnchor) and its epilogue.
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

namespace detail {

template <class Done, class Cur>
struct lower_state {
    using done = Done;
    using current = Cur; // void: no open stage
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
    if constexpr (N::kind == LayerKind::view || N::kind == LayerKind::input) {
        return std::type_identity<State>{};
    } else if constexpr (N::kind == LayerKind::elementwise) {
        if constexpr (std::is_void_v<Cur>)
            return std::type_identity<
                lower_state<Done, Stage<NoAnchor<typename N::in_shape>, Epilogue<N>>>>{};
        else return std::type_identity<lower_state<Done, typename append_op<Cur, N>::type>>{};
    } else {
        return std::type_identity<lower_state<close_t<Done, Cur>, Stage<N, Epilogue<>>>>{};
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

/// Per-sample workspace offsets of one stage (in Ts; multiplied by the batch at run time).
struct StageLayout {
    std::size_t z = 0;  ///< anchor output offset
    std::size_t y = 0;  ///< epilogue output offset
    bool own_z = false; ///< the stage stores an anchor output
    bool own_y = false; ///< the stage stores an epilogue output (else y aliases z)
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
        ((l[i].own_z = S::has_anchor, l[i].z = off, off += S::has_anchor ? S::out_size : 0,
          l[i].own_y = S::epilogue::size > 0, l[i].y = l[i].own_y ? off : l[i].z,
          off += l[i].own_y ? S::out_size : 0, ++i),
         ...);
        return std::pair{l, off};
    }
    static constexpr auto layout = make().first;
    /// Floats of activation storage per sample.
    static constexpr std::size_t per_sample = make().second;
    /// Floats per sample of each of the two gradient ping-pong buffers. Stage 0 never
    /// propagates to the model input, and every later stage's input is its predecessor's
    /// output, so the widest stage output bounds them all.
    static constexpr std::size_t grad_per_sample = std::max({std::size_t{1}, S::out_size...});
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
