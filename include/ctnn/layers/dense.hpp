// ctnn/layers/dense.hpp — Dense<N>: a fully connected layer y = W x + b (PyTorch's nn.Linear).
#pragma once
#include "layer.hpp"

namespace ctnn {

/// A fully connected layer with N outputs. Input: 1-D [in]; output [N].
/// Parameters (PyTorch layout): `weight` [N, in] row-major, `bias` [N] (absent if UseBias is
/// false).
template <std::size_t N, bool UseBias = true>
struct Dense {
    static_assert(N > 0, "Dense needs at least one output unit");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::dense;
    static constexpr std::size_t units = N;
    static constexpr bool has_bias = UseBias;
    static std::string name() {
        return std::string("Dense<") + std::to_string(N) + std::string(UseBias ? "" : ", no bias") +
               ">";
    }

    template <class In>
    struct bind {
        static_assert(In::rank == 1, "Dense expects a 1-D input; insert Flatten before it");
        static constexpr std::size_t in_features = In::size;
        using out_shape = Shape<N>;
        static constexpr std::size_t param_count = N * In::size + (UseBias ? N : 0);
        static constexpr auto params = [] {
            if constexpr (UseBias)
                return std::array<ParamSpec, 2>{
                    ParamSpec{"weight", 2, {N, In::size, 0, 0}, ParamRole::weight, In::size, N},
                    ParamSpec{"bias", 1, {N, 0, 0, 0}, ParamRole::bias, In::size, N}};
            else
                return std::array<ParamSpec, 1>{
                    ParamSpec{"weight", 2, {N, In::size, 0, 0}, ParamRole::weight, In::size, N}};
        }();
    };
};

} // namespace ctnn
