// ctnn/layers/pool.hpp — MaxPool2D, AvgPool2D and GlobalAvgPool over channel-first samples.
#pragma once
#include "layer.hpp"
#include "window.hpp"

namespace ctnn {

/// The reduction a pooling layer applies to each window.
enum class PoolOp { max, avg };

namespace detail {
/// Options and window of a KH x KW pooling layer (PyTorch defaults: stride = the kernel size, no
/// padding).
template <Kernel K, class... Opts>
struct pool_options {
    static constexpr bool only_stride_padding = ((option_is<Opts>(WindowOptionKind::stride) ||
                                                  option_is<Opts>(WindowOptionKind::padding)) &&
                                                 ...);
    static constexpr bool at_most_once = option_count<WindowOptionKind::stride, Opts...> <= 1 &&
                                         option_count<WindowOptionKind::padding, Opts...> <= 1;
    using stride = find_option_t<WindowOptionKind::stride, Stride<K.h, K.w>, Opts...>;
    using padding = find_option_t<WindowOptionKind::padding, Valid, Opts...>;
    static constexpr bool not_same = !padding::same;
    static constexpr bool half_kernel = 2 * padding::h <= K.h && 2 * padding::w <= K.w;
    template <class In>
    static constexpr Window2D window = make_window<In, K.h, K.w, padding, stride, Dilation<1>>();
};
} // namespace detail

/// Max over each K x K window (or KH x KW: `Kernel{KH, KW}`) of each channel: [C, H, W] ->
/// [C, OH, OW]. Options: Stride<S> (default the kernel size, as PyTorch's MaxPool2d) and
/// Padding<P> (P <= K / 2; padded values never win).
/// Backward routes each output gradient to the first maximum of its window (PyTorch's choice).
template <Kernel K, class... Opts>
struct MaxPool2D {
    using opts = detail::pool_options<K, Opts...>;
    static_assert(K.h > 0 && K.w > 0, "MaxPool2D needs a kernel size of at least 1");
    static_assert(opts::only_stride_padding, "MaxPool2D options are Stride<S> and Padding<P>");
    static_assert(opts::at_most_once, "MaxPool2D: give each option at most once");
    static_assert(opts::not_same, "MaxPool2D: Same padding is not supported; use Padding<P>");
    static_assert(opts::half_kernel, "MaxPool2D: padding must be at most half the kernel size");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::pool;
    static constexpr PoolOp op = PoolOp::max;
    static std::string name() {
        return std::string("MaxPool2D<") + K.str() + detail::option_names<Opts...>() + ">";
    }
    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 3, "MaxPool2D expects a 3-D input [channels, height, width]");
        static constexpr detail::Window2D window = opts::template window<In>;
        static_assert(In::rank != 3 || window.fits,
                      "MaxPool2D: the window is larger than the padded input");
        using out_shape = Shape<window.c, window.oh, window.ow>;
    };
};

/// Mean over each K x K window (or KH x KW: `Kernel{KH, KW}`) of each channel: [C, H, W] ->
/// [C, OH, OW]. Options: Stride<S> (default the kernel size) and Padding<P> (P <= K / 2). Padded
/// zeros count in the mean (PyTorch's default count_include_pad=True): every window divides by
/// KH * KW.
template <Kernel K, class... Opts>
struct AvgPool2D {
    using opts = detail::pool_options<K, Opts...>;
    static_assert(K.h > 0 && K.w > 0, "AvgPool2D needs a kernel size of at least 1");
    static_assert(opts::only_stride_padding, "AvgPool2D options are Stride<S> and Padding<P>");
    static_assert(opts::at_most_once, "AvgPool2D: give each option at most once");
    static_assert(opts::not_same, "AvgPool2D: Same padding is not supported; use Padding<P>");
    static_assert(opts::half_kernel, "AvgPool2D: padding must be at most half the kernel size");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::pool;
    static constexpr PoolOp op = PoolOp::avg;
    static std::string name() {
        return std::string("AvgPool2D<") + K.str() + detail::option_names<Opts...>() + ">";
    }
    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 3, "AvgPool2D expects a 3-D input [channels, height, width]");
        static constexpr detail::Window2D window = opts::template window<In>;
        static_assert(In::rank != 3 || window.fits,
                      "AvgPool2D: the window is larger than the padded input");
        using out_shape = Shape<window.c, window.oh, window.ow>;
    };
};

/// Mean of each channel over all its pixels: [C, H, W] -> [C, 1, 1] (PyTorch's
/// AdaptiveAvgPool2d(1)); follow it with Flatten to feed a Dense layer.
struct GlobalAvgPool {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::pool;
    static constexpr PoolOp op = PoolOp::avg;
    static std::string name() { return "GlobalAvgPool"; }
    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 3, "GlobalAvgPool expects a 3-D input [channels, height, width]");
        static constexpr detail::Window2D window = [] {
            detail::Window2D g;
            if constexpr (In::rank == 3) {
                g.c = In::dims[0], g.h = In::dims[1], g.w = In::dims[2];
                g.kh = g.h, g.kw = g.w;
            }
            return g;
        }();
        using out_shape = Shape<window.c, 1, 1>;
    };
};

} // namespace ctnn
