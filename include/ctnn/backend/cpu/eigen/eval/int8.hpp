// ctnn/backend/cpu/eigen/eval/int8.hpp — a quantized model's Dense and Conv2D stages on the CPU
// (Executor with GemmOperands::int8; QuantizedModel, model/quantized.hpp).
//
// Each such stage quantizes its input with the stage's calibrated scale (core/quantize.hpp),
// multiplies it by the stage's per-channel int8 weights in int32 (backend/cpu/int8.hpp) and
// writes the sums dequantized, acc * s_x * s_w[channel], where the float GEMM writes Z: the
// bias, a folded BatchNorm and the epilogue then run as in fp32. Every other stage (pooling,
// normalization, a Dense applied at every step of a sequence, recurrent layers) stays in float
// (graph/int8.hpp).
// The int8 weights and the scales are set once per parameter set (Executor::set_int8).
#pragma once
#include "../../../../core/error.hpp"
#include "../../../../core/quantize.hpp"
#include "../../../../core/type_list.hpp"
#include "../../../../graph/int8.hpp"
#include "../../../../graph/lowering.hpp"
#include "../../conv_plan.hpp"
#include "../../int8.hpp"
#include "../window.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace ctnn::eigen::detail {

using ctnn::detail::int8_stage;
using ctnn::detail::int8_stage_name;

/// Sizes of an int8 stage: `depth` int8 values per output channel (a Dense's inputs, a
/// convolution's taps per group), `channels` output channels, and its int8 scratch and int32 sums
/// per sample (Dense) or for one chunk of samples (Conv2D: `*_fixed`).
struct Int8Sizes {
    std::size_t depth = 0, channels = 0;
    std::size_t in_per_sample = 0, acc_per_sample = 0, in_fixed = 0, acc_fixed = 0;
};

template <class S>
constexpr Int8Sizes int8_sizes() {
    if constexpr (!int8_stage<S>()) {
        return {};
    } else if constexpr (S::kind == LayerKind::dense) {
        constexpr std::size_t n_in = S::anchor::bound::in_features, n_out = S::anchor::layer::units;
        return {n_in, n_out, n_in, n_out, 0, 0};
    } else {
        using L = conv_lowering<S>;
        constexpr std::size_t rows = L::chunk * L::pixels;
        constexpr std::size_t og = L::out_channels / S::anchor::bound::group_count;
        // The chunk's quantized input, then its im2col matrix column- and row-major.
        return {S::anchor::bound::taps_per_group,           L::out_channels, 0, 0,
                L::chunk * S::in_size + 2 * rows * L::taps, rows * og};
    }
}

/// The int8 stages of a model: how many, their weights and scales, and the largest int8 input
/// and int32 sums of one (per sample and for one im2col chunk).
struct Int8Totals {
    std::size_t stages = 0, weights = 0, scales = 0;
    std::size_t in_per_sample = 0, acc_per_sample = 0, in_fixed = 0, acc_fixed = 0;
};

/// Where each stage's int8 state lives: its index among the int8 stages (no_int8 for a float
/// stage), the offsets of its weights (channels x depth int8) and of its scales (s_x, 1 / s_x,
/// then per channel s_x s_w and s_w: 2 + 2 channels floats), and the totals.
template <class Stages>
struct Int8Layout {
    static constexpr std::size_t no_int8 = ~std::size_t{0};
    struct Stage {
        std::size_t index = no_int8, weights = 0, scales = 0;
    };
    using Totals = Int8Totals;
    static constexpr auto build() {
        std::array<Stage, Stages::size> at{};
        Totals t{};
        for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            if constexpr (int8_stage<S>()) {
                constexpr Int8Sizes z = int8_sizes<S>();
                at[I] = {t.stages++, t.weights, t.scales};
                t.weights += z.depth * z.channels;
                t.scales += 2 + 2 * z.channels;
                t.in_per_sample = std::max(t.in_per_sample, z.in_per_sample);
                t.acc_per_sample = std::max(t.acc_per_sample, z.acc_per_sample);
                t.in_fixed = std::max(t.in_fixed, z.in_fixed);
                t.acc_fixed = std::max(t.acc_fixed, z.acc_fixed);
            }
        });
        return std::pair{at, t};
    }
    static constexpr std::array<Stage, Stages::size> stage = build().first;
    static constexpr Totals totals = build().second;
};

/// Quantizes n input values of stage S at 1 / s_x = inv; a NaN throws ctnn::numeric_error.
template <class S>
void quantize_stage_input(const float* x, std::int8_t* q, std::size_t n, float inv) {
    const std::size_t nans = cpu::quantize_s8(x, q, n, inv);
    if (nans > 0)
        throw numeric_error("quantized model: the input of " + int8_stage_name<S>() + " has " +
                            std::to_string(nans) + " NaN value(s), which int8 cannot represent");
}

/// The int8 evaluation of Dense and Conv2D stages: a friend of the Executor, whose int8
/// buffers (int8_weights_, int8_scales_, int8_in_, int8_acc_) it reads.
struct Int8Eval {
    /// The int8 state of stage I of executor ex: its weights, its scales (s_x, 1 / s_x, s_x s_w[])
    /// as laid out by Int8Layout.
    template <std::size_t I, class Ex>
    static auto state(Ex& ex) {
        using Layout = Int8Layout<typename Ex::stages>;
        constexpr auto at = Layout::stage[I];
        static_assert(at.index != Layout::no_int8);
        static_assert(int8_sizes<ctnn::detail::stage_at<typename Ex::stages, I>>().depth <=
                          cpu::max_int8_depth,
                      "ctnn: an int8 layer sums too many products for int32");
        if (ex.int8_scales_.empty())
            throw argument_error(
                "eigen::Executor: a quantized model's forward pass before its int8 "
                "weights and scales were set (set_int8)");
        struct State {
            const std::int8_t* w;
            float inv_in;
            const float* dequant; // s_x s_w per channel
        };
        const float* s = ex.int8_scales_.data() + at.scales;
        return State{ex.int8_weights_.data() + at.weights, s[1], s + 2};
    }

    /// A Dense stage in int8: z[b n_out + o] = (sum_k qx[b][k] qw[o][k]) s_x s_w[o] for the batch.
    template <class S, std::size_t I, class Ex>
    static void dense(Ex& ex, const float* x, float* z) {
        constexpr Int8Sizes n = int8_sizes<S>();
        const auto q = state<I>(ex);
        const std::size_t batch = ex.batch_;
        std::int8_t* xq = ex.int8_in_.data();
        std::int32_t* acc = ex.int8_acc_.data();
        quantize_stage_input<S>(x, xq, batch * n.depth, q.inv_in);
        cpu::gemm_s8(q.w, n.depth, xq, n.depth, acc, n.channels, n.channels, batch, n.depth);
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t o = 0; o < n.channels; ++o)
                z[b * n.channels + o] = static_cast<float>(acc[b * n.channels + o]) * q.dequant[o];
    }

    /// One chunk of `samples` samples of a Conv2D stage in int8: x is their input; out receives
    /// the dequantized sums ((samples * pixels) x out_channels, column-major) as the float GEMMs
    /// write them. Each input value is quantized once, before it is unfolded (the padding's 0
    /// quantizes to 0, so this equals quantizing the float im2col matrix, at 1 / taps the cost).
    template <class S, std::size_t I, class Ex>
    static void conv_chunk(Ex& ex, const float* x, std::size_t samples, float* out) {
        using L = conv_lowering<S>;
        constexpr std::size_t groups = S::anchor::bound::group_count, taps = L::taps,
                              kg = S::anchor::bound::taps_per_group, og = L::out_channels / groups;
        const auto q = state<I>(ex);
        const std::size_t rows = samples * L::pixels;
        std::int8_t* xq = ex.int8_in_.data();
        std::int8_t* col = xq + L::chunk * S::in_size;
        std::int8_t* row_major = col + L::chunk * L::pixels * taps;
        std::int32_t* acc = ex.int8_acc_.data();
        quantize_stage_input<S>(x, xq, samples * S::in_size, q.inv_in);
        im2col(S::anchor::bound::window, xq, samples, col);
        // Row-major (each pixel's taps contiguous): the GEMM reads rows of K values.
        for (std::size_t t = 0; t < taps; ++t)
            for (std::size_t r = 0; r < rows; ++r) row_major[r * taps + t] = col[r + t * rows];
        for (std::size_t g = 0; g < groups; ++g) {
            cpu::gemm_s8(q.w + g * og * kg, kg, row_major + g * kg, taps, acc, og, og, rows, kg);
            for (std::size_t o = 0; o < og; ++o) {
                const float m = q.dequant[g * og + o];
                float* oc = out + (g * og + o) * rows;
                for (std::size_t r = 0; r < rows; ++r)
                    oc[r] = static_cast<float>(acc[r * og + o]) * m;
            }
        }
    }

    /// Quantizes the weights of every int8 stage of Ex from params and sets their scales from
    /// input_scales (one per int8 stage, in stage order): what Executor::set_int8 does.
    template <class Ex>
    static void set(Ex& ex, const float* params, const float* input_scales) {
        using Stages = typename Ex::stages;
        using Layout = Int8Layout<Stages>;
        ex.int8_weights_.assign(Layout::totals.weights, 0);
        ex.int8_scales_.assign(Layout::totals.scales, 0.0f);
        for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            if constexpr (int8_stage<S>()) {
                constexpr auto at = Layout::stage[I];
                constexpr Int8Sizes n = int8_sizes<S>();
                const float sx = input_scales[at.index];
                float* s = ex.int8_scales_.data() + at.scales;
                // A Dense weight [out, in] and a convolution's [out, taps per group]: each output
                // channel's depth values are contiguous.
                ctnn::detail::quantize_gemm_weights(
                    params + S::anchor::param_offset, n.depth, n.channels, sx,
                    ex.int8_weights_.data() + at.weights, s + 2 + n.channels, s + 2,
                    int8_stage_name<S>());
                s[0] = sx;
                s[1] = 1.0f / sx;
            }
        });
    }
};

} // namespace ctnn::eigen::detail
