// ctnn/graph/branch.hpp — Add<B...> and Concat<B...>: parallel branches from one input, joined
// by a sum or by a concatenation along the first dimension.
//
//     // [C, H, W] -> [32 + C, H, W]
//     using Mixed = Concat<Branch<Conv2D<16, 1>, ReLU>, Branch<Conv2D<16, 3, Same>, ReLU>,
//                          MaxPool2D<3, Stride<1>, Padding<1>>>;
//     using Sum = Add<Branch<Dense<32>, Tanh>, Dense<32>>;             // tanh(W1 x) + W2 x
//     using Skip = Add<Branch<>, Branch<Dense<8>, ReLU, Dense<8>>>;    // a residual, x + f(x)
//
// A branch is Branch<L...> (a chain of any layers, including other Add/Concat/Residual blocks;
// Branch<> is the identity) or a single layer. The block is one element of its Sequential and its
// branches are its children, as in a PyTorch module holding an nn.ModuleList: the layers of
// branch k of element 3 are named "3.k.0.weight", "3.k.1.weight", ...; a single-layer branch is
// "3.k.weight".
//
// Binding flattens a block into the model's node list: a BlockBegin marker (the block input, the
// *source*, is the tensor entering it), then per branch a BranchStart marker and the branch's
// nodes, then a Join marker. Lowering (graph/lowering.hpp) ends the open stage at BlockBegin (the
// source is a stored stage output or the model input), makes the first stage of every branch
// read the source, and makes the join a stage of its own whose epilogue takes the elementwise
// layers after the block. Residual<L...> (graph/residual.hpp) is bound the same way as
// Add<Branch<>, Branch<L...>>, keeping its own names.
#pragma once
#include "../config.hpp"
#include "../core/shape.hpp"
#include "../core/type_list.hpp"
#include "../layers/input.hpp"
#include "../layers/layer.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

namespace ctnn {

namespace detail {
template <class L>
constexpr bool is_view_layer() {
    if constexpr (Layer<L>) return L::kind == LayerKind::view;
    else return false;
}
} // namespace detail

/// How a block joins the outputs of its branches.
enum class JoinOp {
    sum,    ///< Add: elementwise sum, all branches give the same shape
    concat, ///< Concat: along the first dimension (channels of [C, H, W], features of [N])
};

/// A branch of an Add or Concat: the chain L... applied to the block input (Branch<> is the
/// identity). Also usable as an element of a Sequential, where it is a nested chain (names
/// "k.0.weight", ...), like an nn.Sequential inside an nn.Sequential.
template <class... L>
struct Branch {
    static_assert(
        (Layer<L> && ...),
        "Branch: every element must be a ctnn layer (Dense<N>, ReLU, Residual<...>, ...)");
    static_assert((!detail::is_input<L>::value && ...), "Branch: Input cannot appear in a branch");
    using ctnn_layer = void;
    using ctnn_graph = void;
    /// A branch of views only (or none) computes nothing: it reads as a view.
    static constexpr LayerKind kind =
        (detail::is_view_layer<L>() && ...) ? LayerKind::view : LayerKind::residual_begin;
    static std::string name() { return sizeof...(L) == 0 ? "Branch<> (identity)" : "Branch"; }
};

/// The sum of its branches, each applied to the block input: y = b1(x) + b2(x) + ... . Every
/// branch must give the same output shape. At least two branches.
template <class... B>
struct Add {
    static_assert(sizeof...(B) >= 2,
                  "Add needs at least two branches, e.g. Add<Branch<>, Branch<Dense<8>, Tanh>>");
    static_assert((Layer<B> && ...),
                  "Add: every branch must be a Branch<L...> or a ctnn layer (Dense<N>, ...)");
    static_assert((!detail::is_input<B>::value && ...), "Add: Input cannot be a branch");
    using ctnn_layer = void;
    using ctnn_graph = void;
    static constexpr LayerKind kind = LayerKind::residual_begin;
    static constexpr JoinOp op = JoinOp::sum;
    static std::string name() { return "Add"; }
};

/// The concatenation of its branches' outputs along their first dimension (channels of
/// [C, H, W], features of [N]), each branch applied to the block input; the other dimensions must
/// agree. At least two branches.
template <class... B>
struct Concat {
    static_assert(
        sizeof...(B) >= 2,
        "Concat needs at least two branches, e.g. Concat<Conv2D<8, 1>, Conv2D<8, 3, Same>>");
    static_assert((Layer<B> && ...),
                  "Concat: every branch must be a Branch<L...> or a ctnn layer (Dense<N>, ...)");
    static_assert((!detail::is_input<B>::value && ...), "Concat: Input cannot be a branch");
    using ctnn_layer = void;
    using ctnn_graph = void;
    static constexpr LayerKind kind = LayerKind::residual_begin;
    static constexpr JoinOp op = JoinOp::concat;
    static std::string name() { return "Concat"; }
};

namespace detail {

template <class T>
struct is_branch : std::false_type {};
template <class... L>
struct is_branch<Branch<L...>> : std::true_type {};

/// Marker node: the start of an Add or Concat block (Out: the block's output shape, for
/// describe()). Its input is the block's source.
template <JoinOp Op, class Out>
struct BlockBegin {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::residual_begin;
    static std::string name() { return Op == JoinOp::sum ? "Add" : "Concat"; }
    template <class In>
    struct bind : no_params {
        using out_shape = Out;
    };
};

/// Marker node: the start of one branch; the branch's first stage reads the block's source.
/// Listed: describe() shows it (an identity branch of an Add or Concat); others are hidden.
template <bool Listed>
struct BranchStart {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::residual_begin;
    static constexpr bool listed = Listed;
    static std::string name() { return "Branch<> (identity)"; }
    template <class In>
    struct bind : no_params {
        using out_shape = In;
    };
};

template <class T>
struct is_branch_start : std::false_type {};
template <bool L>
struct is_branch_start<BranchStart<L>> : std::true_type {};

/// Marker node: the join of an Add or Concat block, Out its output shape (its input, as for
/// every marker, is the block's source shape).
template <JoinOp Op, class Out>
struct Join {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::add;
    static constexpr JoinOp op = Op;
    static std::string name() {
        return Op == JoinOp::sum ? "= sum of the branches" : "= concat of the branches";
    }
    template <class In>
    struct bind : no_params {
        using out_shape = Out;
    };
};

/// Names an Add whose branches give different shapes: appears in the error with every shape.
template <class... BranchOutputShapes>
struct add_branch_shapes_differ;
/// Names a Concat whose branches disagree in a dimension other than the first.
template <class... BranchOutputShapes>
struct concat_branch_shapes_differ;

/// Whether shapes A and B agree in every dimension but the first.
template <class A, class B>
constexpr bool same_but_first() {
    if constexpr (A::rank != B::rank) {
        return false;
    } else {
        for (std::size_t i = 1; i < A::rank; ++i)
            if (A::dims[i] != B::dims[i]) return false;
        return true;
    }
}

template <class S0, std::size_t First, class Idx>
struct with_first_dim;
template <class S0, std::size_t First, std::size_t... I>
struct with_first_dim<S0, First, std::index_sequence<I...>> {
    using type = Shape<First, S0::dims[I + 1]...>;
};

/// The checks and the output shape of a join of branch output shapes Shapes.
template <JoinOp Op, class Shapes>
struct join_shape;
template <class S0, class... S>
struct join_shape<JoinOp::sum, type_list<S0, S...>> {
    static constexpr bool valid = (std::is_same_v<S0, S> && ...);
    using type = S0;
};
template <class S0, class... S>
struct join_shape<JoinOp::concat, type_list<S0, S...>> {
    static constexpr bool valid = (same_but_first<S0, S>() && ...);
    using type = typename with_first_dim<S0, (S0::dims[0] + ... + S::dims[0]),
                                         std::make_index_sequence<S0::rank - 1>>::type;
};

/// Checks a join's branch shapes; on a mismatch the error also names every shape.
template <JoinOp Op, class Shapes, bool Valid = join_shape<Op, Shapes>::valid>
struct join_shape_check {};
template <class... S>
struct join_shape_check<JoinOp::sum, type_list<S...>, false> {
    static_assert(join_shape<JoinOp::sum, type_list<S...>>::valid,
                  "Add: every branch must give the same output shape");
    // A second error that names the shapes, in branch order.
    static_assert(sizeof(add_branch_shapes_differ<S...>) > 0);
};
template <class... S>
struct join_shape_check<JoinOp::concat, type_list<S...>, false> {
    static_assert(join_shape<JoinOp::concat, type_list<S...>>::valid,
                  "Concat: the branch outputs must agree in every dimension but the first "
                  "(channels of [C, H, W], features of [N])");
    static_assert(sizeof(concat_branch_shapes_differ<S...>) > 0);
};

} // namespace detail

} // namespace ctnn
