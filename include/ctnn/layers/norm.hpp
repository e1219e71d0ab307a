// ctnn/layers/norm.hpp — BatchNorm and LayerNorm.
//
// BatchNorm normalizes each channel with statistics of the batch while training and with running
// statistics in inference. The running statistics are state, not parameters: they live in the
// model's buffer storage (layer.hpp, BufferSpec), are saved and loaded with the model under
// PyTorch's names, and are never seen by an optimizer.
#pragma once
#include "layer.hpp"

namespace ctnn {

/// Batch normalization of each channel (dim 0 of the sample): y = (x - mean) / sqrt(var + Eps) *
/// weight + bias. Input [C] (PyTorch's BatchNorm1d), [C, L] or [C, H, W] (BatchNorm2d); output the
/// same shape. In training the mean and (biased) variance are those of the batch, over all samples
/// and all positions of the channel, and the running statistics are updated as PyTorch does:
/// running = (1 - Momentum) running + Momentum batch (the variance unbiased). In inference the
/// running statistics are used.
/// Parameters: `weight` [C] (initialized to 1), `bias` [C] (0). Buffers (not trainable):
/// `running_mean` [C] (0), `running_var` [C] (1), `num_batches_tracked` [] (0).
template <float Momentum, float Eps>
struct BatchNormWith {
    static_assert(Momentum >= 0.0f && Momentum <= 1.0f, "BatchNorm momentum must be in [0, 1]");
    static_assert(Eps > 0.0f, "BatchNorm eps must be positive");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::batch_norm;
    static constexpr float momentum = Momentum;
    static constexpr float eps = Eps;
    static std::string name() {
        return std::string("BatchNorm(momentum ") + detail::format_real(Momentum) + ", eps " +
               detail::format_general(Eps) + ")";
    }

    template <class In>
    struct bind {
        static constexpr std::size_t channels = In::dims[0];
        /// Values per channel and sample (H * W for images, 1 for a 1-D input).
        static constexpr std::size_t spatial = In::size / channels;
        using out_shape = In;
        static constexpr std::size_t param_count = 2 * channels;
        static constexpr std::array<ParamSpec, 2> params{
            ParamSpec{"weight", 1, {channels, 0, 0, 0}, ParamRole::one, channels, channels},
            ParamSpec{"bias", 1, {channels, 0, 0, 0}, ParamRole::bias, channels, channels}};
        static constexpr std::size_t buffer_count = 2 * channels + 1;
        static constexpr std::array<BufferSpec, 3> buffers{
            BufferSpec{"running_mean", 1, {channels, 0, 0, 0}, 0.0f},
            BufferSpec{"running_var", 1, {channels, 0, 0, 0}, 1.0f},
            BufferSpec{"num_batches_tracked", 0, {0, 0, 0, 0}, 0.0f}};
    };
};

/// BatchNorm with PyTorch's defaults: momentum 0.1, eps 1e-5.
struct BatchNorm : BatchNormWith<0.1f, 1e-5f> {
    static std::string name() { return "BatchNorm"; }
};

/// Layer normalization of each sample over all its values: y = (x - mean) / sqrt(var + Eps) *
/// weight + bias, with the sample's mean and biased variance — PyTorch's
/// LayerNorm(normalized_shape = the sample's shape). Any input shape; output the same.
/// Parameters: `weight` and `bias`, both of the sample's shape (initialized to 1 and 0).
template <float Eps>
struct LayerNormWith {
    static_assert(Eps > 0.0f, "LayerNorm eps must be positive");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::layer_norm;
    static constexpr float eps = Eps;
    static std::string name() {
        return std::string("LayerNorm(eps ") + detail::format_general(Eps) + ")";
    }

    template <class In>
    struct bind {
        static_assert(In::rank <= 4, "LayerNorm supports samples of up to 4 dimensions");
        using out_shape = In;
        static constexpr std::size_t param_count = 2 * In::size;
        static constexpr std::array<std::size_t, 4> dims = [] {
            std::array<std::size_t, 4> d{};
            for (std::size_t i = 0; i < In::rank && i < 4; ++i) d[i] = In::dims[i];
            return d;
        }();
        static constexpr std::array<ParamSpec, 2> params{
            ParamSpec{"weight", In::rank, dims, ParamRole::one, In::size, In::size},
            ParamSpec{"bias", In::rank, dims, ParamRole::bias, In::size, In::size}};
    };
};

/// LayerNorm with PyTorch's default eps 1e-5.
struct LayerNorm : LayerNormWith<1e-5f> {
    static std::string name() { return "LayerNorm"; }
};

} // namespace ctnn
