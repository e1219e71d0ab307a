// ctnn/layers/reshape.hpp — Flatten and Reshape<D...>: views that change the shape, not the values.
#pragma once
#include "layer.hpp"

namespace ctnn {

/// Flattens a sample to 1-D: [C, H, W] -> [C*H*W] (the batch dimension is untouched).
struct Flatten {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::view;
    static std::string name() { return "Flatten"; }
    template <class In>
    struct bind : no_params {
        using out_shape = Shape<In::size>;
    };
};

/// Reinterprets a sample as shape [D...]; the number of values must not change.
template <std::size_t... D>
struct Reshape {
    static_assert(sizeof...(D) > 0 && ((D > 0) && ...), "Reshape needs positive dimensions");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::view;
    static std::string name() { return std::string("Reshape") + Shape<D...>::str(); }
    template <class In>
    struct bind : no_params {
        static_assert(In::size == Shape<D...>::size,
                      "Reshape must keep the number of values of a sample");
        using out_shape = Shape<D...>;
    };
};

} // namespace ctnn
