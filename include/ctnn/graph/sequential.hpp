// ctnn/graph/sequential.hpp — Sequential<Input<...>, L...>: a chain of layers as one type.
//
// Everything about the model is known at compile time: the shape after each layer, every
// parameter's offset in the model's single flat parameter buffer, its PyTorch name, and the
// stages the model lowers to (graph/lowering.hpp).
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
#include <vector>

namespace ctnn {

/// One layer of a model, bound to its input shape and to its place in the model.
/// Index is the layer's position after Input (PyTorch's nn.Sequential numbering: "0.weight").
template <class L, class In, std::size_t Index, std::size_t ParamOffset>
struct LayerNode {
    using layer = L;
    using bound = typename L::template bind<In>;
    using in_shape = In;
    using out_shape = typename bound::out_shape;
    static constexpr LayerKind kind = L::kind;
    static constexpr std::size_t index = Index;
    static constexpr std::size_t param_offset = ParamOffset;
    static constexpr std::size_t param_count = bound::param_count;
    static constexpr std::size_t in_size = In::size;
    static constexpr std::size_t out_size = out_shape::size;
};

namespace detail {

template <class In, std::size_t I, std::size_t O, class... L>
struct bind_chain {
    using nodes = type_list<>;
    using out_shape = In;
    static constexpr std::size_t param_end = O;
};
template <class In, std::size_t I, std::size_t O, class L, class... R>
struct bind_chain<In, I, O, L, R...> {
    using node = LayerNode<L, In, I, O>;
    using next = bind_chain<typename node::out_shape, I + 1, O + node::param_count, R...>;
    template <class List>
    struct prepend;
    template <class... T>
    struct prepend<type_list<T...>> {
        using type = type_list<node, T...>;
    };
    using nodes = typename prepend<typename next::nodes>::type;
    using out_shape = typename next::out_shape;
    static constexpr std::size_t param_end = next::param_end;
};

/// Checks a Sequential's element list before anything else is instantiated, so a wrong model
/// gives one readable error instead of a cascade.
template <class First, class... L>
constexpr bool check_sequential() {
    static_assert(is_input<First>::value,
                  "Sequential must start with Input<...>, e.g. Sequential<Input<784>, Dense<10>>");
    static_assert(sizeof...(L) > 0, "Sequential needs at least one layer after Input");
    static_assert(
        (Layer<L> && ...),
        "Sequential: every element after Input must be a ctnn layer (Dense<N>, ReLU, ...)");
    static_assert((!is_input<L>::value && ...), "Input may appear only once, as the first element");
    return is_input<First>::value && sizeof...(L) > 0 && (Layer<L> && ...) &&
           (!is_input<L>::value && ...);
}

template <bool Valid, class First, class... L>
struct sequential_impl {
    using in_shape = typename First::shape;
    using chain = bind_chain<in_shape, 0, 0, L...>;
    using nodes = typename chain::nodes;
    using out_shape = typename chain::out_shape;
    static constexpr std::size_t param_count = chain::param_end;
};
/// A placeholder for an invalid model: the static_asserts above have already said what is wrong.
template <class First, class... L>
struct sequential_impl<false, First, L...> {
    using in_shape = Shape<1>;
    using nodes = type_list<>;
    using out_shape = Shape<1>;
    static constexpr std::size_t param_count = 0;
};

} // namespace detail

/// A model made of layers applied one after the other: Sequential<Input<784>, Dense<128>, ReLU,
/// ...>.
template <class First, class... L>
struct Sequential {
private:
    static constexpr bool valid = detail::check_sequential<First, L...>();
    using impl = detail::sequential_impl<valid, First, L...>;

public:
    using ctnn_model = void;
    using in_shape = typename impl::in_shape;   ///< shape of one input sample
    using out_shape = typename impl::out_shape; ///< shape of one output sample
    using nodes = typename impl::nodes;         ///< the bound layers, in order (LayerNode<...>)
    static constexpr std::size_t in_size = in_shape::size;
    static constexpr std::size_t out_size = out_shape::size;
    static constexpr std::size_t layer_count = sizeof...(L);
    /// Number of trainable parameters; the size of the model's flat parameter buffer.
    static constexpr std::size_t param_count = impl::param_count;
};

/// A ctnn network type (Sequential<...>).
template <class M>
concept Network = requires {
    typename M::ctnn_model;
};

/// One named parameter tensor of a model: where it lives in the flat buffer and its shape.
struct ParamEntry {
    std::string name; ///< PyTorch name, e.g. "0.weight"
    std::size_t offset;
    std::size_t size;
    ParamSpec spec;
};

/// All parameter tensors of a model, in buffer order.
template <class Net>
std::vector<ParamEntry> parameter_table() {
    std::vector<ParamEntry> out;
    detail::for_each_type(typename Net::nodes{}, [&]<class N, std::size_t>() {
        std::size_t off = N::param_offset;
        for (const ParamSpec& p : N::bound::params) {
            out.push_back({std::to_string(N::index) + "." + p.name, off, p.size(), p});
            off += p.size();
        }
    });
    return out;
}

} // namespace ctnn
