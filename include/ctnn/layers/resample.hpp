// ctnn/layers/resample.hpp — Upsample<S, Mode>: upsampling of channel-first samples by an integer
// factor, nearest neighbour or bilinear.
#pragma once
#include "layer.hpp"

#include <cstdint>
#include <string>
#include <type_traits>

namespace ctnn {

/// Upsample mode: each output pixel copies its nearest input pixel (PyTorch's mode="nearest").
struct Nearest {
    static std::string name() { return ""; }
};
/// Upsample mode: bilinear interpolation between the four nearest input pixels (PyTorch's
/// mode="bilinear", align_corners=False).
struct Bilinear {
    static std::string name() { return ", Bilinear"; }
};

namespace detail {
/// Dimension i of a 3-D sample shape; 1 for another rank, so that a wrong input gives one error.
template <class In>
constexpr std::size_t image_dim(std::size_t i) {
    if constexpr (In::rank == 3) return In::dims[i];
    else return 1;
}

/// Bilinear upsampling by S along an axis of n input values (PyTorch, align_corners=False):
/// output position o reads input positions i0 and i1 with weights 1 - l and l, where the source
/// position is max(0, (o + 0.5) / S - 0.5) (PyTorch multiplies by the scale 1 / S), i0 its floor
/// and i1 = i0 + 1 (i0 at the last input position).
template <class T>
CTNN_HOST_DEVICE inline void linear_tap(std::uint32_t o, std::uint32_t s, std::uint32_t n,
                                        std::uint32_t& i0, std::uint32_t& i1, T& l) {
    T src = (static_cast<T>(o) + T(0.5)) * (T(1) / static_cast<T>(s)) - T(0.5);
    if (src < T(0)) src = T(0);
    i0 = static_cast<std::uint32_t>(src);
    i1 = i0 + 1 < n ? i0 + 1 : i0;
    l = src - static_cast<T>(i0);
}

/// The weight of input position i in output position o (bilinear, one axis): 1 - l for i0, l for
/// i1, both at the last position; 0 elsewhere.
template <class T>
CTNN_HOST_DEVICE inline T linear_weight(std::uint32_t o, std::uint32_t i, std::uint32_t s,
                                        std::uint32_t n) {
    std::uint32_t i0 = 0, i1 = 0;
    T l = T(0);
    linear_tap(o, s, n, i0, i1, l);
    return (i0 == i ? T(1) - l : T(0)) + (i1 == i ? l : T(0));
}
} // namespace detail

/// Upsampling by an integer factor S: [C, H, W] -> [C, S H, S W], no parameters — PyTorch's
/// nn.Upsample(scale_factor=S, mode=...). Mode Nearest (default): output pixel (y, x) of each
/// channel is input pixel (y / S, x / S); its backward pass sums the output gradient over each
/// S x S block. Mode Bilinear: align_corners=False interpolation; its backward pass gathers, for
/// each input pixel, the weighted gradients of the outputs that read it. A resample anchor:
/// activations after it fuse into its stage.
template <std::size_t S, class Mode = Nearest>
struct Upsample {
    static_assert(S >= 1, "Upsample needs a scale factor of at least 1");
    static_assert(std::is_same_v<Mode, Nearest> || std::is_same_v<Mode, Bilinear>,
                  "Upsample: the mode is Nearest or Bilinear");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::resample;
    static constexpr std::size_t scale = S;
    static constexpr bool bilinear = std::is_same_v<Mode, Bilinear>;
    static std::string name() {
        return std::string("Upsample<") + std::to_string(S) + Mode::name() + ">";
    }

    /// Bound to its input: the geometry, as static members (the CUDA kernels take it through
    /// this type: nvcc's launch stubs cannot spell class-type template arguments).
    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 3, "Upsample expects a 3-D input [channels, height, width]");
        static constexpr std::size_t channels = detail::image_dim<In>(0),
                                     height = detail::image_dim<In>(1),
                                     width = detail::image_dim<In>(2);
        static constexpr std::size_t scale = S > 0 ? S : 1;
        static constexpr bool bilinear = Upsample::bilinear;
        using out_shape = Shape<channels, scale * height, scale * width>;
    };
};

} // namespace ctnn
