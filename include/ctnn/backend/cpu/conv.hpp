// ctnn/backend/cpu/conv.hpp — direct convolution on the CPU: stride 1, one group, float.
//
// eigen::Executor evaluates a Conv2D forward as im2col + Eigen GEMM + a scatter back to the
// channel-first layout. For the common case — stride 1, no groups, float — this kernel computes
// the output in place instead, with the register blocking of the fused MLP kernels (kernels.hpp):
//
//   1. The sample's input is copied once into a zero-padded buffer, channel by channel
//      ((h + pt + pb) x (w + pl + pr) per channel): every tap (ki, kj) of output pixel (y, x) is
//      then xp[c][(y + ki * dh) * Wp + x + kj * dw], so a run of consecutive output columns of one
//      row reads a contiguous run of xp for every tap — one vector load, no im2col matrix.
//   2. The weight [O, C, KH, KW] is packed once per pass by blocks of R output channels, each
//      block [C * KH * KW][R]: a block's weights are one contiguous run (they stay in L1 while the
//      block sweeps the sample), and the R weights of one (channel, tap) are adjacent.
//   3. A block of R output channels x V "units" (a unit: `width` consecutive output columns of
//      one row; the last unit of a row is partial and stored with a mask) stays in registers for
//      the whole sum over channels and taps: per (channel, tap), V loads, R broadcasts, R * V
//      fused multiply-adds. The bias initializes the accumulators; ReLU, when it is the whole
//      epilogue, is applied on them before the store. Z and Y are stored straight into the
//      [O, oh, ow] layout — in inference Y only, or, when a 2 x 2 max pool follows, the pooled Y
//      (Store::pool: a block then holds whole pairs of rows).
//
// Columns past the end of a row are computed and discarded (loads may read into the next padded
// row, or up to `width` floats past the last channel: the padded buffer has that much slack).
#pragma once
#include "../../config.hpp"
#include "../../core/type_list.hpp"
#include "../../layers/activation.hpp"
#include "../../layers/window.hpp"
#include "simd.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

namespace ctnn::cpu::detail {

/// True when an epilogue (Epilogue<Ops...>) is exactly one ReLU: applied on the registers (and
/// its derivative read from Y = ReLU(Z) > 0). Defined with or without the fused kernels.
template <class Epi>
inline constexpr bool epilogue_is_relu = []<class... Op>(type_list<Op...>) {
    return sizeof...(Op) == 1 && (std::is_same_v<typename Op::layer, ReLU> && ...);
}(typename Epi::ops{});

} // namespace ctnn::cpu::detail

#if CTNN_CPU_FUSED

namespace ctnn::cpu::detail {

/// What a convolution kernel stores: Z (and Y = ReLU(Z) with ReLU); Y = ReLU(Z) only (all that
/// backward reads after a lone ReLU); ReLU(Z) max-pooled over 2 x 2 windows with stride 2 into
/// the y argument (an inference pass of Conv2D, ReLU, MaxPool2D<2>: eigen::Executor's
/// pool_fused); or both Y and, into the z argument, the pooled ReLU(Z) (a training pass of the
/// same: backward reads Y for the ReLU derivative and the pool's argmax).
enum class ConvStore { z_and_y, y, pool, y_and_pool };

/// Whether a store writes the 2 x 2 max-pooled output.
constexpr bool store_pools(ConvStore s) {
    return s == ConvStore::pool || s == ConvStore::y_and_pool;
}

/// The window of the input gradient of a stride-1 convolution with window G and O output
/// channels: dX = a direct convolution of dZ ([O, oh, ow]) with the flipped kernel, padded by
/// the dilated extent minus the forward padding on each side (conv_lowering::direct_dx: no side
/// padded by more than the extent).
constexpr ctnn::detail::Window2D transposed_window(ctnn::detail::Window2D g, std::size_t o) {
    ctnn::detail::Window2D t = g;
    const std::size_t eh = (g.kh - 1) * g.dh, ew = (g.kw - 1) * g.dw;
    t.c = o, t.h = g.oh, t.w = g.ow;
    t.pt = eh - g.pt, t.pb = eh - g.pb, t.pl = ew - g.pl, t.pr = ew - g.pr;
    t.oh = g.h, t.ow = g.w;
    return t;
}
/// Writes the weight [O, C, KH, KW] of a convolution as the weight [C, O, KH, KW] of its
/// input-gradient convolution (transposed_window): channels swapped, taps flipped.
template <ctnn::detail::Window2D G, std::size_t O>
void flip_weight(const float* w, float* wf) {
    constexpr std::size_t taps = G.kh * G.kw;
    for (std::size_t o = 0; o < O; ++o)
        for (std::size_t c = 0; c < G.c; ++c)
            for (std::size_t t = 0; t < taps; ++t)
                wf[(c * O + o) * taps + (taps - 1 - t)] = w[(o * G.c + c) * taps + t];
}

/// Calls f(std::integral_constant<std::size_t, v>{}) for a run-time v in [1, N]: how a kernel
/// whose register tile is a template parameter picks the tile for a size known at run time.
template <std::size_t N, class F>
CTNN_FORCEINLINE void with_tile(std::size_t v, F&& f) {
    if constexpr (N > 0) {
        if (v == N) f(std::integral_constant<std::size_t, N>{});
        else with_tile<N - 1>(v, static_cast<F&&>(f));
    }
}

/// Direct convolution of one sample (stride 1), on ISA I, with a KH x KW kernel. Templated on the
/// register tile (output channels x units per block, the store) and the kernel size (its taps
/// unrolled); the rest of the geometry is run-time data, so every convolution shape of a program
/// with the same kernel size shares one set of kernels (DirectConv below is the compile-time face
/// the CPU evaluator uses).
template <class I, std::size_t KH, std::size_t KW>
struct DirectConvKernel {
    using reg = typename I::reg;
    using Store = ConvStore;
    static constexpr std::size_t lanes = I::width;
    /// Output channels of a full register block of max_vecs units.
    static constexpr std::size_t max_rows = I::rows(I::max_vecs);

    std::size_t c, h, w, dh, dw, pt, pb, pl, pr, oh, ow, o;
    std::size_t Wp, plane, taps, P, per_row, units, padded_floats, packed_floats, R, K;
    std::size_t pair_units, PH, PW;
    bool poolable;

    constexpr DirectConvKernel(ctnn::detail::Window2D g, std::size_t out)
        : c(g.c), h(g.h), w(g.w), dh(g.dh), dw(g.dw), pt(g.pt), pb(g.pb), pl(g.pl), pr(g.pr),
          oh(g.oh), ow(g.ow), o(out), Wp(g.w + g.pl + g.pr), plane((g.h + g.pt + g.pb) * Wp),
          taps(g.kh * g.kw), P(g.oh * g.ow), per_row((g.ow + lanes - 1) / lanes),
          units(g.oh * per_row), padded_floats(g.c * plane + lanes),
          packed_floats(g.c * taps * out), R(std::min(max_rows, out)), K(g.c * taps),
          pair_units(2 * per_row), PH(g.oh / 2), PW(g.ow / 2),
          poolable(pair_units <= I::max_vecs && lanes % 2 == 0 && g.oh >= 2 && g.ow >= 2) {}

    /// Zero-pads one sample x ([c, h, w]) into xp (padded_floats).
    void pad(const float* x, float* xp) const {
        if (pt + pb + pl + pr == 0) {
            std::memcpy(xp, x, c * plane * sizeof(float));
            std::memset(xp + c * plane, 0, lanes * sizeof(float));
            return;
        }
        std::memset(xp, 0, padded_floats * sizeof(float));
        for (std::size_t ch = 0; ch < c; ++ch)
            for (std::size_t y = 0; y < h; ++y)
                std::memcpy(xp + ch * plane + (y + pt) * Wp + pl, x + (ch * h + y) * w,
                            w * sizeof(float));
    }

    /// Packs the PyTorch weight [O, C, KH, KW] by blocks of R output channels: block b holds
    /// [K][R] (the last, smaller block [K][O mod R]), so a block's weights are one contiguous
    /// run and the R weights of one (channel, tap) are adjacent.
    void pack(const float* wsrc, float* wt) const {
        for (std::size_t o0 = 0; o0 < o; o0 += R) {
            const std::size_t rb = std::min(R, o - o0);
            float* dst = wt + o0 * K;
            for (std::size_t k = 0; k < K; ++k)
                for (std::size_t r = 0; r < rb; ++r) dst[k * rb + r] = wsrc[(o0 + r) * K + k];
        }
    }

    /// z = bias + conv(xp, wt) for one sample, [O, oh, ow], and with Relu y = max(z, 0) (as St
    /// says; Store::pool writes y = the pooled ReLU(z), [O, PH, PW]; Store::y_and_pool writes y
    /// and the pooled ReLU(z) into z). Each block of output channels sweeps every unit while its
    /// weights stay in L1.
    template <bool Relu, Store St = Store::z_and_y>
    void run(const float* wt, const float* bias, const float* xp, float* z, float* y) const {
        static_assert(St == Store::z_and_y || Relu, "DirectConv: Store::y and ::pool need ReLU");
        std::size_t o0 = 0;
        with_tile<max_rows>(R, [&](auto rb) {
            for (; o0 + rb <= o; o0 += rb) channels<Relu, St, rb>(wt + o0 * K, bias, xp, z, y, o0);
        });
        if (o0 < o)
            with_tile<max_rows>(
                o - o0, [&](auto rb) { channels<Relu, St, rb>(wt + o0 * K, bias, xp, z, y, o0); });
    }

private:
    /// Output channels [o0, o0 + Rb) of every unit (Store::pool: of the row pairs).
    template <bool Relu, Store St, std::size_t Rb>
    void channels(const float* wt, const float* bias, const float* xp, float* z, float* y,
                  std::size_t o0) const {
        if constexpr (store_pools(St)) {
            // Blocks of whole row pairs; the store is templated on the units per row (PR).
            with_tile<I::max_vecs / 2>(per_row, [&](auto pr_) {
                constexpr std::size_t pu = 2 * pr_;
                sweep<Relu, St, Rb, pr_>(I::max_vecs / pu * pu, 0, PH * pu, wt, bias, xp, z, y, o0);
            });
            // An odd height: the last row is in no pooling window, but Y has it.
            if constexpr (St == Store::y_and_pool)
                if (PH * pair_units < units)
                    sweep<Relu, Store::y, Rb, 0>(I::max_vecs, PH * pair_units, units, wt, bias, xp,
                                                 z, y, o0);
        } else {
            sweep<Relu, St, Rb, 0>(I::max_vecs, 0, units, wt, bias, xp, z, y, o0);
        }
    }

    /// Output channels [o0, o0 + Rb) of units [u0, end) in blocks of at most V units (with a
    /// pooling store, V and end - u0 are whole row pairs).
    template <bool Relu, Store St, std::size_t Rb, std::size_t PR>
    void sweep(std::size_t V, std::size_t u0, std::size_t end, const float* wt, const float* bias,
               const float* xp, float* z, float* y, std::size_t o0) const {
        while (u0 < end) {
            const std::size_t v = std::min(V, end - u0);
            with_tile<I::max_vecs>(v, [&](auto vc) {
                if constexpr (PR == 0 || vc % (2 * PR) == 0)
                    block<Relu, St, Rb, vc, PR>(wt, bias, xp, z, y, o0, u0);
            });
            u0 += v;
        }
    }

    /// One block: Rb output channels from o0 (weights wt: [K][Rb]) x V units from u0. PR: the
    /// units per output row, for a pooling store (a block then holds V / (2 PR) row pairs).
    template <bool Relu, Store St, std::size_t Rb, std::size_t V, std::size_t PR>
    void block(const float* wt, const float* bias, const float* xp, float* z, float* y,
               std::size_t o0, std::size_t u0) const {
        // Each unit's input and output offsets and valid lanes (one division per block).
        std::size_t in[V], out[V], n[V];
        {
            std::size_t row = u0 / per_row, col = u0 % per_row;
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                in[v] = row * Wp + col * lanes, out[v] = row * ow + col * lanes;
                n[v] = std::min(lanes, ow - col * lanes);
                if (++col == per_row) col = 0, ++row;
            }
        }
        // The taps' offsets within a padded channel.
        std::size_t tap[KH * KW];
        CTNN_CPU_UNROLL
        for (std::size_t t = 0; t < KH * KW; ++t) tap[t] = (t / KW) * dh * Wp + (t % KW) * dw;
        reg acc[Rb][V];
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < Rb; ++r) {
            const reg b = bias != nullptr ? I::bcast(bias[o0 + r]) : I::zero();
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = b;
        }
        for (std::size_t ch = 0; ch < c; ++ch) {
            const float* xc = xp + ch * plane;
            CTNN_CPU_UNROLL
            for (std::size_t t = 0; t < KH * KW; ++t) {
                reg xv[V];
                CTNN_CPU_UNROLL
                for (std::size_t v = 0; v < V; ++v) xv[v] = I::load(xc + in[v] + tap[t]);
                CTNN_CPU_UNROLL
                for (std::size_t r = 0; r < Rb; ++r) {
                    const reg wv = I::bcast(wt[r]);
                    CTNN_CPU_UNROLL
                    for (std::size_t v = 0; v < V; ++v) acc[r][v] = I::fma(xv[v], wv, acc[r][v]);
                }
                wt += Rb;
            }
        }
        if constexpr (store_pools(St)) {
            // Row pairs (u, u + PR): the vertical max, then the max of adjacent lanes.
            float* pooled = St == Store::pool ? y : z;
            const std::size_t pair0 = u0 / (2 * PR);
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < Rb; ++r) CTNN_CPU_UNROLL
            for (std::size_t q = 0; q < V; q += 2 * PR) CTNN_CPU_UNROLL
            for (std::size_t j = 0; j < PR; ++j) {
                const std::size_t np = n[q + j] / 2;
                const reg top = I::relu(acc[r][q + j]), bottom = I::relu(acc[r][q + PR + j]);
                float* at =
                    pooled + (o0 + r) * PH * PW + (pair0 + q / (2 * PR)) * PW + j * (lanes / 2);
                if (np > 0) I::store_pair_max(at, I::max(top, bottom), np);
                if constexpr (St == Store::y_and_pool) {
                    store(y + (o0 + r) * P + out[q + j], top, n[q + j]);
                    store(y + (o0 + r) * P + out[q + PR + j], bottom, n[q + PR + j]);
                }
            }
        } else {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < Rb; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                const std::size_t at = (o0 + r) * P + out[v];
                if constexpr (St == Store::z_and_y) store(z + at, acc[r][v], n[v]);
                if constexpr (Relu) store(y + at, I::relu(acc[r][v]), n[v]);
            }
        }
    }

    static CTNN_FORCEINLINE void store(float* p, reg r, std::size_t n) {
        if (n == lanes) I::store(p, r);
        else I::store_n(p, r, n);
    }
};

/// Direct convolution of one sample for window G (stride 1) with O output channels, on ISA I:
/// the compile-time face of DirectConvKernel<I> (sizes as constants, for workspace plans).
template <class I, ctnn::detail::Window2D G, std::size_t O>
struct DirectConv {
    static constexpr DirectConvKernel<I, G.kh, G.kw> kernel{G, O};
    using Store = ConvStore;
    static constexpr std::size_t padded_floats = kernel.padded_floats;
    static constexpr std::size_t packed_floats = kernel.packed_floats;
    static constexpr bool poolable = kernel.poolable;
    static constexpr std::size_t PH = kernel.PH, PW = kernel.PW; ///< pooled height and width

    static void pad(const float* x, float* xp) { kernel.pad(x, xp); }
    static void pack(const float* w, float* wt) { kernel.pack(w, wt); }
    template <bool Relu, Store St = Store::z_and_y>
    static void run(const float* wt, const float* bias, const float* xp, float* z, float* y) {
        static_assert(!store_pools(St) || poolable, "DirectConv: rows too wide to pool in a block");
        kernel.template run<Relu, St>(wt, bias, xp, z, y);
    }
};

} // namespace ctnn::cpu::detail

#endif // CTNN_CPU_FUSED
