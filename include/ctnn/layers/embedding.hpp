// ctnn/layers/embedding.hpp — Embedding<Vocab, Dim>: token ids to vectors (torch.nn.Embedding).
//
// The model input holds token ids as values of the model's number type (0, 1, 2, ... exactly
// representable: below 2^24 in float): a sample [T] of ids becomes the sequence [T, Dim] of their
// rows of the weight, which a recurrent layer reads. An id that is not an integer in
// [0, Vocab) is an error naming the sample, the step and the value, never a silent zero row.
// Ids have no gradient: an Embedding reads the model input (views before it are fine), and
// Model::input_gradient of such a model does not compile.
#pragma once
#include "../core/error.hpp"
#include "layer.hpp"

#include <cmath>
#include <cstddef>
#include <string>

namespace ctnn {

/// A lookup table of Vocab vectors of Dim values. Input [T] token ids (or [1] for one token);
/// output [T, Dim]. Parameter (PyTorch layout): `weight` [Vocab, Dim], initialized N(0, 1) as
/// PyTorch's, whatever the model's Init scheme.
template <std::size_t Vocab, std::size_t Dim>
struct Embedding {
    static_assert(Vocab > 0 && Dim > 0, "Embedding needs a positive vocabulary size and dimension");
    static_assert(Vocab <= (std::size_t{1} << 24),
                  "Embedding: token ids above 2^24 are not exactly representable in float");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::embedding;
    static constexpr std::size_t vocab = Vocab;
    static constexpr std::size_t dim = Dim;
    static std::string name() {
        return std::string("Embedding<") + std::to_string(Vocab) + ", " + std::to_string(Dim) + ">";
    }

    template <class In>
    struct bind {
        static_assert(In::rank == 1, "Embedding reads a sample of token ids [T]: give the model "
                                     "Input<T> (the ids as numbers)");
        static constexpr std::size_t steps = In::size;
        using out_shape = Shape<steps, Dim>;
        static constexpr std::size_t param_count = Vocab * Dim;
        static constexpr std::array<ParamSpec, 1> params{
            ParamSpec{"weight", 2, {Vocab, Dim, 0, 0}, ParamRole::standard_normal, Dim, Vocab}};
    };
};

namespace detail {
/// Checks the `count` token ids at x (`steps` per sample, the first of sample `sample0`) that the
/// Embedding E of stage `layer` reads: an id that is not an integer in [0, Vocab) throws
/// argument_error naming the layer, the sample, the step and the value. Every backend calls it
/// before using the ids (the CUDA one on the host, before the upload).
template <class E, class T>
void check_token_ids(const T* x, std::size_t count, std::size_t steps, std::size_t layer,
                     std::size_t sample0) {
    for (std::size_t i = 0; i < count; ++i) {
        const T v = x[i];
        if (!(v >= T(0) && v < T(E::vocab)) || v != std::floor(v))
            throw argument_error(E::name() + " (layer " + std::to_string(layer) + "): sample " +
                                 std::to_string(sample0 + i / steps) + ", step " +
                                 std::to_string(i % steps) + ": token id " +
                                 std::to_string(static_cast<double>(v)) +
                                 " is not an integer in [0, " + std::to_string(E::vocab) + ")");
    }
}
} // namespace detail

} // namespace ctnn
