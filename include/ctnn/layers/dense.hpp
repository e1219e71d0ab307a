// ctnn/layers/dense.hpp — Dense<N>: a fully connected layer y = W x + b (PyTorch's nn.Linear).
#pragma once
#include "layer.hpp"
#include "window.hpp"

#include <type_traits>

namespace ctnn {

namespace detail {

/// True for the option types Dense accepts (today only NoBias).
template <class O>
inline constexpr bool dense_option = option_is<O>(WindowOptionKind::bias);

} // namespace detail

/// A fully connected layer with N outputs. Input: 1-D [in]; output [N]. Given a sequence
/// [T, in], it is applied at every step (as PyTorch's nn.Linear on the last dimension), [T, N].
/// Options (types, at most once): NoBias — no bias term (PyTorch's bias=False), as for Conv2D.
/// Parameters (PyTorch layout): `weight` [N, in] row-major, `bias` [N] (absent with NoBias).
template <std::size_t N, class... Opts>
struct Dense {
    static_assert(N > 0, "Dense needs at least one output unit");
    static_assert((detail::dense_option<Opts> && ...), "Dense's only option is NoBias");
    static_assert(detail::option_count<detail::WindowOptionKind::bias, Opts...> <= 1,
                  "Dense: give NoBias at most once");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::dense;
    static constexpr std::size_t units = N;
    static constexpr bool has_bias =
        detail::option_count<detail::WindowOptionKind::bias, Opts...> == 0;
    static std::string name() {
        return std::string("Dense<") + std::to_string(N) +
               std::string(has_bias ? "" : ", no bias") + ">";
    }

    template <class In>
    struct bind {
        static_assert(In::rank <= 2, "Dense expects a 1-D input [features] or a sequence [steps, "
                                     "features]; insert Flatten before it");
        /// Steps the layer is applied at (1 for a 1-D input).
        static constexpr std::size_t steps = In::rank == 2 ? In::dims[0] : 1;
        static constexpr std::size_t in_features = In::dims[In::rank - 1];
        using out_shape = std::conditional_t<In::rank == 2, Shape<steps, N>, Shape<N>>;
        static constexpr std::size_t param_count = N * in_features + (has_bias ? N : 0);
        static constexpr auto params = [] {
            constexpr std::size_t f = in_features;
            if constexpr (has_bias)
                return std::array<ParamSpec, 2>{
                    ParamSpec{"weight", 2, {N, f, 0, 0}, ParamRole::weight, f, N},
                    ParamSpec{"bias", 1, {N, 0, 0, 0}, ParamRole::bias, f, N}};
            else
                return std::array<ParamSpec, 1>{
                    ParamSpec{"weight", 2, {N, f, 0, 0}, ParamRole::weight, f, N}};
        }();
    };
};

} // namespace ctnn
