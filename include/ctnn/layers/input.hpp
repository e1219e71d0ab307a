// ctnn/layers/input.hpp — Input<D...>: the shape of one input sample; first element of a model.
#pragma once
#include "layer.hpp"

namespace ctnn {

/// The input of a model: one sample has shape [D...] (channel-first for images: Input<1, 28, 28>).
template <std::size_t... D>
struct Input {
    static_assert(sizeof...(D) > 0, "Input needs at least one dimension, e.g. Input<784>");
    static_assert(((D > 0) && ...), "every dimension of Input must be positive");
    using ctnn_layer = void;
    using shape = Shape<D...>;
    static constexpr LayerKind kind = LayerKind::input;
    static std::string name() { return std::string("Input") + shape::str(); }

    template <class In>
    struct bind : no_params {
        using out_shape = shape;
    };
};

namespace detail {
template <class T>
struct is_input : std::false_type {};
template <std::size_t... D>
struct is_input<Input<D...>> : std::true_type {};
} // namespace detail

} // namespace ctnn
