// ctnn/backend/cpu/fused/layout.hpp — the compile-time layout of cpu::FusedExecutor: per-stage
// widths, padded widths and offsets (the packed weights at the offsets of their gradient
// accumulators), the slice size and per-thread scratch, the conversions between PyTorch's layout
// and the executor's (packing, to_native, from_native, the gradients written back), and the tiles
// that start and end each micro-kernel block. Everything here depends on the model type and the
// instruction set only.
#pragma once
#include "../../../config.hpp"
#include "../../../graph/lowering.hpp"
#include "../simd.hpp"
#include "../threads.hpp"
#include "blocks.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <tuple>
#include <utility>

#if CTNN_CPU_FUSED
namespace ctnn::cpu::detail {

template <class Net, class Isa>
struct FusedLayout {
    using stages = stages_of<Net>;
    static constexpr std::size_t stage_count = stages::size;
    static constexpr std::size_t width = Isa::width;

    // ---- compile-time plan ----------------------------------------------------------------------
    template <class List>
    struct to_tuple;
    template <class... S>
    struct to_tuple<type_list<S...>> {
        using type = std::tuple<S...>;
    };
    template <std::size_t I>
    using stage = std::tuple_element_t<I, typename to_tuple<stages>::type>;

    static constexpr std::size_t pad(std::size_t n) { return (n + width - 1) / width * width; }
    /// The row stride of a backward dZ slice of padded width n: n, plus one register when the rows
    /// would be a multiple of 512 bytes apart. The weight gradient reads dZ by register columns
    /// down the rows; at such a stride a column of a 96-row slice falls on a quarter of the L1
    /// sets and evicts itself (docs/cpu.md, "Measured decisions").
    static constexpr std::size_t dz_stride(std::size_t n) {
        return n * sizeof(float) % 512 == 0 ? n + width : n;
    }
    static constexpr std::size_t in_size = stage<0>::in_size;
    static constexpr std::size_t out_size = stage<stage_count - 1>::out_size;

    /// Per-stage offsets, computed once at compile time.
    struct StagePlan {
        std::size_t in = 0, out = 0, pin = 0, pout = 0; ///< widths, padded widths
        std::size_t pd = 0; ///< row stride of dZ in the backward scratch (see dz_stride)
        std::size_t wt = 0, bias = 0, wp = 0; ///< packed weight offsets
        std::size_t gw = 0, gb = 0;           ///< gradient accumulator offsets
        std::size_t y = 0, z = 0;             ///< activation offsets (per sample)
        bool keep_y = false, keep_z = false;
    };
    static constexpr auto make_plan() {
        std::array<StagePlan, stage_count> p{};
        std::size_t packed = 0, grad = 0, act = 0, widest = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    using S = stage<I>;
                    StagePlan& s = p[I];
                    s.in = S::in_size;
                    s.out = S::out_size;
                    s.pin = pad(s.in);
                    s.pout = pad(s.out);
                    s.pd = dz_stride(s.pout);
                    // The weights in the executor's layout (W^T, then the padded bias) sit at
                    // the offsets of their gradient accumulators: one flat elementwise update.
                    s.gw = s.wt = grad;
                    grad += s.in * s.pout;
                    s.gb = s.bias = grad;
                    grad += s.pout;
                    s.wp = packed; // relative to the end of that region
                    if (I > 0) packed += s.out * s.pin;
                    constexpr auto kind = detail::epi_kind<typename S::epilogue>();
                    s.keep_y = I + 1 < stage_count; // the last stage's Y is the output
                    s.keep_z = kind == detail::EpiKind::general;
                    s.y = act;
                    act += s.keep_y ? s.pout : 0;
                    s.z = act;
                    act += s.keep_z ? s.pout : 0;
                    widest = std::max({widest, s.pin, s.pout});
                }(),
                ...);
        }
        (std::make_index_sequence<stage_count>{});
        for (StagePlan& s : p) s.wp += grad;
        return std::tuple{p, grad + packed, grad, act, widest};
    }
    static constexpr auto plan = std::get<0>(make_plan());
    static constexpr std::size_t packed_floats = std::get<1>(make_plan());
    static constexpr std::size_t grad_floats = std::get<2>(make_plan());
    static constexpr std::size_t act_per_sample = std::get<3>(make_plan());
    static constexpr std::size_t widest = std::get<4>(make_plan());

    /// Floats of the executor's layout of the parameters (see to_native).
    static constexpr std::size_t native_floats = grad_floats;

    /// Samples per slice, the unit of fused evaluation: a multiple of every micro-kernel's row
    /// count (no remainder blocks inside a slice); 192 keeps a slice of a narrow network (widths
    /// <= 256: 192 KiB per activation buffer at most) in L2, wider networks use 96.
    static constexpr std::size_t slice = widest <= 256 ? 192 : 96;

    /// Per-thread scratch: two slice buffers (activations in inference, dZ in backward), a slice
    /// buffer for pre-activations, and (threads > 0) a gradient accumulator.
    static constexpr std::size_t slice_floats = slice * [] {
        std::size_t w = widest;
        for (const StagePlan& s : plan) w = std::max(w, s.pd);
        return w;
    }();
    static constexpr std::size_t scratch_grad_offset = 3 * slice_floats;
    static std::size_t scratch_floats(std::size_t t) {
        return scratch_grad_offset + (t == 0 ? 0 : grad_floats);
    }

    static ctnn::detail::ThreadPool& pool() { return ctnn::detail::ThreadPool::instance(); }
    /// The most threads one pass uses (each holds a gradient accumulator of the whole network).
    static constexpr unsigned max_threads = 64;

    // ---- packing --------------------------------------------------------------------------------
    // The executor trains without writing PyTorch's layout: its weights (W^T, then the padded
    // bias) sit at the offsets of their gradient accumulators, so the optimizer state can be kept
    // in the same layout (to_native) and one flat elementwise update covers all.

    /// Converts a buffer in the parameters' layout (PyTorch's, param_count floats) into the
    /// executor's layout (native_floats: every stage's W^T [in][pout], then its bias padded to
    /// pout). `dst` must start zeroed: the padding is not written.
    static void to_native(const float* src, float* dst) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (pack_native<I>(src, dst, 0, 1), ...); }
        (std::make_index_sequence<stage_count>{});
    }
    /// The reverse of to_native: dst (PyTorch's layout) from src (the executor's).
    static void from_native(const float* src, float* dst) { write_gradients(dst, &src, 1, 0, 1); }
    template <std::size_t I>
    static void pack_stage(const float* params, float* pk, unsigned t, unsigned parts) {
        pack_native<I>(params, pk, t, parts);
        if constexpr (I > 0) {
            using A = typename stage<I>::anchor;
            constexpr StagePlan s = plan[I];
            const float* w = params + A::param_offset; // [out][in]
            const auto [o0, o1] = detail::part16(s.out, t, parts);
            float* wp = pk + s.wp; // [out][pin]
            for (std::size_t o = o0; o < o1; ++o)
                std::memcpy(wp + o * s.pin, w + o * s.in, s.in * sizeof(float));
        }
    }
    /// Stage I's W^T [in][pout] and bias from params (PyTorch's layout): part t of the rows.
    template <std::size_t I>
    static void pack_native(const float* params, float* pk, unsigned t, unsigned parts) {
        using A = typename stage<I>::anchor;
        constexpr StagePlan s = plan[I];
        const float* w = params + A::param_offset; // [out][in]
        const auto [o0, o1] = detail::part16(s.out, t, parts);
        detail::transpose_sum<Isa, s.in, s.pout, s.in>(&w, 1, pk + s.wt, o0, o1); // W^T [in][pout]
        if (t == 0 && A::layer::has_bias)
            std::memcpy(pk + s.bias, w + s.in * s.out, s.out * sizeof(float));
    }
    /// Stage I's W [out][pin] (the input gradient's operand) from its packed W^T.
    template <std::size_t I>
    static void pack_input_grad(float* pk) {
        if constexpr (I > 0) {
            constexpr StagePlan s = plan[I];
            const float* wt = pk + s.wt;
            detail::transpose_sum<Isa, s.pout, s.pin, s.out>(&wt, 1, pk + s.wp, 0, s.in);
        }
    }

    /// grads (PyTorch layout: weight [out][in], then bias [out]) from the sum of the n threads'
    /// accumulators: part t of `parts` of every stage's input rows (and, part 0, the biases).
    static void write_gradients(float* grads, const float* const* acc, unsigned n, unsigned t,
                                unsigned parts) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    using A = typename stage<I>::anchor;
                    constexpr StagePlan s = plan[I];
                    float* gw = grads + A::param_offset;
                    std::array<const float*, max_threads> src{};
                    for (unsigned u = 0; u < n; ++u) src[u] = acc[u] + s.gw;
                    const auto [k0, k1] = detail::part16(s.in, t, parts);
                    detail::transpose_sum<Isa, s.pout, s.in, s.out>(src.data(), n, gw, k0, k1);
                    if constexpr (A::layer::has_bias) {
                        if (t == 0)
                            for (std::size_t o = 0; o < s.out; ++o) {
                                float v = acc[0][s.gb + o];
                                for (unsigned u = 1; u < n; ++u) v += acc[u][s.gb + o];
                                gw[s.in * s.out + o] = v;
                            }
                    }
                }(),
                ...);
        }
        (std::make_index_sequence<stage_count>{});
    }

    // ---- tiles: how a micro-kernel block starts and ends ---------------------------------------
    using reg = typename Isa::reg;

    /// Stores a register at column c of a row holding `n` values (a partial store at the end of
    /// an unpadded row).
    template <bool Exact>
    static CTNN_FORCEINLINE void store_col(float* row, std::size_t c, std::size_t n, reg v) {
        if constexpr (Exact) {
            if (c + width <= n) Isa::store(row + c, v);
            else Isa::store_n(row + c, v, n - c);
        } else {
            Isa::store(row + c, v);
        }
    }

    /// Forward: accumulators start at the bias; the epilogue (none, or ReLU) is applied before the
    /// store; a general epilogue stores Z and is applied afterwards on the slice.
    template <detail::EpiKind Kind, std::size_t Ld, bool Exact>
    struct ForwardTile {
        const float* bias;
        float* dst; ///< Y (none, ReLU) or Z (general), Ld floats per row
        std::size_t n;
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                const reg b = Isa::load(bias + (v0 + v) * width);
                CTNN_CPU_UNROLL
                for (std::size_t r = 0; r < R; ++r) acc[r][v] = b;
            }
        }
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                reg y = acc[r][v];
                if constexpr (Kind == detail::EpiKind::relu) y = Isa::relu(y);
                store_col<Exact>(dst + (r0 + r) * Ld, (v0 + v) * width, n, y);
            }
        }
    };

    /// Input gradient dX = dZ W: accumulators start at zero; the previous stage's ReLU derivative
    /// (0 where its output Y <= 0) is applied before the store.
    template <bool Relu, std::size_t Ld, std::size_t LdY>
    struct InputGradTile {
        float* dst;     ///< Ld floats per row
        const float* y; ///< previous stage's output (ReLU only), LdY floats per row
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t, std::size_t) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = Isa::zero();
        }
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                const std::size_t c = (v0 + v) * width;
                reg d = acc[r][v];
                if constexpr (Relu) d = Isa::relu_backward(d, Isa::load(y + (r0 + r) * LdY + c));
                Isa::store(dst + (r0 + r) * Ld + c, d);
            }
        }
    };

    /// Weight gradient dW^T += X^T dZ (or, on a thread's first slice, dW^T = X^T dZ: no zeroing
    /// pass). The accumulators start at zero and the running sums are added at the end, so a
    /// block's first multiply-adds do not wait for its sums to come from L2 (dW^T of workload A
    /// is 400 KB; docs/cpu.md, "Measured decisions").
    template <std::size_t Ld>
    struct AccumulateTile {
        float* c;
        bool overwrite;
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t, std::size_t) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = Isa::zero();
        }
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                float* at = c + (r0 + r) * Ld + (v0 + v) * width;
                Isa::store(at, overwrite ? acc[r][v] : Isa::add(acc[r][v], Isa::load(at)));
            }
        }
    };
};

} // namespace ctnn::cpu::detail
#endif
