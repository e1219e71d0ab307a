// ctnn/graph/residual.hpp — Residual<L...>: y = x + body(x), a skip connection around a chain.
//
//     using Block = Residual<Conv2D<32, 3, Same>, BatchNorm, ReLU, Conv2D<32, 3, Same>, BatchNorm>;
//     using Net = Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, Block, ReLU, ...>;
//
// A Residual is one element of its Sequential (PyTorch numbering: the body's layers are named
// "2.0.weight", "2.1.weight", ... when the Residual is element 2), and may be nested. It is
// Add<Branch<>, Branch<L...>> (graph/branch.hpp) with its own names: binding flattens it into the
// model's node list between two markers, ResidualBegin (the skip source: the tensor entering the
// block) and ResidualAdd (the join), with an identity branch and the body as the two branches.
// Lowering ends a stage at the begin marker, so the skip source is a stored stage output, and
// makes the join a stage of its own whose epilogue takes the layers after the block (a ReLU after
// a block is fused into the add).
#pragma once
#include "../config.hpp"
#include "../layers/input.hpp"
#include "../layers/layer.hpp"
#include "branch.hpp"

#include <string>
#include <type_traits>

namespace ctnn {

/// y = x + body(x), with body the chain L... (any layers, including nested Residuals). The body
/// must keep the shape of its input (a mismatch is a compile error) and compute something (views
/// alone are rejected). Parameters are those of the body, named as in a PyTorch module whose
/// forward is `x + super().forward(x)` on an nn.Sequential of the body.
template <class... L>
struct Residual {
    static_assert(sizeof...(L) > 0, "Residual needs at least one layer in its body");
    static_assert((Layer<L> && ...),
                  "Residual: every element of the body must be a ctnn layer (Dense<N>, ReLU, ...)");
    static_assert((!detail::is_input<L>::value && ...), "Residual: Input cannot appear in a body");
    static_assert(!(detail::is_view_layer<L>() && ...),
                  "Residual: the body must compute something (it has only views)");
    using ctnn_layer = void;
    using ctnn_graph = void;
    static constexpr LayerKind kind = LayerKind::residual_begin;
    static std::string name() { return "Residual"; }
};

namespace detail {
template <class T>
struct is_residual : std::false_type {};
template <class... L>
struct is_residual<Residual<L...>> : std::true_type {};

/// Marker node: the start of a Residual's body. Its input is the skip source.
struct ResidualBegin {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::residual_begin;
    static std::string name() { return "Residual"; }
    template <class In>
    struct bind : no_params {
        using out_shape = In;
    };
};

/// Marker node: the join of a Residual, z = body output + skip source.
struct ResidualAdd {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::add;
    static constexpr JoinOp op = JoinOp::sum;
    static std::string name() { return "+ skip (residual add)"; }
    template <class In>
    struct bind : no_params {
        using out_shape = In;
    };
};

/// Names a Residual whose body changes the shape: appears in the error with both shapes.
template <class InputShape, class BodyOutputShape>
struct residual_body_changes_shape;
} // namespace detail

} // namespace ctnn
