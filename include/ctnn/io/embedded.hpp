// ctnn/io/embedded.hpp — a checkpoint compiled into the program as constant arrays.
//
// The CMake function ctnn_embed_checkpoint (cmake/CtnnEmbed.cmake) turns a safetensors file into
// a header that defines one struct per checkpoint:
//
//     struct mlp_weights {
//         static constexpr const char* source = "mlp.safetensors";
//         static constexpr std::size_t tensor_count = 4;
//         static constexpr ctnn::EmbeddedTensor tensors[4] = {{"0.weight", 2, {128, 784, 0, 0},
//                                                              0, 100352}, ...};
//         static constexpr std::size_t float_count = 101770;
//         alignas(64) static constexpr float data[101770] = {...};
//     };
//
// The values are the file's, bit for bit (hexadecimal float literals; F16 and BF16 tensors
// widened to float exactly), in the file's order. StaticModel<Net, B, EmbeddedParameters<W>>
// reads them in place (no copy: they stay in .rodata, or in flash on a microcontroller) and checks
// at compile time that W's names and shapes are Net's (model/static_model.hpp).
#pragma once
#include "../config.hpp"

#include <array>
#include <concepts>
#include <cstddef>

namespace ctnn {

/// One tensor of an embedded checkpoint: its name (PyTorch's, "0.weight"), shape, and where its
/// values start in the checkpoint's `data` array (in floats).
struct EmbeddedTensor {
    const char* name;
    std::size_t rank;
    std::array<std::size_t, 4> dims;
    std::size_t offset;
    std::size_t size;
};

/// Whether W has the members of an embedded checkpoint (a header made by ctnn_embed_checkpoint).
template <class W>
concept EmbeddedCheckpoint = requires {
    { W::tensor_count } -> std::convertible_to<std::size_t>;
    { W::tensors[0] } -> std::convertible_to<EmbeddedTensor>;
    { W::data[0] } -> std::convertible_to<float>;
};

} // namespace ctnn
