// ctnn/backend/cpu/conv_plan.hpp — how the CPU backend evaluates a convolution stage: im2col
// chunks and their scratch, or a direct or Winograd kernel.
//
// CPU policy on top of the graph's shape facts (graph/lowering.hpp's conv_geometry): the Eigen
// evaluators (backend/cpu/eigen/eval/conv.hpp, direct.hpp), the CPU kernels (conv.hpp,
// winograd.hpp) and describe() (backend/cpu/describe.hpp) read it; the CUDA backend has its own.
#pragma once
#include "../../config.hpp"
#include "../../core/type_list.hpp"
#include "../../graph/lowering.hpp"

#include <algorithm>
#include <cstddef>

namespace ctnn {

/// How the CPU backend lowers a convolution stage: im2col of `chunk` samples at a time into a
/// (chunk * pixels) x taps matrix, one GEMM per group with the weights, then the epilogue. The
/// scratch (the im2col matrix and the GEMM output) depends only on the model type, never on the
/// batch. Samples are chunked so that one GEMM has about `gemm_rows` rows even on small maps.
template <class S>
struct conv_lowering : conv_geometry<S> {
    using typename conv_geometry<S>::bound;
    using conv_geometry<S>::pixels;
    using conv_geometry<S>::taps;
    using conv_geometry<S>::out_channels;
    static constexpr std::size_t gemm_rows = 512;
    static constexpr std::size_t chunk = (gemm_rows + pixels - 1) / pixels;
    /// Floats of scratch: the im2col matrix (also its gradient) and the GEMM output (or dZ).
    static constexpr std::size_t scratch = chunk * pixels * (taps + out_channels);
    /// The CPU evaluates the forward pass as a direct convolution (backend/cpu/conv.hpp) when the
    /// scalar is float and the fused CPU kernels are compiled in: stride 1, one group.
    static constexpr bool direct = [] {
        constexpr auto g = bound::window;
        return g.sh == 1 && g.sw == 1 && g.fits && bound::group_count == 1;
    }();
    /// ... and the input gradient too, when no side is padded by more than the kernel's dilated
    /// extent (the input gradient is then a direct convolution of dZ with the flipped kernel).
    static constexpr bool direct_dx = [] {
        constexpr auto g = bound::window;
        const std::size_t eh = (g.kh - 1) * g.dh, ew = (g.kw - 1) * g.dw;
        return direct && g.pt <= eh && g.pb <= eh && g.pl <= ew && g.pr <= ew;
    }();
    /// A direct 3 x 3 convolution (no dilation) with at least 8 input and 8 output channels runs
    /// as Winograd F(2 x 2, 3 x 3) (backend/cpu/winograd.hpp): 2.25x fewer multiply-adds. With
    /// fewer channels (the first convolution of an image model) the transforms cost more than
    /// the products they save.
    static constexpr bool winograd = [] {
        constexpr auto g = bound::window;
        return direct && g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.c >= 8 &&
               out_channels >= 8;
    }();
    /// ... and its input gradient (a 3 x 3 convolution of dZ, out_channels -> c channels).
    static constexpr bool winograd_dx = winograd && direct_dx;
};

namespace cpu {
namespace detail {
template <class S>
constexpr std::size_t stage_scratch() {
    if constexpr (S::kind == LayerKind::conv) return conv_lowering<S>::scratch;
    else return 0;
}
template <class Stages>
struct scratch_of;
template <class... S>
struct scratch_of<type_list<S...>> {
    static constexpr std::size_t value = std::max({std::size_t{0}, stage_scratch<S>()...});
};
} // namespace detail

/// Floats of batch-independent scratch the CPU backend shares between the stages of Stages (the
/// largest convolution's im2col matrix and GEMM output).
template <class Stages>
inline constexpr std::size_t scratch_floats = detail::scratch_of<Stages>::value;
} // namespace cpu

} // namespace ctnn
