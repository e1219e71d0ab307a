// ctnn/core/param.hpp — what a parameter or buffer tensor is: role, PyTorch name, shape, fans.
//
// In core (not layers/) because initialization (core/init.hpp) and checkpoints need it without
// knowing what a layer is.
#pragma once
#include "../config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ctnn {

/// How a parameter tensor is initialized.
enum class ParamRole {
    weight, ///< drawn by the model's init scheme from fan_in/fan_out
    bias,   ///< zero
    one,    ///< one (a normalization's scale)
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) whatever the model's scheme: PyTorch's initialization
    /// of every tensor (biases too) of RNN, LSTM and GRU, fan_in being the hidden size
    recurrent,
    standard_normal, ///< N(0, 1) whatever the model's scheme: PyTorch's nn.Embedding
};

/// A parameter tensor of a bound layer: PyTorch name suffix, shape (row-major), fan-in/out.
struct ParamSpec {
    const char* name;
    std::size_t rank;
    std::array<std::size_t, 4> dims;
    ParamRole role;
    std::size_t fan_in;
    std::size_t fan_out;

    [[nodiscard]] constexpr std::size_t size() const {
        std::size_t s = 1;
        for (std::size_t i = 0; i < rank; ++i) s *= dims[i];
        return s;
    }
    /// The shape as safetensors stores it: [dims[0], ..., dims[rank - 1]].
    [[nodiscard]] std::vector<std::int64_t> shape() const {
        return {dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(rank)};
    }
};

/// A non-trainable state tensor of a bound layer (PyTorch's "buffer", e.g. BatchNorm's
/// running_mean): PyTorch name suffix, shape (rank 0 is a scalar) and initial value. Buffers live
/// in the model's buffer storage, apart from the parameters: optimizers never see them, save()
/// and load() include them.
struct BufferSpec {
    const char* name;
    std::size_t rank;
    std::array<std::size_t, 4> dims;
    float init;

    [[nodiscard]] constexpr std::size_t size() const {
        std::size_t s = 1;
        for (std::size_t i = 0; i < rank; ++i) s *= dims[i];
        return s;
    }
    [[nodiscard]] std::vector<std::int64_t> shape() const {
        return {dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(rank)};
    }
};

} // namespace ctnn
