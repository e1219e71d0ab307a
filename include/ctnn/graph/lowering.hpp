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
//   Concat<Dense<4>, Branch<Dense<2>, Tanh>>, ReLU
//                                     ->  stage boundary before the block; one stage per branch
//                                         chain, each branch's first stage reading the block input;
//                                         one stage: concatenate, epilogue (ReLU)
// Views (Flatten, Reshape) reinterpret memory and produce no stage. Each backend evaluates a stage
// as one pass: one kernel on CUDA, one GEMM plus one fused sweep over the output on Eigen.
#pragma once
#include "../config.hpp"
#include "../core/type_list.hpp"
#include "../expr/context.hpp"
#include "../layers/activation.hpp"
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
    /// Values per sample the ops apply to (their common input size; 0 without ops).
    static constexpr std::size_t width = [] {
        if constexpr (size > 0) return std::tuple_element_t<0, std::tuple<Ops...>>::in_size;
        else return std::size_t{0};
    }();

    /// Applies every op to v (a real, or a Dual to get the chain's derivative as well). ctx.index
    /// is the element's index within the executor's batch; ctx.sample0 shifts it to the index
    /// within the whole batch.
    template <class S>
    CTNN_HOST_DEVICE static S apply(S v, ElemCtx ctx) {
        if constexpr (size > 0) ctx.index += ctx.sample0 * width;
        ((ctx.layer = static_cast<std::uint32_t>(Ops::index),
          v = Ops::layer::template apply<S>(v, ctx)),
         ...);
        return v;
    }
};

/// The kernel-facing form of an epilogue whose ops read nothing of their context (activations:
/// every op is an Activation<E>): the bare layer types, without the nodes' shapes, positions and
/// offsets, so that a kernel instantiated for "bias, ReLU" serves every model and stage with that
/// epilogue. Applies the ops as Epilogue::apply does.
template <class... Layers>
struct KernelEpilogue {
    static constexpr std::size_t size = sizeof...(Layers);
    template <class S>
    CTNN_HOST_DEVICE static S apply(S v, ElemCtx ctx) {
        ((v = Layers::template apply<S>(v, ctx)), ...);
        return v;
    }
};

namespace detail {
/// Whether layer L is an Activation<E> (its apply reads only its value).
template <class L>
concept context_free_op = requires {
    L::expression;
}
&&std::is_base_of_v<Activation<L::expression>, L>;

template <class Epi>
struct kernel_epilogue_of {
    using type = Epi;
};
template <class... Ops>
    requires(context_free_op<typename Ops::layer>&&...)
struct kernel_epilogue_of<Epilogue<Ops...>> {
    using type = KernelEpilogue<typename Ops::layer...>;
};
} // namespace detail

/// What kernels are instantiated with for epilogue Epi: KernelEpilogue when every op is context
/// free, else Epi itself (Dropout and user layers read the element's index and layer).
template <class Epi>
using kernel_epilogue = typename detail::kernel_epilogue_of<Epi>::type;

/// A stage: an anchor (a LayerNode of kind dense, rowwise, conv, pool, ..., a JoinAnchor, or
/// NoAnchor) and its epilogue. Per sample it reads in_size values and writes out_size values.
/// SrcPlusOne says where its input comes from: 0 the model input, k + 1 the output of stage k
/// (the previous stage in a chain; the block's source for the first stage of a branch).
template <class Anchor, class Epi, std::size_t SrcPlusOne>
struct Stage {
    using anchor = Anchor;
    using epilogue = Epi;
    static constexpr LayerKind kind = Anchor::kind;
    static constexpr std::size_t in_size = Anchor::in_size;
    static constexpr std::size_t out_size = Anchor::out_size;
    static constexpr bool has_anchor = kind != LayerKind::elementwise;
    /// The stage reads the model input (it computes no input gradient).
    static constexpr bool from_input = SrcPlusOne == 0;
    /// The stage whose output this stage reads (valid unless from_input). For a join stage: the
    /// block's source, which its identity branches read.
    static constexpr std::size_t source = SrcPlusOne == 0 ? 0 : SrcPlusOne - 1;
};

/// One branch of a join: the stages [First, End) (First == End: an identity branch, which reads
/// the block's source), its output values per sample, its offset in the joined sample (Concat;
/// 0 for Add) and, for a branch whose gradient the join keeps for later, the offset of that
/// gradient in the join's kept-gradient slot.
template <std::size_t First, std::size_t End, std::size_t Size, std::size_t Offset,
          std::size_t Slot>
struct BranchSpan {
    static constexpr bool identity = First == End;
    static constexpr std::size_t first = First;
    static constexpr std::size_t last = End == 0 ? 0 : End - 1; ///< valid unless identity
    static constexpr std::size_t size = Size;
    static constexpr std::size_t offset = Offset;
    static constexpr std::size_t slot = Slot;
};

/// The anchor of a join stage (Add, Concat, Residual): z = the sum or the concatenation of the
/// branch outputs. Node is the join marker; SrcPlusOne the block's source (as Stage's); Branches
/// a type_list of BranchSpan, in branch order.
///
/// Backward (both backends, reverse stage order): the join hands each branch the gradient of its
/// output: the last computed branch (whose stages come right before the join) at once, the
/// others through the kept slot (`kept`, per sample) when the backward pass reaches their last
/// stage; identity branches add theirs to the accumulator (`acc`, the gradient of the source).
/// After the first stage of each computed branch, the gradient of the source it produced is
/// added to the accumulator, or, after the first computed branch (the earliest stages), the
/// accumulator is added to it and the pass continues into the source.
template <class Node, std::size_t SrcPlusOne, class Branches>
struct JoinAnchor {
    using node = Node;
    using layer = typename Node::layer;
    using in_shape = typename Node::in_shape; ///< the block's source shape
    using out_shape = typename Node::out_shape;
    using branches = Branches;
    static constexpr LayerKind kind = LayerKind::add;
    static constexpr JoinOp op = layer::op;
    static constexpr std::size_t index = Node::index;
    static constexpr std::size_t in_size = in_shape::size;
    static constexpr std::size_t out_size = out_shape::size;
    static constexpr std::size_t param_count = 0;
    static constexpr bool from_input = SrcPlusOne == 0;
    static constexpr std::size_t source = SrcPlusOne == 0 ? 0 : SrcPlusOne - 1;
    static constexpr std::size_t branch_count = Branches::size;

    // [0] computed branches, [1] index of the first computed, [2] of the last computed,
    // [3] first stage of the first computed branch, [4] kept floats per sample of branches.
    static constexpr std::array<std::size_t, 5> facts_ = [] {
        std::array<std::size_t, 5> f{0, branch_count, branch_count, 0, 0};
        std::size_t k = 0;
        detail::for_each_type(Branches{}, [&]<class B, std::size_t>() {
            if (!B::identity) {
                if (f[0]++ == 0) f[1] = k, f[3] = B::first;
                f[2] = k;
            }
            ++k;
        });
        detail::for_each_type(Branches{}, [&]<class B, std::size_t K>() {
            if (!B::identity && K != f[2]) f[4] = std::max(f[4], B::slot + B::size);
        });
        return f;
    }();

    /// Branches with stages (the others are identities).
    static constexpr std::size_t computed = facts_[0];
    /// The first and the last branch with stages (branch_count: none).
    static constexpr std::size_t first_computed = facts_[1];
    static constexpr std::size_t last_computed = facts_[2];
    /// Offset, per sample, of the source-gradient accumulator in the kept slot.
    static constexpr std::size_t acc_offset = facts_[4];
    /// Floats per sample the join keeps during backward (workspace_plan::skip_grad_per_sample):
    /// the gradients of the computed branches but the last, and the source's accumulator (the
    /// model input's, at the input: Model::input_gradient).
    static constexpr std::size_t kept = acc_offset + in_size;

    // The names of a Residual's join (a block with one identity branch and one body).
    static constexpr bool skip_is_input = from_input;
    static constexpr std::size_t skip_stage = source;
    /// The first stage of the (first) body: the skip gradient joins after its backward pass.
    static constexpr std::size_t body_first = facts_[3];
};

namespace detail {

inline constexpr std::size_t no_branch = static_cast<std::size_t>(-1);

/// A block being lowered: its source (as SrcPlusOne), the first stage of its open branch
/// (no_branch: none yet) and its closed branches (a type_list of index pairs).
template <std::size_t Src, std::size_t First, class Spans>
struct open_block {
    static constexpr std::size_t src = Src;
    static constexpr std::size_t first = First;
    using spans = Spans;
};
template <std::size_t First, std::size_t End>
struct span_pair {
    static constexpr std::size_t first = First;
    static constexpr std::size_t end = End;
};

/// Lowering state: the closed stages, the open one (void: none), the input of the next stage to
/// open (as SrcPlusOne) and the open blocks (a stack of open_block).
template <class Done, class Cur, std::size_t Src = 0, class Blocks = type_list<>>
struct lower_state {
    using done = Done;
    using current = Cur; // void: no open stage
    static constexpr std::size_t src = Src;
    using blocks = Blocks;
};

template <class S, class Op>
struct append_op;
template <class A, class... Ops, std::size_t Src, class Op>
struct append_op<Stage<A, Epilogue<Ops...>, Src>, Op> {
    using type = Stage<A, Epilogue<Ops..., Op>, Src>;
};

template <class Done, class Cur>
using close_t = std::conditional_t<std::is_void_v<Cur>, Done, push_back_t<Done, Cur>>;

/// Ends the open stage (if any): the closed list, and the input of the next stage.
template <class Done, class Cur, std::size_t Src>
struct close_stage {
    using done = close_t<Done, Cur>;
    static constexpr std::size_t src = std::is_void_v<Cur> ? Src : done::size;
};

/// The BranchSpans of a join: Spans (index pairs), the join's source size, the closed stages and
/// the join's operation.
template <class Spans, std::size_t SourceSize, class Done, JoinOp Op>
struct make_spans;
template <class... P, std::size_t SourceSize, class... D, JoinOp Op>
struct make_spans<type_list<P...>, SourceSize, type_list<D...>, Op> {
    static constexpr std::size_t n = sizeof...(P);
    /// Per branch: first stage, end, size, offset (Concat), kept-gradient slot.
    static constexpr auto spans = [] {
        constexpr std::array<std::size_t, sizeof...(D) + 1> sizes{D::out_size..., 0};
        constexpr std::array<std::size_t, n> first{P::first...}, end{P::end...};
        std::array<std::array<std::size_t, 5>, n> r{};
        std::size_t off = 0, slot = 0, last = n;
        for (std::size_t k = 0; k < n; ++k)
            if (first[k] != end[k]) last = k;
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t size = first[k] == end[k] ? SourceSize : sizes[end[k] - 1];
            r[k] = {first[k], end[k], size, Op == JoinOp::concat ? off : 0, slot};
            off += size;
            if (first[k] != end[k] && k != last) slot += size; // kept for later
        }
        return r;
    }();
    template <std::size_t... K>
    static auto make(std::index_sequence<K...>) -> type_list<
        BranchSpan<spans[K][0], spans[K][1], spans[K][2], spans[K][3], spans[K][4]>...>;
    using type = decltype(make(std::make_index_sequence<n>{}));
};

template <class List, class T>
using replace_last_t = push_back_t<typename pop_back<List>::type, T>;

template <class State, class N>
constexpr auto lower_step() {
    using Done = typename State::done;
    using Cur = typename State::current;
    using Blocks = typename State::blocks;
    constexpr std::size_t Src = State::src;
    using C = close_stage<Done, Cur, Src>;
    if constexpr (N::kind == LayerKind::view || N::kind == LayerKind::input) {
        return std::type_identity<State>{};
    } else if constexpr (N::kind == LayerKind::elementwise) {
        if constexpr (std::is_void_v<Cur>)
            return std::type_identity<lower_state<
                Done, Stage<NoAnchor<typename N::in_shape>, Epilogue<N>, Src>, Src, Blocks>>{};
        else
            return std::type_identity<
                lower_state<Done, typename append_op<Cur, N>::type, Src, Blocks>>{};
    } else if constexpr (N::kind == LayerKind::residual_begin &&
                         is_branch_start<typename N::layer>::value) {
        // A branch starts: the previous one (if any) ends here; the next stage reads the source.
        using B = typename last<Blocks>::type;
        using Spans =
            std::conditional_t<B::first == no_branch, typename B::spans,
                               push_back_t<typename B::spans, span_pair<B::first, C::done::size>>>;
        return std::type_identity<
            lower_state<typename C::done, void, B::src,
                        replace_last_t<Blocks, open_block<B::src, C::done::size, Spans>>>>{};
    } else if constexpr (N::kind == LayerKind::residual_begin) {
        // A block starts: its source must be a stored tensor, so the open stage ends here.
        return std::type_identity<
            lower_state<typename C::done, void, C::src,
                        push_back_t<Blocks, open_block<C::src, no_branch, type_list<>>>>>{};
    } else if constexpr (N::kind == LayerKind::add) {
        // The join: the last branch ends; a stage of its own, which later layers fuse into.
        using B = typename last<Blocks>::type;
        using Spans = push_back_t<typename B::spans, span_pair<B::first, C::done::size>>;
        using Anchor = JoinAnchor<
            N, B::src,
            typename make_spans<Spans, N::in_size, typename C::done, N::layer::op>::type>;
        return std::type_identity<lower_state<typename C::done, Stage<Anchor, Epilogue<>, B::src>,
                                              B::src, typename pop_back<Blocks>::type>>{};
    } else {
        static_assert(N::kind != LayerKind::embedding || C::src == 0,
                      "Embedding reads token ids, which have no gradient: it must read the model "
                      "input (right after Input, or after views such as Reshape)");
        return std::type_identity<
            lower_state<typename C::done, Stage<N, Epilogue<>, C::src>, C::src, Blocks>>{};
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

/// The GEMM shape of a convolution stage, whatever backend evaluates it: per sample, `pixels`
/// output pixels (GEMM rows), `taps` inputs per pixel over all groups (the patch matrix's
/// columns) and `out_channels` outputs per pixel. How a backend tiles it is its own policy
/// (backend/cpu/conv_plan.hpp's conv_lowering).
template <class S>
struct conv_geometry {
    using bound = typename S::anchor::bound;
    static constexpr std::size_t pixels = bound::window.out_pixels();           ///< output pixels
    static constexpr std::size_t taps = bound::window.c * bound::window.taps(); ///< all groups
    static constexpr std::size_t out_channels = bound::out_channels;
};

/// A Dense stage applied at every step of a sequence [T, F] (its weight [N, F] shared by the
/// steps): a GEMM of batch * T columns. CUDA and the fused CPU executor do not take it yet.
template <class S>
inline constexpr bool per_step_dense = S::kind == LayerKind::dense&& S::anchor::in_shape::rank == 2;

namespace detail {
/// Values per sample of the gradients a join keeps during backward (JoinAnchor::kept).
template <class S>
constexpr std::size_t stage_skip_grad() {
    if constexpr (S::kind == LayerKind::add) return S::anchor::kept;
    else return 0;
}
/// Batch-independent values a stage keeps during a pass: a BatchNorm stage keeps the mean and
/// 1/sqrt(var + eps) it normalized with, per channel; a recurrent stage W_hh^T of each direction
/// (the CPU's step kernel reads it in that layout, made once per forward pass).
template <class S>
constexpr std::size_t stage_stats() {
    if constexpr (S::kind == LayerKind::batch_norm) return 2 * S::anchor::bound::channels;
    else if constexpr (S::kind == LayerKind::recurrent)
        return S::anchor::layer::directions * S::anchor::bound::gate_rows *
               S::anchor::bound::hidden;
    else return 0;
}
/// Values per sample a stage needs beside its output: a recurrent stage's states and gates kept
/// from forward to backward and its backward scratch (RecurrentBase::bind); a masking
/// Embedding's sample lengths (mask_plan).
template <class S>
constexpr std::size_t stage_aux() {
    if constexpr (S::kind == LayerKind::recurrent) return S::anchor::bound::workspace_per_sample;
    else if constexpr (S::kind == LayerKind::embedding) return S::anchor::layer::masks ? 1 : 0;
    else return 0;
}
} // namespace detail

/// No mask: mask_plan's entry for a stage whose input (or output) is not a masked sequence.
inline constexpr std::size_t no_mask = static_cast<std::size_t>(-1);

namespace detail {
/// The stage masks its output by sample lengths it computes (Embedding with MaskZero).
template <class S>
constexpr bool makes_mask() {
    if constexpr (S::kind == LayerKind::embedding) return S::anchor::layer::masks;
    else return false;
}
/// A masked input's steps are the stage output's steps: the mask applies to the output too.
template <class S>
constexpr bool passes_mask() {
    if constexpr (S::kind == LayerKind::recurrent) return S::anchor::layer::sequences;
    else if constexpr (S::kind == LayerKind::dense) return S::anchor::in_shape::rank == 2;
    else return S::kind == LayerKind::elementwise;
}
/// The stage reads a masked input correctly: it passes the mask on, or it ends the sequence
/// reading only each sample's steps (a recurrent layer's last state, LastStep, MeanOverSteps).
template <class S>
constexpr bool reads_mask() {
    return passes_mask<S>() || S::kind == LayerKind::recurrent || S::kind == LayerKind::step_pool;
}
template <class S, bool Masked>
struct masked_input_check {
    static_assert(!Masked || reads_mask<S>(),
                  "this layer reads a masked sequence (after Embedding<V, D, MaskZero>) but would "
                  "read the padding too: only RNN, LSTM, GRU, Bidirectional, Dense at every step, "
                  "elementwise layers, LastStep and MeanOverSteps take masks; end the sequence "
                  "first (a recurrent layer's last state, LastStep or MeanOverSteps)");
    static constexpr bool ok = true;
};
} // namespace detail

/// Which stages read a sequence masked by per-sample lengths (variable-length batches, MaskZero):
/// in[i] is the stage holding the lengths that stage i's input is masked by (its aux_of slot:
/// one value per sample), no_mask if none; out[i] the same for stage i's output. A stage that
/// cannot honour a mask given one, a join of masked sequences, and a model whose output is a
/// masked sequence (a loss would read the padding) are compile errors.
template <class Stages>
struct mask_plan {
    static constexpr std::size_t count = Stages::size;
    static constexpr auto made = [] {
        std::array<std::size_t, count> in{}, out{};
        detail::for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            in[I] = S::from_input ? no_mask : out[S::source];
            if constexpr (S::kind == LayerKind::add) // a branch ending in a masked sequence
                detail::for_each_type(typename S::anchor::branches{}, [&]<class Br, std::size_t>() {
                    if (!Br::identity && out[Br::last] != no_mask) in[I] = out[Br::last];
                });
            out[I] = detail::makes_mask<S>()                        ? I
                     : in[I] != no_mask && detail::passes_mask<S>() ? in[I]
                                                                    : no_mask;
        });
        return std::pair{in, out};
    }();
    static constexpr std::array<std::size_t, count> in = made.first;
    static constexpr std::array<std::size_t, count> out = made.second;
    /// Instantiates the check of every stage (an error names the stage's type).
    static constexpr bool checked = []<std::size_t... I>(std::index_sequence<I...>) {
        return (detail::masked_input_check<detail::stage_at<Stages, I>, in[I] != no_mask>::ok &&
                ... && true);
    }
    (std::make_index_sequence<count>{});
    static_assert(count == 0 || out[count - 1] == no_mask,
                  "the model's output is a masked sequence (after Embedding<V, D, MaskZero>): a "
                  "loss would read its padding; end the sequence first (a recurrent layer's last "
                  "state, LastStep or MeanOverSteps)");
};

/// Per-sample workspace offsets of one stage (in Ts; multiplied by the batch at run time).
struct StageLayout {
    std::size_t z = 0;         ///< anchor output offset
    std::size_t y = 0;         ///< epilogue output offset
    bool own_z = false;        ///< the stage stores an anchor output
    bool own_y = false;        ///< the stage stores an epilogue output (else y aliases z)
    std::size_t stats = 0;     ///< offset of the stage's batch-independent statistics (BatchNorm)
    std::size_t skip_grad = 0; ///< per-sample offset of a join's kept gradients
    std::size_t aux = 0;       ///< offset of the stage's own workspace (stage_aux: recurrent)
};

/// The activation workspace of a stage list, per sample, computed at compile time: each stage
/// keeps its anchor output Z (if it has an anchor), its epilogue output Y (if it has an
/// epilogue; otherwise Y aliases Z) and the workspace of its own it asks for (stage_aux). Both
/// backends use this layout.
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
          off += l[i].own_y ? S::out_size : 0, l[i].aux = off, off += detail::stage_aux<S>(),
          l[i].stats = stats, stats += detail::stage_stats<S>(), l[i].skip_grad = skip,
          skip += detail::stage_skip_grad<S>(), ++i),
         ...);
        return std::tuple{l, off, stats, skip};
    }
    static_assert(mask_plan<type_list<S...>>::checked);
    static constexpr auto made = make(); // evaluated once, read by the members below
    static constexpr auto layout = std::get<0>(made);
    /// Floats of activation storage per sample.
    static constexpr std::size_t per_sample = std::get<1>(made);
    /// Floats of batch-independent statistics kept from forward to backward (BatchNorm).
    static constexpr std::size_t stats = std::get<2>(made);
    /// Floats per sample of the gradients joins keep during backward (JoinAnchor::kept).
    static constexpr std::size_t skip_grad_per_sample = std::get<3>(made);
    /// Floats per sample of each of the two gradient ping-pong buffers. No stage propagates to
    /// the model input, and every other stage's input is a stage output, so the widest stage
    /// output bounds them all.
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
