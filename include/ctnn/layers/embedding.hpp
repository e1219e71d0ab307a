// ctnn/layers/embedding.hpp — Embedding<Vocab, Dim>: token ids to vectors (torch.nn.Embedding).
//
// The model input holds token ids as values of the model's number type (0, 1, 2, ... exactly
// representable: below 2^24 in float): a sample [T] of ids becomes the sequence [T, Dim] of their
// rows of the weight, which a recurrent layer reads. An id that is not an integer in
// [0, Vocab) is an error naming the sample, the step and the value, never a silent zero row.
// Ids have no gradient: an Embedding reads the model input (views before it are fine), and
// Model::input_gradient of such a model does not compile.
// Variable-length batches: with the option MaskZero, id 0 is padding, which must come after a
// sample's tokens; the number of tokens before it is the sample's length, and the layers after
// the Embedding read only those steps (graph/lowering.hpp, mask_plan).
#pragma once
#include "../core/error.hpp"
#include "layer.hpp"

#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

namespace ctnn {

/// Option of Embedding: id 0 is padding (Keras's mask_zero, PyTorch's padded batches with
/// lengths). Each sample is its tokens, then zeros up to the model's T steps; its length (the
/// steps before its first 0) masks the layers after the Embedding: RNN, LSTM and GRU stop at
/// each sample's length (PyTorch's pack_padded_sequence: the last state is the state after the
/// last token, the reverse cell of Bidirectional starts at it, outputs at padded steps are 0),
/// LastStep takes the last token's step and MeanOverSteps averages the tokens' steps. A token
/// after padding, or a sample of padding only, is an error naming the sample.
struct MaskZero {};

/// A lookup table of Vocab vectors of Dim values. Input [T] token ids (or [1] for one token);
/// output [T, Dim]. Parameter (PyTorch layout): `weight` [Vocab, Dim], initialized N(0, 1) as
/// PyTorch's, whatever the model's Init scheme. Option: MaskZero.
template <std::size_t Vocab, std::size_t Dim, class... Opts>
struct Embedding {
    static_assert(Vocab > 0 && Dim > 0, "Embedding needs a positive vocabulary size and dimension");
    static_assert(Vocab <= (std::size_t{1} << 24),
                  "Embedding: token ids above 2^24 are not exactly representable in float");
    static_assert((std::is_same_v<Opts, MaskZero> && ...), "Embedding's only option is MaskZero");
    static_assert(sizeof...(Opts) <= 1, "Embedding: give MaskZero at most once");
    static_assert(sizeof...(Opts) == 0 || Vocab > 1,
                  "Embedding<1, D, MaskZero> has no token but padding");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::embedding;
    static constexpr std::size_t vocab = Vocab;
    static constexpr std::size_t dim = Dim;
    /// Id 0 is padding, and the layer masks the sequence by each sample's length (MaskZero).
    static constexpr bool masks = sizeof...(Opts) == 1;
    static std::string name() {
        return std::string("Embedding<") + std::to_string(Vocab) + ", " + std::to_string(Dim) +
               (masks ? ", MaskZero>" : ">");
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
/// Checks the token ids of `batch` samples of `steps` ids at x (the first sample is number
/// `sample0`) that the Embedding E of stage `layer` reads: an id that is not an integer in
/// [0, Vocab) throws argument_error naming the layer, the sample, the step and the value; with
/// MaskZero, so does a token after padding or a sample of padding only. With MaskZero and
/// `lengths`, writes each sample's length there. Every backend calls it before using the ids
/// (the CUDA one on the host, before the upload).
template <class E, class T>
void check_token_ids(const T* x, std::size_t batch, std::size_t steps, std::size_t layer,
                     std::size_t sample0, T* lengths = nullptr) {
    const auto where = [&](std::size_t b) {
        return E::name() + " (layer " + std::to_string(layer) + "): sample " +
               std::to_string(sample0 + b);
    };
    for (std::size_t b = 0; b < batch; ++b) {
        std::size_t length = steps; // the first padding step (MaskZero)
        for (std::size_t t = 0; t < steps; ++t) {
            const T v = x[b * steps + t];
            if (!(v >= T(0) && v < T(E::vocab)) || v != std::floor(v))
                throw argument_error(where(b) + ", step " + std::to_string(t) + ": token id " +
                                     std::to_string(static_cast<double>(v)) +
                                     " is not an integer in [0, " + std::to_string(E::vocab) + ")");
            if constexpr (E::masks) {
                if (v == T(0) && length == steps) length = t;
                else if (v != T(0) && length < steps)
                    throw argument_error(where(b) + ", step " + std::to_string(t) + ": token id " +
                                         std::to_string(static_cast<double>(v)) +
                                         " after padding (id 0 at step " + std::to_string(length) +
                                         "): with MaskZero, padding comes after the tokens");
            }
        }
        if constexpr (E::masks) {
            if (length == 0)
                throw argument_error(where(b) + ": every id is padding (0); a sample needs at "
                                                "least one token");
            if (lengths) lengths[b] = static_cast<T>(length);
        }
    }
}
} // namespace detail

} // namespace ctnn
