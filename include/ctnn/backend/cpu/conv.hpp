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

/// Direct convolution of one sample for window G (stride 1) with O output channels, on ISA I.
template <class I, ctnn::detail::Window2D G, std::size_t O>
struct DirectConv {
    using reg = typename I::reg;
    static constexpr std::size_t lanes = I::width;
    static constexpr std::size_t Hp = G.h + G.pt + G.pb, Wp = G.w + G.pl + G.pr;
    static constexpr std::size_t plane = Hp * Wp, taps = G.kh * G.kw, P = G.oh * G.ow;
    static constexpr std::size_t per_row = (G.ow + lanes - 1) / lanes; ///< units per output row
    static constexpr std::size_t units = G.oh * per_row;
    /// Floats of the padded input (with the slack for the last unit's over-read).
    static constexpr std::size_t padded_floats = G.c * plane + lanes;
    static constexpr std::size_t packed_floats = G.c * taps * O;

    /// Zero-pads one sample x ([c, h, w]) into xp (padded_floats).
    static void pad(const float* x, float* xp) {
        if constexpr (G.pt + G.pb + G.pl + G.pr == 0) {
            std::memcpy(xp, x, G.c * plane * sizeof(float));
            std::memset(xp + G.c * plane, 0, lanes * sizeof(float));
        } else {
            std::memset(xp, 0, padded_floats * sizeof(float));
            for (std::size_t c = 0; c < G.c; ++c)
                for (std::size_t y = 0; y < G.h; ++y)
                    std::memcpy(xp + c * plane + (y + G.pt) * Wp + G.pl, x + (c * G.h + y) * G.w,
                                G.w * sizeof(float));
        }
    }

    /// Output channels per register block (the accumulators of V = max_vecs units), and the
    /// channels of the last, smaller block (0: none).
    static constexpr std::size_t R = std::min(I::rows(I::max_vecs), O), tail = O % R;
    static constexpr std::size_t K = G.c * taps; ///< products per output value

    /// Packs the PyTorch weight [O, C, KH, KW] by blocks of R output channels: block b holds
    /// [K][R] (the tail block [K][tail]), so a block's weights are one contiguous run and the R
    /// weights of one (channel, tap) are adjacent.
    static void pack(const float* w, float* wt) {
        for (std::size_t o0 = 0; o0 < O; o0 += R) {
            const std::size_t rb = std::min(R, O - o0);
            float* dst = wt + o0 * K;
            for (std::size_t k = 0; k < K; ++k)
                for (std::size_t r = 0; r < rb; ++r) dst[k * rb + r] = w[(o0 + r) * K + k];
        }
    }

    using Store = ConvStore;

    /// Whether Store::pool can run: a block of at most max_vecs units holds whole row pairs.
    static constexpr std::size_t pair_units = 2 * per_row;
    static constexpr bool poolable =
        pair_units <= I::max_vecs && lanes % 2 == 0 && G.oh >= 2 && G.ow >= 2;
    static constexpr std::size_t PH = G.oh / 2, PW = G.ow / 2; ///< pooled height and width

    /// z = bias + conv(xp, wt) for one sample, [O, oh, ow], and with Relu y = max(z, 0) (as St
    /// says; Store::pool writes y = the pooled ReLU(z), [O, PH, PW]; Store::y_and_pool writes y
    /// and the pooled ReLU(z) into z). Each block of output channels sweeps every unit while its
    /// weights stay in L1.
    template <bool Relu, Store St = Store::z_and_y>
    static void run(const float* wt, const float* bias, const float* xp, float* z, float* y) {
        static_assert(St == Store::z_and_y || Relu, "DirectConv: Store::y and ::pool need ReLU");
        static_assert(!store_pools(St) || poolable, "DirectConv: rows too wide to pool in a block");
        std::size_t o0 = 0;
        for (; o0 + R <= O; o0 += R) channels<Relu, St, R>(wt + o0 * K, bias, xp, z, y, o0);
        if constexpr (tail > 0) channels<Relu, St, tail>(wt + o0 * K, bias, xp, z, y, o0);
    }

private:
    /// Offset in xp (within a channel) of unit u's first column, and its output offset and
    /// valid lanes.
    static constexpr std::size_t in_offset(std::size_t u) {
        return (u / per_row) * Wp + (u % per_row) * lanes;
    }
    static constexpr std::size_t out_offset(std::size_t u) {
        return (u / per_row) * G.ow + (u % per_row) * lanes;
    }
    static constexpr std::size_t valid(std::size_t u) {
        return std::min(lanes, G.ow - (u % per_row) * lanes);
    }

    /// Output channels [o0, o0 + Rb) of every unit (Store::pool: of the row pairs).
    template <bool Relu, Store St, std::size_t Rb>
    static void channels(const float* w, const float* bias, const float* xp, float* z, float* y,
                         std::size_t o0) {
        if constexpr (store_pools(St)) {
            sweep<Relu, St, Rb, I::max_vecs / pair_units * pair_units, PH * pair_units>(
                w, bias, xp, z, y, o0, 0);
            // An odd height: the last row is in no pooling window, but Y has it.
            if constexpr (St == Store::y_and_pool && PH * pair_units < units)
                sweep<Relu, Store::y, Rb, std::min(I::max_vecs, units - PH * pair_units), units>(
                    w, bias, xp, z, y, o0, PH * pair_units);
        } else {
            sweep<Relu, St, Rb, std::min(I::max_vecs, units), units>(w, bias, xp, z, y, o0, 0);
        }
    }

    /// Output channels [o0, o0 + Rb) of units [u0, end), in blocks of V units (then fewer;
    /// Store::pool: whole row pairs).
    template <bool Relu, Store St, std::size_t Rb, std::size_t V, std::size_t end>
    static void sweep(const float* w, const float* bias, const float* xp, float* z, float* y,
                      std::size_t o0, std::size_t u0) {
        for (; u0 + V <= end; u0 += V) block<Relu, St, Rb, V>(w, bias, xp, z, y, o0, u0);
        constexpr std::size_t step = store_pools(St) ? pair_units : 1;
        if constexpr (V > step)
            if (u0 < end) sweep<Relu, St, Rb, V - step, end>(w, bias, xp, z, y, o0, u0);
    }

    /// One block: Rb output channels from o0 (weights w: [K][Rb]) x V units from u0.
    template <bool Relu, Store St, std::size_t Rb, std::size_t V>
    static void block(const float* w, const float* bias, const float* xp, float* z, float* y,
                      std::size_t o0, std::size_t u0) {
        reg acc[Rb][V];
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < Rb; ++r) {
            const reg b = bias != nullptr ? I::bcast(bias[o0 + r]) : I::zero();
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = b;
        }
        std::size_t base[V];
        CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < V; ++v) base[v] = in_offset(u0 + v);
        for (std::size_t c = 0; c < G.c; ++c) {
            const float* xc = xp + c * plane;
            CTNN_CPU_UNROLL
            for (std::size_t ki = 0; ki < G.kh; ++ki) CTNN_CPU_UNROLL
            for (std::size_t kj = 0; kj < G.kw; ++kj) {
                const std::size_t off = ki * G.dh * Wp + kj * G.dw;
                reg xv[V];
                CTNN_CPU_UNROLL
                for (std::size_t v = 0; v < V; ++v) xv[v] = I::load(xc + base[v] + off);
                CTNN_CPU_UNROLL
                for (std::size_t r = 0; r < Rb; ++r) {
                    const reg wv = I::bcast(w[r]);
                    CTNN_CPU_UNROLL
                    for (std::size_t v = 0; v < V; ++v) acc[r][v] = I::fma(xv[v], wv, acc[r][v]);
                }
                w += Rb;
            }
        }
        if constexpr (store_pools(St)) {
            // Row pairs (u, u + per_row): the vertical max, then the max of adjacent lanes.
            float* pooled = St == Store::pool ? y : z;
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < Rb; ++r) CTNN_CPU_UNROLL
            for (std::size_t q = 0; q < V; q += pair_units) CTNN_CPU_UNROLL
            for (std::size_t j = 0; j < per_row; ++j) {
                const std::size_t u = u0 + q + j, n = valid(u) / 2;
                const reg top = I::relu(acc[r][q + j]), bottom = I::relu(acc[r][q + per_row + j]);
                float* at = pooled + (o0 + r) * PH * PW + (u / pair_units) * PW + j * (lanes / 2);
                if (n > 0) I::store_pair_max(at, I::max(top, bottom), n);
                if constexpr (St == Store::y_and_pool) {
                    const std::size_t n_top = valid(u), n_bottom = valid(u + per_row);
                    store(y + (o0 + r) * P + out_offset(u), top, n_top);
                    store(y + (o0 + r) * P + out_offset(u + per_row), bottom, n_bottom);
                }
            }
        } else {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < Rb; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                const std::size_t at = (o0 + r) * P + out_offset(u0 + v), n = valid(u0 + v);
                if constexpr (St == Store::z_and_y) store(z + at, acc[r][v], n);
                if constexpr (Relu) store(y + at, I::relu(acc[r][v]), n);
            }
        }
    }

    static CTNN_FORCEINLINE void store(float* p, reg r, std::size_t n) {
        if (n == lanes) I::store(p, r);
        else I::store_n(p, r, n);
    }
};

} // namespace ctnn::cpu::detail

#endif // CTNN_CPU_FUSED
