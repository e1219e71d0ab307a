// ctnn/layers/window.hpp — sliding-window geometry shared by Conv2D and the pooling layers.
//
// A window layer reads a channel-first sample [C, H, W] and slides a kh x kw window over its
// (padded) height and width. Its options are types, written after the kernel size:
//
//     Conv2D<32, 3, Same>                          // 3x3, output as large as the input
//     Conv2D<64, 3, Stride<2>, Padding<1>>         // PyTorch's Conv2d(in, 64, 3, stride=2,
//     padding=1) Conv2D<32, 3, Dilation<2>, Groups<4>, NoBias> MaxPool2D<3, Stride<2>, Padding<1>>
//
// The output size follows PyTorch: out = floor((in + pad_before + pad_after - dilation * (k - 1)
// - 1) / stride) + 1.
#pragma once
#include "../config.hpp"
#include "../core/shape.hpp"

#include <concepts>
#include <cstddef>
#include <string>
#include <type_traits>

namespace ctnn {

namespace detail {
/// What an option of a window layer sets.
enum class WindowOptionKind { padding, stride, dilation, groups, bias };
} // namespace detail

/// The size of a window layer's kernel: `3` is 3 x 3, `Kernel{1, 7}` is 1 row by 7 columns
/// (PyTorch's kernel_size=(1, 7)). Written where Conv2D and the pools take their kernel size:
/// `Conv2D<32, 3>`, `Conv2D<32, Kernel{1, 7}>`, `MaxPool2D<Kernel{2, 1}>`.
struct Kernel {
    std::size_t h = 1, w = 1;                                ///< rows, columns
    constexpr Kernel(std::size_t k) noexcept : h(k), w(k) {} // NOLINT: `3` means 3 x 3
    constexpr Kernel(std::size_t rows, std::size_t cols) noexcept : h(rows), w(cols) {}
    [[nodiscard]] constexpr bool square() const { return h == w; }
    /// "3" for a square kernel, "Kernel{1, 7}" otherwise: as the type is written.
    [[nodiscard]] std::string str() const {
        return square() ? std::to_string(h)
                        : "Kernel{" + std::to_string(h) + ", " + std::to_string(w) + "}";
    }
};

/// Stride of the window: SH rows and SW columns (default: SW = SH).
template <std::size_t SH, std::size_t SW = SH>
struct Stride {
    static_assert(SH > 0 && SW > 0, "Stride must be at least 1");
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::stride;
    static constexpr std::size_t h = SH, w = SW;
    static std::string name() {
        return std::string("Stride<") + std::to_string(SH) +
               (SW == SH ? std::string() : std::string(", ") + std::to_string(SW)) + ">";
    }
};

/// Zero padding of PH rows above and below and PW columns left and right (default: PW = PH).
/// Max pooling pads with -infinity instead, as PyTorch does.
template <std::size_t PH, std::size_t PW = PH>
struct Padding {
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::padding;
    static constexpr bool same = false;
    static constexpr std::size_t h = PH, w = PW;
    static std::string name() {
        return std::string("Padding<") + std::to_string(PH) +
               (PW == PH ? std::string() : std::string(", ") + std::to_string(PW)) + ">";
    }
};

/// No padding (the default), PyTorch's padding='valid'.
struct Valid : Padding<0> {
    static std::string name() { return "Valid"; }
};

/// Padding that keeps the height and width (stride 1 only), PyTorch's padding='same': a total of
/// dilation * (k - 1) rows/columns, half before and the rest (one more for even kernels) after.
struct Same {
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::padding;
    static constexpr bool same = true;
    static constexpr std::size_t h = 0, w = 0;
    static std::string name() { return "Same"; }
};

/// Spacing between kernel taps: DH rows and DW columns (default: DW = DH).
template <std::size_t DH, std::size_t DW = DH>
struct Dilation {
    static_assert(DH > 0 && DW > 0, "Dilation must be at least 1");
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::dilation;
    static constexpr std::size_t h = DH, w = DW;
    static std::string name() {
        return std::string("Dilation<") + std::to_string(DH) +
               (DW == DH ? std::string() : std::string(", ") + std::to_string(DW)) + ">";
    }
};

/// Grouped convolution: channels split into G groups convolved separately.
template <std::size_t G>
struct Groups {
    static_assert(G > 0, "Groups must be at least 1");
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::groups;
    static constexpr std::size_t count = G; ///< 0 means "one group per input channel"
    static std::string name() { return std::string("Groups<") + std::to_string(G) + ">"; }
};

/// Depthwise convolution: one group per input channel (output channels a multiple of them).
struct Depthwise {
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::groups;
    static constexpr std::size_t count = 0;
    static std::string name() { return "Depthwise"; }
};

/// A convolution or Dense layer without the bias term (PyTorch's bias=False).
struct NoBias {
    static constexpr detail::WindowOptionKind option_kind = detail::WindowOptionKind::bias;
    static std::string name() { return "NoBias"; }
};

namespace detail {

/// True for the option types above.
template <class O>
concept WindowOption = requires {
    { O::option_kind } -> std::convertible_to<WindowOptionKind>;
};

template <class O>
constexpr bool option_is(WindowOptionKind k) {
    if constexpr (WindowOption<O>) return O::option_kind == k;
    else return false;
}

/// How many of Opts set `k`.
template <WindowOptionKind K, class... Opts>
inline constexpr std::size_t option_count = (std::size_t{option_is<Opts>(K)} + ... + 0);

/// The first of Opts that sets K, or Default.
template <WindowOptionKind K, class Default, class... Opts>
struct find_option {
    using type = Default;
};
template <WindowOptionKind K, class Default, class O, class... Opts>
struct find_option<K, Default, O, Opts...> {
    using type =
        std::conditional_t<option_is<O>(K), O, typename find_option<K, Default, Opts...>::type>;
};
template <WindowOptionKind K, class Default, class... Opts>
using find_option_t = typename find_option<K, Default, Opts...>::type;

/// ", Opt1, Opt2" for a layer's name.
template <class... Opts>
std::string option_names() {
    std::string s;
    ((s += std::string(", ") + Opts::name()), ...);
    return s;
}

/// Where a kh x kw window sits on a [c, h, w] input: everything a backend needs, at compile time.
struct Window2D {
    std::size_t c = 1, h = 1, w = 1; ///< input channels, height, width
    std::size_t kh = 1, kw = 1;      ///< kernel height, width
    std::size_t sh = 1, sw = 1;      ///< stride
    std::size_t dh = 1, dw = 1;      ///< dilation
    std::size_t pt = 0, pb = 0;      ///< padding above, below
    std::size_t pl = 0, pr = 0;      ///< padding left, right
    std::size_t oh = 1, ow = 1;      ///< output height, width
    bool fits = true;                ///< the dilated kernel fits the padded input
    [[nodiscard]] constexpr std::size_t in_pixels() const { return h * w; }
    [[nodiscard]] constexpr std::size_t out_pixels() const { return oh * ow; }
    [[nodiscard]] constexpr std::size_t taps() const { return kh * kw; }
};

/// The window of a kh x kw kernel with options Pad (Padding<..>, Valid or Same), Str (Stride) and
/// Dil (Dilation) on the input shape In. For an input that is not 3-D it returns a dummy window
/// (the layer's static_assert reports the problem).
template <class In, std::size_t KH, std::size_t KW, class Pad, class Str, class Dil>
constexpr Window2D make_window() {
    Window2D g;
    if constexpr (In::rank == 3) {
        g.c = In::dims[0], g.h = In::dims[1], g.w = In::dims[2];
    }
    g.kh = KH, g.kw = KW, g.sh = Str::h, g.sw = Str::w, g.dh = Dil::h, g.dw = Dil::w;
    const std::size_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1; // dilated extent
    if constexpr (Pad::same) {
        g.pt = (eh - 1) / 2, g.pb = eh - 1 - g.pt;
        g.pl = (ew - 1) / 2, g.pr = ew - 1 - g.pl;
    } else {
        g.pt = g.pb = Pad::h;
        g.pl = g.pr = Pad::w;
    }
    const std::size_t ph = g.h + g.pt + g.pb, pw = g.w + g.pl + g.pr;
    g.fits = eh <= ph && ew <= pw;
    g.oh = g.fits ? (ph - eh) / g.sh + 1 : 1;
    g.ow = g.fits ? (pw - ew) / g.sw + 1 : 1;
    return g;
}

} // namespace detail
} // namespace ctnn
