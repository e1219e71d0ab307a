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
#include "branch.hpp"
#include "residual.hpp"

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ctnn {

namespace detail {
/// The buffers (non-trainable state, BufferSpec) of a bound layer; most layers have none.
template <class Bound>
constexpr auto buffers_of() {
    if constexpr (requires { Bound::buffers; }) return Bound::buffers;
    else return std::array<BufferSpec, 0>{};
}
template <class Bound>
constexpr std::size_t buffer_count_of() {
    std::size_t n = 0;
    for (const BufferSpec& b : buffers_of<Bound>()) n += b.size();
    return n;
}

/// A layer's PyTorch name prefix: indices joined by dots ("3", or "1.0" inside a Residual that is
/// element 1 of its Sequential).
template <std::size_t... I>
struct name_path {
    static constexpr std::array<std::size_t, sizeof...(I)> indices{I...};
    static std::string str() {
        std::string s;
        ((s += (s.empty() ? std::string() : std::string(".")) + std::to_string(I)), ...);
        return s;
    }
};
template <class Path, std::size_t I>
struct path_append;
template <std::size_t... P, std::size_t I>
struct path_append<name_path<P...>, I> {
    using type = name_path<P..., I>;
};
} // namespace detail

/// One layer of a model, bound to its input shape and to its place in the model.
/// Index is the layer's position in the model's flattened node list (unique; it keys the layer's
/// random streams); Path gives its PyTorch name prefix (nn.Sequential numbering: "0.weight", and
/// "1.0.weight" inside a Residual; void: the Index). ParamOffset and BufferOffset locate its
/// parameters and buffers in the model's flat storage.
template <class L, class In, std::size_t Index, std::size_t ParamOffset,
          std::size_t BufferOffset = 0, class Path = void>
struct LayerNode {
    using layer = L;
    using bound = typename L::template bind<In>;
    using in_shape = In;
    using out_shape = typename bound::out_shape;
    static constexpr LayerKind kind = L::kind;
    static constexpr std::size_t index = Index;
    /// The PyTorch name prefix of the layer's tensors: "3" for "3.weight".
    static std::string path() {
        if constexpr (std::is_void_v<Path>) return std::to_string(Index);
        else return Path::str();
    }
    /// path() as numbers: {3} for "3", {1, 0} for "1.0".
    static constexpr auto path_indices = [] {
        if constexpr (std::is_void_v<Path>) return std::array<std::size_t, 1>{Index};
        else return Path::indices;
    }();
    static constexpr std::size_t param_offset = ParamOffset;
    static constexpr std::size_t param_count = bound::param_count;
    static constexpr std::size_t buffer_offset = BufferOffset;
    static constexpr std::size_t buffer_count = detail::buffer_count_of<bound>();
    static constexpr auto buffers = detail::buffers_of<bound>();
    static constexpr std::size_t in_size = In::size;
    static constexpr std::size_t out_size = out_shape::size;
};

namespace detail {

/// Binds a chain of layers: In is the chain's input shape, Prefix the name path of the chain
/// (name_path<> for a Sequential, the Residual's path for a body), Local the position of the next
/// element in it, Uid the next flattened node index, O and BO the next parameter and buffer
/// offsets.
template <class In, class Prefix, std::size_t Local, std::size_t Uid, std::size_t O, std::size_t BO,
          class... L>
struct bind_chain {
    using nodes = type_list<>;
    using out_shape = In;
    static constexpr std::size_t uid_end = Uid;
    static constexpr std::size_t param_end = O;
    static constexpr std::size_t buffer_end = BO;
};

/// Binds one element of a chain at name path Path: a layer gives one node; a graph form
/// (Residual, Add, Concat, Branch) gives the nodes of its parts between marker nodes.
template <class In, class Path, std::size_t Uid, std::size_t O, std::size_t BO, class L>
struct bind_one {
    using node = LayerNode<L, In, Uid, O, BO, Path>;
    using nodes = type_list<node>;
    using out_shape = typename node::out_shape;
    static constexpr std::size_t uid_end = Uid + 1;
    static constexpr std::size_t param_end = O + node::param_count;
    static constexpr std::size_t buffer_end = BO + node::buffer_count;
};

/// Checks that a Residual's body keeps the shape of its input; on a mismatch the error also names
/// both shapes (the incomplete residual_body_changes_shape<Input, BodyOutput>).
template <class In, class Out>
struct residual_shape_check {};
template <class In, class Out>
    requires(!std::is_same_v<In, Out>)
struct residual_shape_check<In, Out> {
    static_assert(std::is_same_v<In, Out>,
                  "Residual: the body must keep the shape of its input (for Conv2D: Same padding "
                  "and as many output channels as input channels)");
    // A second error that names both shapes.
    static_assert(sizeof(residual_body_changes_shape<In, Out>) > 0);
};

/// A Residual gives its begin marker, two branch starts (the identity, then the body, whose
/// nodes are named path.0, path.1, ...) and its add marker: the nodes of Add<Branch<>,
/// Branch<B...>> with the names of a Residual.
template <class In, class Path, std::size_t Uid, std::size_t O, std::size_t BO, class... B>
struct bind_one<In, Path, Uid, O, BO, Residual<B...>>
    : residual_shape_check<In, typename bind_chain<In, Path, 0, Uid + 1, O, BO, B...>::out_shape> {
    using begin = LayerNode<ResidualBegin, In, Uid, O, BO, Path>;
    using body = bind_chain<In, Path, 0, Uid + 1, O, BO, B...>;
    // Branch markers take no index of their own (they have no random streams): they share the
    // index of the node after them.
    using skip = LayerNode<BranchStart<false>, In, Uid + 1, O, BO, Path>;
    using add = LayerNode<ResidualAdd, In, body::uid_end, body::param_end, body::buffer_end, Path>;
    using nodes = concat_t<type_list<begin, skip, skip>, typename body::nodes, type_list<add>>;
    using out_shape = In;
    static constexpr std::size_t uid_end = body::uid_end + 1;
    static constexpr std::size_t param_end = body::param_end;
    static constexpr std::size_t buffer_end = body::buffer_end;
};

/// A Branch<L...> bound as one element is its chain, numbered inside it (path.0, path.1, ...).
template <class In, class Path, std::size_t Uid, std::size_t O, std::size_t BO, class... L>
struct bind_one<In, Path, Uid, O, BO, Branch<L...>> : bind_chain<In, Path, 0, Uid, O, BO, L...> {};

/// Binds branches B... of a block, each from the block input In: branch K at path Path.K, each
/// after a BranchStart marker (listed in describe() when Listed and the branch is empty).
template <class In, class Path, std::size_t K, std::size_t Uid, std::size_t O, std::size_t BO,
          class... B>
struct bind_branches {
    using nodes = type_list<>;
    using shapes = type_list<>;
    static constexpr std::size_t uid_end = Uid;
    static constexpr std::size_t param_end = O;
    static constexpr std::size_t buffer_end = BO;
};
template <class In, class Path, std::size_t K, std::size_t Uid, std::size_t O, std::size_t BO,
          class B0, class... B>
struct bind_branches<In, Path, K, Uid, O, BO, B0, B...> {
    using path = typename path_append<Path, K>::type;
    using one = bind_one<In, path, Uid, O, BO, B0>;
    using start = LayerNode<BranchStart<one::nodes::size == 0>, In, Uid, O, BO, path>;
    using next =
        bind_branches<In, Path, K + 1, one::uid_end, one::param_end, one::buffer_end, B...>;
    using nodes = concat_t<type_list<start>, typename one::nodes, typename next::nodes>;
    using shapes = concat_t<type_list<typename one::out_shape>, typename next::shapes>;
    static constexpr std::size_t uid_end = next::uid_end;
    static constexpr std::size_t param_end = next::param_end;
    static constexpr std::size_t buffer_end = next::buffer_end;
};

/// An Add or Concat: its begin marker, its branches (children 0..n-1 of its path) and its join
/// marker. A wrong combination of branch shapes is a compile error naming them
/// (join_shape_check).
template <class In, class Path, std::size_t Uid, std::size_t O, std::size_t BO, JoinOp Op,
          class... B>
struct bind_block
    : join_shape_check<Op, typename bind_branches<In, Path, 0, Uid + 1, O, BO, B...>::shapes> {
    using branches = bind_branches<In, Path, 0, Uid + 1, O, BO, B...>;
    using out_shape = typename join_shape<Op, typename branches::shapes>::type;
    using begin = LayerNode<BlockBegin<Op, out_shape>, In, Uid, O, BO, Path>;
    using join = LayerNode<Join<Op, out_shape>, In, branches::uid_end, branches::param_end,
                           branches::buffer_end, Path>;
    using nodes = concat_t<type_list<begin>, typename branches::nodes, type_list<join>>;
    static constexpr std::size_t uid_end = branches::uid_end + 1;
    static constexpr std::size_t param_end = branches::param_end;
    static constexpr std::size_t buffer_end = branches::buffer_end;
};
template <class In, class Path, std::size_t Uid, std::size_t O, std::size_t BO, class... B>
struct bind_one<In, Path, Uid, O, BO, Add<B...>>
    : bind_block<In, Path, Uid, O, BO, JoinOp::sum, B...> {};
template <class In, class Path, std::size_t Uid, std::size_t O, std::size_t BO, class... B>
struct bind_one<In, Path, Uid, O, BO, Concat<B...>>
    : bind_block<In, Path, Uid, O, BO, JoinOp::concat, B...> {};

template <class In, class Prefix, std::size_t Local, std::size_t Uid, std::size_t O, std::size_t BO,
          class L, class... R>
struct bind_chain<In, Prefix, Local, Uid, O, BO, L, R...> {
    using one = bind_one<In, typename path_append<Prefix, Local>::type, Uid, O, BO, L>;
    using next = bind_chain<typename one::out_shape, Prefix, Local + 1, one::uid_end,
                            one::param_end, one::buffer_end, R...>;
    using nodes = concat_t<typename one::nodes, typename next::nodes>;
    using out_shape = typename next::out_shape;
    static constexpr std::size_t uid_end = next::uid_end;
    static constexpr std::size_t param_end = next::param_end;
    static constexpr std::size_t buffer_end = next::buffer_end;
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
    using chain = bind_chain<in_shape, name_path<>, 0, 0, 0, 0, L...>;
    using nodes = typename chain::nodes;
    using out_shape = typename chain::out_shape;
    static constexpr std::size_t param_count = chain::param_end;
    static constexpr std::size_t buffer_count = chain::buffer_end;
};
/// A placeholder for an invalid model: the static_asserts above have already said what is wrong.
template <class First, class... L>
struct sequential_impl<false, First, L...> {
    using in_shape = Shape<1>;
    using nodes = type_list<>;
    using out_shape = Shape<1>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t buffer_count = 0;
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
    /// Number of elements after Input (a Residual, Add, Concat or Branch counts as one, as in
    /// PyTorch's numbering).
    static constexpr std::size_t layer_count = sizeof...(L);
    /// Number of trainable parameters; the size of the model's flat parameter buffer.
    static constexpr std::size_t param_count = impl::param_count;
    /// Number of buffer values (non-trainable state such as BatchNorm's running statistics); the
    /// size of the model's flat buffer storage.
    static constexpr std::size_t buffer_count = impl::buffer_count;
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

/// One named buffer tensor of a model (BatchNorm's running_mean, ...): where it lives in the
/// model's flat buffer storage and its shape.
struct BufferEntry {
    std::string name; ///< PyTorch name, e.g. "1.running_mean"
    std::size_t offset;
    std::size_t size;
    BufferSpec spec;
};

namespace detail {

/// What the tables read of one node, as constants: one function then builds the tables of every
/// model (a model type adds one constant array, not a function per node).
struct NodeTensors {
    const std::size_t* path; ///< LayerNode::path_indices
    std::size_t path_size;
    std::size_t param_offset;
    const ParamSpec* params;
    std::size_t param_specs;
    std::size_t buffer_offset;
    const BufferSpec* buffers;
    std::size_t buffer_specs;
};

template <class... N>
constexpr std::array<NodeTensors, sizeof...(N)> node_tensors(type_list<N...>) {
    return {NodeTensors{N::path_indices.data(), N::path_indices.size(), N::param_offset,
                        N::bound::params.data(), N::bound::params.size(), N::buffer_offset,
                        N::buffers.data(), N::buffers.size()}...};
}
template <class Net>
inline constexpr auto node_tensors_of = node_tensors(typename Net::nodes{});

/// "1.0" for the indices {1, 0}.
inline std::string path_string(const NodeTensors& n) {
    std::string s;
    for (std::size_t i = 0; i < n.path_size; ++i) {
        if (i > 0) s += '.';
        s += std::to_string(n.path[i]);
    }
    return s;
}

/// The entries of a table: for each node, its specs (n.*specs, n.*count of them) laid out from
/// n.*offset, named "<path>.<spec name>".
template <class Entry, class Spec>
std::vector<Entry> make_table(std::span<const NodeTensors> nodes, std::size_t NodeTensors::*offset,
                              const Spec* NodeTensors::*specs, std::size_t NodeTensors::*count) {
    std::vector<Entry> out;
    for (const NodeTensors& n : nodes) {
        std::size_t off = n.*offset;
        for (std::size_t k = 0; k < n.*count; ++k) {
            const Spec& spec = (n.*specs)[k];
            out.push_back({path_string(n) + "." + spec.name, off, spec.size(), spec});
            off += spec.size();
        }
    }
    return out;
}

inline std::vector<ParamEntry> make_parameter_table(std::span<const NodeTensors> nodes) {
    return make_table<ParamEntry>(nodes, &NodeTensors::param_offset, &NodeTensors::params,
                                  &NodeTensors::param_specs);
}

inline std::vector<BufferEntry> make_buffer_table(std::span<const NodeTensors> nodes) {
    return make_table<BufferEntry>(nodes, &NodeTensors::buffer_offset, &NodeTensors::buffers,
                                   &NodeTensors::buffer_specs);
}

} // namespace detail

/// All parameter tensors of a model, in buffer order.
template <class Net>
std::vector<ParamEntry> parameter_table() {
    return detail::make_parameter_table(detail::node_tensors_of<Net>);
}

/// All buffer tensors of a model, in storage order (empty for models without state).
template <class Net>
std::vector<BufferEntry> buffer_table() {
    return detail::make_buffer_table(detail::node_tensors_of<Net>);
}

} // namespace ctnn
