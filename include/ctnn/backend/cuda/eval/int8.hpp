// ctnn/backend/cuda/eval/int8.hpp — a quantized model's Dense and Conv2D stages on CUDA
// (Executor with GemmOperands::int8; QuantizedModel, model/quantized.hpp).
//
//   Dense    quantize_rows (the input, words of 4 codes)        gemm_s8 (dp4a), dequantizing store
//   Conv2D   quantize_rows (the input once), im2col_s8 (unfold)  gemm_s8 per group, the same
// The stores dequantize each int32 sum, acc * s_x s_w[channel], and hand it to the float stage's
// store (ForwardStore, ConvForwardStore): bias, a folded BatchNorm, a fused join and the epilogue
// run as in fp32, as on the CPU (eigen/eval/int8.hpp), whose results these equal up to the
// rounding of that float tail (nvcc may contract acc * s + bias into one fma). Every other stage
// stays in float; a pooling after an int8 convolution runs as its own kernel (the pooled store of
// conv_pool_forward takes float GEMM columns). The weights are quantized on the host by
// set_int8 (core/quantize.hpp, as the CPU does) and uploaded once, rows zero-padded to words; a
// NaN reaching an int8 stage is counted on the device and reported after the pass.
#pragma once
#include "../../../core/error.hpp"
#include "../../../core/quantize.hpp"
#include "../../../graph/int8.hpp"
#include "../../../graph/lowering.hpp"
#include "../kernels/conv.hpp"
#include "../kernels/gemm_s8.hpp"
#include "../kernels/quantize.hpp"
#include "../memory.hpp"
#include "common.hpp"
#include "conv.hpp"
#include "dense.hpp"
#include "fusion.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ctnn::cuda::detail {

using ctnn::detail::int8_gemm;
using ctnn::detail::int8_stage;
using ctnn::detail::int8_stage_name;
using ctnn::detail::Int8Gemm;

/// Words of 4 int8 that hold k values.
constexpr std::uint32_t int8_words(std::size_t k) {
    return static_cast<std::uint32_t>((k + 3) / 4);
}

/// Where each int8 stage's device state lives: its rank among the int8 stages (its input scale
/// and NaN counter), the word offset of its weights (channels rows of int8_words(depth) words)
/// and the offset of its dequantization factors (s_x s_w, one per channel); and the largest
/// scratch per sample of one stage, in words (Dense: its input's words; Conv2D: its input's
/// codes, then the unfolded rows).
template <class Stages>
struct Int8Plan {
    using Ranks = ctnn::detail::Int8Stages<Stages>;
    struct Stage {
        std::size_t weights = 0, dequant = 0;
    };
    struct Totals {
        std::size_t weight_words = 0, dequant = 0, scratch_per_sample = 0;
    };
    template <class S>
    static constexpr std::size_t scratch_of() {
        constexpr Int8Gemm n = int8_gemm<S>();
        if constexpr (S::kind == LayerKind::dense) {
            return int8_words(n.depth);
        } else {
            using Shape = conv_shape_of<typename S::anchor>;
            return int8_words(Shape::in_size) +
                   std::size_t{Shape::pixels} * Shape::groups * int8_words(n.depth);
        }
    }
    static constexpr auto build() {
        std::array<Stage, Stages::size> at{};
        Totals t{};
        for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            if constexpr (int8_stage<S>()) {
                constexpr Int8Gemm n = int8_gemm<S>();
                at[I] = {t.weight_words, t.dequant};
                t.weight_words += n.channels * int8_words(n.depth);
                t.dequant += n.channels;
                t.scratch_per_sample = std::max(t.scratch_per_sample, scratch_of<S>());
            }
        });
        return std::pair{at, t};
    }
    static constexpr std::array<Stage, Stages::size> stage = build().first;
    static constexpr Totals totals = build().second;
};

/// gemm_s8's store of a Dense stage: the dequantized sum, acc * dequant[n], to the float store.
template <class Store>
struct DequantStore {
    Store store;
    const float* dequant;
    __device__ __forceinline__ void operator()(std::uint32_t m, std::uint32_t n,
                                               std::int32_t acc) const {
        store(m, n, static_cast<float>(acc) * dequant[n]);
    }
};

/// The same for group g of a convolution (og output channels per group; a grouped store).
template <class Store>
struct DequantGroupStore {
    Store store;
    const float* dequant;
    std::uint32_t g, og;
    __device__ __forceinline__ void operator()(std::uint32_t m, std::uint32_t n,
                                               std::int32_t acc) const {
        store(g, m, n, static_cast<float>(acc) * dequant[g * og + n]);
    }
};

/// The int8 evaluation of Dense and Conv2D stages: a friend of the Executor, whose int8 buffers
/// (int8_weights_, int8_dequant_, int8_inv_, int8_scratch_, int8_nans_) it uses.
struct Int8Eval {
    template <class Ex>
    using plan_of = Int8Plan<typename Ex::stages>;

    template <std::size_t I, class Ex>
    static void check_set(const Ex& ex) {
        static_assert(ctnn::detail::Int8Stages<typename Ex::stages>::index[I] !=
                      ctnn::detail::Int8Stages<typename Ex::stages>::none);
        static_assert(int8_gemm<ctnn::detail::stage_at<typename Ex::stages, I>>().depth <=
                          std::size_t{2147483647} / (127 * 127),
                      "ctnn: an int8 layer sums too many products for int32");
        if (ex.int8_inv_.empty())
            throw argument_error("cuda::Executor: a quantized model's forward pass before its int8 "
                                 "weights and scales were set (set_int8)");
    }

    /// The forward pass of int8 stage S (a Dense or a Conv2D).
    template <class S, std::size_t I, class Ex>
    static void forward(Ex& ex, const float* params) {
        if constexpr (S::kind == LayerKind::dense) dense<S, I>(ex, params);
        else conv<S, I>(ex, params);
    }

    /// A Dense stage in int8 (the batch's rows; fold and join fusions as in float).
    template <class S, std::size_t I, class Ex>
    static void dense(Ex& ex, const float* params) {
        using A = typename S::anchor;
        check_set<I>(ex);
        constexpr Int8Gemm n = int8_gemm<S>();
        constexpr std::uint32_t words = int8_words(n.depth), n_out = A::layer::units;
        constexpr std::size_t rank = ctnn::detail::Int8Stages<typename Ex::stages>::index[I];
        const std::int32_t* wq = ex.int8_weights_.data() + plan_of<Ex>::stage[I].weights;
        const float* dequant = ex.int8_dequant_.data() + plan_of<Ex>::stage[I].dequant;
        const auto B = static_cast<std::uint32_t>(ex.batch_);
        std::int32_t* xq = ex.int8_scratch_.data();
        quantize_rows(ex.x_of(I), B, static_cast<std::uint32_t>(n.depth), ex.int8_inv_[rank], xq,
                      words, ex.int8_nans_.data() + rank, ex.stream_);
        const float* w = params + A::param_offset;
        const float* bias = A::layer::has_bias ? w + n.depth * n_out : nullptr;
        Fusions::with<I>(ex, params, [&](auto fold, auto join) {
            using Store = ForwardStore<epilogue_of<S>, float, decltype(fold), decltype(join)>;
            const Store store{ex.z_of(I), ex.y_of(I), bias, ex.ctx_, n_out, fold, join};
            gemm_s8(B, n_out, words, xq, words, wq, words, DequantStore<Store>{store, dequant},
                    ex.stream_);
        });
    }

    /// A Conv2D stage in int8: the input quantized once, unfolded as int8, one GEMM per group.
    template <class S, std::size_t I, class Ex>
    static void conv(Ex& ex, const float* params) {
        using A = typename S::anchor;
        using Shape = conv_shape_of<A>;
        check_set<I>(ex);
        constexpr std::uint32_t code_words = int8_words(Shape::in_size),
                                words = int8_words(Shape::taps);
        constexpr std::size_t rank = ctnn::detail::Int8Stages<typename Ex::stages>::index[I];
        const std::int32_t* wq = ex.int8_weights_.data() + plan_of<Ex>::stage[I].weights;
        const float* dequant = ex.int8_dequant_.data() + plan_of<Ex>::stage[I].dequant;
        const std::size_t batch = ex.batch_;
        std::int32_t* xq = ex.int8_scratch_.data();
        std::int32_t* col = xq + batch * code_words;
        quantize_rows(ex.x_of(I), batch, Shape::in_size, ex.int8_inv_[rank], xq, code_words,
                      ex.int8_nans_.data() + rank, ex.stream_);
        im2col_s8<Shape>(reinterpret_cast<const std::int8_t*>(xq), 4 * code_words, batch, words,
                         col, ex.stream_);
        const float* w = params + A::param_offset;
        const float* bias =
            A::layer::has_bias ? w + std::size_t{Shape::og} * Shape::groups * Shape::taps : nullptr;
        const auto M = static_cast<std::uint32_t>(batch * Shape::pixels);
        Fusions::with<I>(ex, params, [&](auto fold, auto join) {
            using Store =
                ConvForwardStore<Shape, epilogue_of<S>, float, decltype(fold), decltype(join)>;
            const Store store{ex.z_of(I), ex.y_of(I), bias, ex.ctx_, fold, join};
            for (std::uint32_t g = 0; g < Shape::groups; ++g)
                gemm_s8(M, Shape::og, words, col + g * words, Shape::groups * words,
                        wq + std::size_t{g} * Shape::og * words, words,
                        DequantGroupStore<Store>{store, dequant, g, Shape::og}, ex.stream_);
        });
    }

    /// Quantizes the weights of every int8 stage of Ex from host parameters `params` and uploads
    /// them with their scales (input_scales: one per int8 stage, in stage order), as the CPU's
    /// set_int8 does.
    template <class Ex>
    static void set(Ex& ex, const float* params, std::span<const float> input_scales) {
        using Stages = typename Ex::stages;
        using Plan = plan_of<Ex>;
        using Ranks = ctnn::detail::Int8Stages<Stages>;
        std::vector<std::int32_t> words(Plan::totals.weight_words, 0);
        std::vector<float> dequant(Plan::totals.dequant), inv(Ranks::count);
        for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            if constexpr (int8_stage<S>()) {
                constexpr Int8Gemm n = int8_gemm<S>();
                constexpr std::size_t rank = Ranks::index[I], k4 = int8_words(n.depth);
                constexpr auto at = Plan::stage[I];
                std::vector<std::int8_t> q(n.channels * n.depth);
                std::vector<float> sw(n.channels);
                ctnn::detail::quantize_gemm_weights(
                    params + S::anchor::param_offset, n.depth, n.channels, input_scales[rank],
                    q.data(), sw.data(), dequant.data() + at.dequant, int8_stage_name<S>());
                inv[rank] = 1.0f / input_scales[rank];
                // Row c: its codes in words of 4, code k in byte k % 4 of word k / 4.
                for (std::size_t c = 0; c < n.channels; ++c)
                    for (std::size_t k = 0; k < n.depth; ++k) {
                        const auto b = static_cast<std::uint32_t>(
                            static_cast<std::uint8_t>(q[c * n.depth + k]));
                        auto& word = words[at.weights + c * k4 + k / 4];
                        word = static_cast<std::int32_t>(static_cast<std::uint32_t>(word) |
                                                         (b << (8 * (k % 4))));
                    }
            }
        });
        DeviceBuffer<std::int32_t> w(words.size());
        DeviceBuffer<float> d(dequant.size());
        DeviceBuffer<unsigned> nans(Ranks::count);
        copy_to_device(w.data(), words.data(), words.size(), ex.stream_);
        copy_to_device(d.data(), dequant.data(), dequant.size(), ex.stream_);
        ex.int8_weights_ = std::move(w);
        ex.int8_dequant_ = std::move(d);
        ex.int8_nans_ = std::move(nans);
        ex.int8_inv_ = std::move(inv);
    }

    /// Before a pass: zeroes the NaN counters.
    template <class Ex>
    static void begin(Ex& ex) {
        zero(ex.int8_nans_.data(), ctnn::detail::Int8Stages<typename Ex::stages>::count,
             ex.stream_);
    }

    /// After a pass: throws ctnn::numeric_error naming the first int8 stage whose input held a
    /// NaN (waits for the device).
    template <class Ex>
    static void check_nans(Ex& ex) {
        using Ranks = ctnn::detail::Int8Stages<typename Ex::stages>;
        std::array<unsigned, Ranks::count> nans{};
        copy_to_host(nans.data(), ex.int8_nans_.data(), Ranks::count, ex.stream_);
        for_each_type(typename Ex::stages{}, [&]<class S, std::size_t I>() {
            if constexpr (int8_stage<S>()) {
                const unsigned k = nans[Ranks::index[I]];
                if (k > 0)
                    throw numeric_error("quantized model: the input of " + int8_stage_name<S>() +
                                        " has " + std::to_string(k) +
                                        " NaN value(s), which int8 cannot represent");
            }
        });
    }
};

} // namespace ctnn::cuda::detail
