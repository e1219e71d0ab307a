// ctnn/layers/conv.hpp — Conv2D: 2-D convolution over channel-first samples (PyTorch's nn.Conv2d).
#pragma once
#include "layer.hpp"
#include "window.hpp"

namespace ctnn {

/// A 2-D convolution with Out output channels and a K x K kernel (or KH x KW: `Kernel{KH, KW}`,
/// PyTorch's kernel_size=(KH, KW)). Input [C, H, W], output
/// [Out, OH, OW]. Options (types, any order, each at most once):
///   padding:  Valid (default), Same (stride 1 only), Padding<P> or Padding<PH, PW>
///   Stride<S> / Stride<SH, SW>, Dilation<D> / Dilation<DH, DW>
///   Groups<G> (C and Out divisible by G) or Depthwise (G = C; Out a multiple of C)
///   NoBias
/// Parameters, PyTorch names and layouts: `weight` [Out, C / G, KH, KW] row-major, `bias` [Out].
/// Like PyTorch this computes a cross-correlation (the kernel is not flipped).
template <std::size_t Out, Kernel K, class... Opts>
struct Conv2D {
    static_assert(Out > 0, "Conv2D needs at least one output channel");
    static_assert(K.h > 0 && K.w > 0, "Conv2D needs a kernel size of at least 1");
    static_assert((detail::WindowOption<Opts> && ...),
                  "Conv2D options are Same, Valid, Padding<P>, Stride<S>, Dilation<D>, "
                  "Groups<G>, Depthwise and NoBias");
    static_assert(detail::option_count<detail::WindowOptionKind::padding, Opts...> <= 1 &&
                      detail::option_count<detail::WindowOptionKind::stride, Opts...> <= 1 &&
                      detail::option_count<detail::WindowOptionKind::dilation, Opts...> <= 1 &&
                      detail::option_count<detail::WindowOptionKind::groups, Opts...> <= 1 &&
                      detail::option_count<detail::WindowOptionKind::bias, Opts...> <= 1,
                  "Conv2D: give each option at most once (one of Same/Valid/Padding, one "
                  "Stride, one Dilation, one of Groups/Depthwise)");

    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::conv;
    static constexpr std::size_t out_channels = Out;
    static constexpr Kernel kernel = K;
    static constexpr bool has_bias =
        detail::option_count<detail::WindowOptionKind::bias, Opts...> == 0;
    using padding = detail::find_option_t<detail::WindowOptionKind::padding, Valid, Opts...>;
    using stride = detail::find_option_t<detail::WindowOptionKind::stride, Stride<1>, Opts...>;
    using dilation =
        detail::find_option_t<detail::WindowOptionKind::dilation, Dilation<1>, Opts...>;
    using groups = detail::find_option_t<detail::WindowOptionKind::groups, Groups<1>, Opts...>;
    static_assert(!padding::same || (stride::h == 1 && stride::w == 1),
                  "Conv2D: Same padding needs stride 1 (as in PyTorch); use Padding<P> with "
                  "Stride<S>");

    static std::string name() {
        return std::string("Conv2D<") + std::to_string(Out) + ", " + K.str() +
               detail::option_names<Opts...>() + ">";
    }

    template <class In>
    struct bind {
        static_assert(In::rank == 3, "Conv2D expects a 3-D input [channels, height, width], "
                                     "e.g. Input<1, 28, 28>");
        static constexpr detail::Window2D window =
            detail::make_window<In, K.h, K.w, padding, stride, dilation>();
        static constexpr std::size_t in_channels = window.c;
        /// Number of groups (Depthwise: one per input channel).
        static constexpr std::size_t group_count = groups::count == 0 ? in_channels : groups::count;
        static_assert(In::rank != 3 || in_channels % group_count == 0,
                      "Conv2D: the input channels must be divisible by the number of groups");
        static_assert(In::rank != 3 || Out % group_count == 0,
                      "Conv2D: the output channels must be divisible by the number of groups "
                      "(Depthwise: a multiple of the input channels)");
        static_assert(In::rank != 3 || window.fits,
                      "Conv2D: the kernel (with its dilation) is larger than the padded input");
        static constexpr std::size_t out_channels = Out;
        /// Taps per output value: (C / G) * KH * KW, the weight's row length and PyTorch's
        /// fan_in.
        static constexpr std::size_t taps_per_group = in_channels / group_count * K.h * K.w;
        using out_shape = Shape<Out, window.oh, window.ow>;
        static constexpr std::size_t param_count = Out * taps_per_group + (has_bias ? Out : 0);
        static constexpr auto params = [] {
            constexpr ParamSpec weight{"weight",
                                       4,
                                       {Out, in_channels / group_count, K.h, K.w},
                                       ParamRole::weight,
                                       taps_per_group,
                                       Out * K.h * K.w};
            if constexpr (has_bias)
                return std::array<ParamSpec, 2>{
                    weight,
                    ParamSpec{"bias", 1, {Out, 0, 0, 0}, ParamRole::bias, taps_per_group, Out}};
            else return std::array<ParamSpec, 1>{weight};
        }();
    };
};

} // namespace ctnn
