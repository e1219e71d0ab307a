// ctnn/backend/cpu/winograd.hpp — 3 x 3 convolutions on the CPU as Winograd F(2 x 2, 3 x 3).
//
// A stride-1, undilated, ungrouped 3 x 3 convolution with enough channels (conv_lowering's
// `winograd`, backend/cpu/conv_plan.hpp) computes each 2 x 2 tile of output pixels from a 4 x 4
// tile of input as
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (Lavin & Gray, "Fast Algorithms for Convolutional
//                                            Neural Networks", 2016)
// summed over input channels: 16 products per tile and channel pair instead of 36, so 2.25x
// fewer multiply-adds than the direct kernel (conv.hpp). The transforms use only 0, ±1 and ±1/2:
// the result differs from a direct sum by a few float roundings (tests bound it against double).
// One sample at a time, with vectors along channels (width L = the instruction set's):
//   1. pad:    the sample [C, H, W] is written channel-last and zero-padded, [QH][QW][Cp]
//              (Cp = C rounded up to L; QH x QW covers every tile's 4 x 4 window);
//   2. input transform: V[pos][tile][Cp] = Bᵀ d B for each tile, L channels per register;
//   3. 16 GEMMs (one per position pos of the 4 x 4 tile): M[pos][tile][Op] = V[pos] U[pos], with
//      U[pos][C][Op] = G g Gᵀ packed once per pass (pack()); register blocks of tiles x output
//      channel vectors, as the fused MLP kernels (rows(v) x v accumulators);
//   4. output transform: Aᵀ M A per tile and L output channels, + bias, then as the direct
//      kernel's ConvStore says: Z and ReLU(Z), ReLU(Z) only, or the 2 x 2 max of ReLU(Z) — a
//      tile is exactly one 2 x 2, stride-2 pooling window. The [O, OH, OW] layout is written
//      lane by lane (`scatter`: a channel's stride apart).
// Sizes are compile-time; the buffers are the caller's (padded_floats, packed_floats), so a pass
// allocates nothing. The same kernel serves the input gradient (transposed_window, flip_weight).
#pragma once
#include "../../config.hpp"
#include "../../layers/window.hpp"
#include "conv.hpp"
#include "simd.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#if CTNN_CPU_FUSED

namespace ctnn::cpu::detail {

/// Runs f(0) .. f(n - 1) on the calling thread: Winograd::run's default for its independent
/// GEMMs (the executor passes its thread pool for a batch too small to split).
struct Serial {
    template <class F>
    void operator()(unsigned n, F&& f) const {
        for (unsigned i = 0; i < n; ++i) f(i);
    }
};

template <class I, ctnn::detail::Window2D G, std::size_t O>
struct Winograd {
    static_assert(G.kh == 3 && G.kw == 3 && G.sh == 1 && G.sw == 1 && G.dh == 1 && G.dw == 1 &&
                      G.fits,
                  "Winograd: a 3 x 3, stride-1, undilated window that fits the padded input");
    using reg = typename I::reg;
    using Store = ConvStore;
    static constexpr std::size_t L = I::width;
    static constexpr std::size_t C = G.c, Cp = (C + L - 1) / L * L, Op = (O + L - 1) / L * L;
    static constexpr std::size_t TH = (G.oh + 1) / 2, TW = (G.ow + 1) / 2, T = TH * TW;
    static constexpr std::size_t QH = 2 * TH + 2, QW = 2 * TW + 2; ///< channel-last input rows
    static constexpr std::size_t P = G.oh * G.ow, PH = G.oh / 2, PW = G.ow / 2;
    static constexpr bool poolable = G.oh >= 2 && G.ow >= 2;
    /// The transformed input V (16 T Cp floats) and, once the GEMMs have read it, the output
    /// pixel-major ([OH OW][Op], before its transpose to [O, OH, OW]) share one region.
    static constexpr std::size_t xq_floats = QH * QW * Cp, v_floats = std::max(16 * T * Cp, P*Op),
                                 m_floats = 16 * T * Op;
    /// Floats of the per-sample buffer: padded input, transformed input, GEMM output.
    static constexpr std::size_t padded_floats = xq_floats + v_floats + m_floats;
    /// Floats of the packed weight: U[16][C][Op].
    static constexpr std::size_t packed_floats = 16 * C * Op;

    /// Writes one sample x ([C, H, W]) channel-last and zero-padded into xp.
    static void pad(const float* x, float* xp) {
        std::memset(xp, 0, xq_floats * sizeof(float));
        constexpr std::size_t HW = G.h * G.w;
        for (std::size_t y = 0; y < G.h; ++y)
            for (std::size_t i = 0; i < G.w; ++i) {
                const float* src = x + y * G.w + i;
                float* dst = xp + ((y + G.pt) * QW + G.pl + i) * Cp;
                for (std::size_t c = 0; c < C; ++c) dst[c] = src[c * HW];
            }
    }

    /// Packs the PyTorch weight [O, C, 3, 3] as U[pos][c][o] = (G g Gᵀ)[pos] (o >= O: zero).
    static void pack(const float* w, float* u) {
        std::memset(u, 0, packed_floats * sizeof(float));
        for (std::size_t o = 0; o < O; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const float* g = w + (o * C + c) * 9;
                float t[4][3]; // G g
                for (std::size_t j = 0; j < 3; ++j) {
                    t[0][j] = g[j];
                    t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                    t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                    t[3][j] = g[6 + j];
                }
                for (std::size_t i = 0; i < 4; ++i) {
                    const float r[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                                        0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                    for (std::size_t j = 0; j < 4; ++j) u[((i * 4 + j) * C + c) * Op + o] = r[j];
                }
            }
    }

    /// The convolution of one padded sample xp (pad()) with the packed weight u, + bias (may be
    /// null), stored as St says: z and (Relu) y = ReLU(z), [O, OH, OW]; y only; or y = the 2 x 2
    /// max of ReLU(z), [O, PH, PW]. xp's transform buffers are overwritten. The 16 GEMMs are
    /// independent: for_each(16, f) may run them on several threads.
    template <bool Relu, Store St = Store::z_and_y, class ForEach = Serial>
    static void run(const float* u, const float* bias, float* xp, float* z, float* y,
                    ForEach for_each = {}) {
        static_assert(St == Store::z_and_y || Relu, "Winograd: Store::y and ::pool need ReLU");
        static_assert(!store_pools(St) || poolable, "Winograd: nothing to pool");
        float* v = xp + xq_floats;
        float* m = v + v_floats;
        input_transform(xp, v);
        for_each(16u,
                 [&](unsigned pos) { gemm(u + pos * C * Op, v + pos * T * Cp, m + pos * T * Op); });
        output_transform<Relu, St>(m, bias, v, St == Store::pool ? y : z);
        if constexpr (St != Store::pool) {
            // Pixel-major [P][Op] to [O, OH, OW]: strided reads, contiguous writes.
            for (std::size_t o = 0; o < O; ++o)
                for (std::size_t p = 0; p < P; ++p) {
                    const float val = v[p * Op + o];
                    if constexpr (St == Store::z_and_y) z[o * P + p] = val;
                    if constexpr (Relu) y[o * P + p] = val <= 0.0f ? 0.0f : val; // NaN stays
                }
        }
    }

    /// Floats of the buffer of accumulate_dw: padded_floats, then dZ channel-last (4 T Op).
    static constexpr std::size_t dw_floats = padded_floats + 4 * T * Op;

    /// The weight gradient of one sample, in the Winograd domain: du[pos][c][o] (packed_floats,
    /// U's layout) += Σ_tiles V[pos][tile][c] dM[pos][tile][o], with V = Bᵀ d B of the sample's
    /// input (xp: pad() of it, dw_floats) and dM = A dZ Aᵀ of its output gradient dz
    /// ([O, OH, OW]). The gradient of Y = Aᵀ (U ⊙ V) A with respect to U; unpack_dw() maps it
    /// back to the 3 x 3 kernel (the transpose of pack()).
    static void accumulate_dw(const float* dz, float* xp, float* du) {
        float* v = xp + xq_floats;
        float* dm = v + v_floats;
        float* dzq = xp + padded_floats; // dZ as [2 TH][2 TW][Op], zero outside
        input_transform(xp, v);
        std::memset(dzq, 0, 4 * T * Op * sizeof(float));
        for (std::size_t oy = 0; oy < G.oh; ++oy)
            for (std::size_t ox = 0; ox < G.ow; ++ox) {
                const float* src = dz + oy * G.ow + ox;
                float* dst = dzq + (oy * 2 * TW + ox) * Op;
                for (std::size_t o = 0; o < O; ++o) dst[o] = src[o * P];
            }
        output_gradient_transform(dzq, dm);
        for (std::size_t pos = 0; pos < 16; ++pos)
            dw_gemm(v + pos * T * Cp, dm + pos * T * Op, du + pos * C * Op);
    }

    /// dw [O, C, 3, 3] = Gᵀ dU G for every (o, c) (overwrites dw).
    static void unpack_dw(const float* du, float* dw) {
        for (std::size_t o = 0; o < O; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                float g[4][4];
                for (std::size_t pos = 0; pos < 16; ++pos)
                    g[pos / 4][pos % 4] = du[(pos * C + c) * Op + o];
                float t[3][4]; // Gᵀ dU
                for (std::size_t j = 0; j < 4; ++j) {
                    t[0][j] = g[0][j] + 0.5f * (g[1][j] + g[2][j]);
                    t[1][j] = 0.5f * (g[1][j] - g[2][j]);
                    t[2][j] = 0.5f * (g[1][j] + g[2][j]) + g[3][j];
                }
                float* out = dw + (o * C + c) * 9;
                for (std::size_t a = 0; a < 3; ++a) {
                    out[a * 3 + 0] = t[a][0] + 0.5f * (t[a][1] + t[a][2]);
                    out[a * 3 + 1] = 0.5f * (t[a][1] - t[a][2]);
                    out[a * 3 + 2] = 0.5f * (t[a][1] + t[a][2]) + t[a][3];
                }
            }
    }

private:
    /// dM[pos][tile][Op] = A dY Aᵀ of each 2 x 2 tile of dZ (dzq: [2 TH][2 TW][Op]).
    static void output_gradient_transform(const float* dzq, float* dm) {
        for (std::size_t ty = 0; ty < TH; ++ty)
            for (std::size_t tx = 0; tx < TW; ++tx) {
                const std::size_t t = ty * TW + tx;
                for (std::size_t o0 = 0; o0 < Op; o0 += L) {
                    const float* base = dzq + (2 * ty * 2 * TW + 2 * tx) * Op + o0;
                    const reg y00 = I::load(base), y01 = I::load(base + Op);
                    const reg y10 = I::load(base + 2 * TW * Op),
                              y11 = I::load(base + (2 * TW + 1) * Op);
                    // Rows: A dY (A = [1 0; 1 1; 1 -1; 0 -1]).
                    const reg r[4][2] = {{y00, y01},
                                         {I::add(y00, y10), I::add(y01, y11)},
                                         {I::sub(y00, y10), I::sub(y01, y11)},
                                         {I::sub(I::zero(), y10), I::sub(I::zero(), y11)}};
                    CTNN_CPU_UNROLL
                    for (std::size_t i = 0; i < 4; ++i) {
                        const reg c[4] = {r[i][0], I::add(r[i][0], r[i][1]),
                                          I::sub(r[i][0], r[i][1]), I::sub(I::zero(), r[i][1])};
                        CTNN_CPU_UNROLL
                        for (std::size_t j = 0; j < 4; ++j)
                            I::store(dm + ((i * 4 + j) * T + t) * Op + o0, c[j]);
                    }
                }
            }
    }

    /// du[C][Op] += v[T][Cp]ᵀ (first C columns) dm[T][Op], for one position.
    static void dw_gemm(const float* v, const float* dm, float* du) {
        std::size_t o0 = 0;
        for (; o0 + NV * L <= Op; o0 += NV * L) dw_rows<NV>(v, dm + o0, du + o0);
        if constexpr (Op % (NV * L) != 0) dw_rows<Op % (NV * L) / L>(v, dm + o0, du + o0);
    }
    template <std::size_t Nv>
    static void dw_rows(const float* v, const float* dm, float* du) {
        constexpr std::size_t R = std::min(I::rows(Nv), C);
        std::size_t c0 = 0;
        for (; c0 + R <= C; c0 += R) dw_block<R, Nv>(v + c0, dm, du + c0 * Op);
        dw_rest<R - 1, Nv>(v, dm, du, c0);
    }
    template <std::size_t R, std::size_t Nv>
    static void dw_rest(const float* v, const float* dm, float* du, std::size_t c0) {
        if constexpr (R > 0) {
            if (C - c0 >= R) {
                dw_block<R, Nv>(v + c0, dm, du + c0 * Op);
                c0 += R;
            }
            dw_rest<R - 1, Nv>(v, dm, du, c0);
        }
    }
    /// R input channels x Nv vectors of output channels, summed over the tiles.
    template <std::size_t R, std::size_t Nv>
    static void dw_block(const float* v, const float* dm, float* du) {
        reg acc[R][Nv];
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
        for (std::size_t k = 0; k < Nv; ++k) acc[r][k] = I::load(du + r * Op + k * L);
        for (std::size_t t = 0; t < T; ++t) {
            reg w[Nv];
            CTNN_CPU_UNROLL
            for (std::size_t k = 0; k < Nv; ++k) w[k] = I::load(dm + t * Op + k * L);
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) {
                const reg b = I::bcast(v[t * Cp + r]);
                CTNN_CPU_UNROLL
                for (std::size_t k = 0; k < Nv; ++k) acc[r][k] = I::fma(b, w[k], acc[r][k]);
            }
        }
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
        for (std::size_t k = 0; k < Nv; ++k) I::store(du + r * Op + k * L, acc[r][k]);
    }

    static void input_transform(const float* xq, float* v) {
        for (std::size_t ty = 0; ty < TH; ++ty)
            for (std::size_t tx = 0; tx < TW; ++tx) {
                const std::size_t t = ty * TW + tx;
                for (std::size_t c0 = 0; c0 < Cp; c0 += L) {
                    const float* base = xq + (2 * ty * QW + 2 * tx) * Cp + c0;
                    reg d[4][4];
                    CTNN_CPU_UNROLL
                    for (std::size_t i = 0; i < 4; ++i) CTNN_CPU_UNROLL
                    for (std::size_t j = 0; j < 4; ++j) d[i][j] = I::load(base + (i * QW + j) * Cp);
                    reg b[4][4]; // Bᵀ d
                    CTNN_CPU_UNROLL
                    for (std::size_t j = 0; j < 4; ++j) {
                        b[0][j] = I::sub(d[0][j], d[2][j]);
                        b[1][j] = I::add(d[1][j], d[2][j]);
                        b[2][j] = I::sub(d[2][j], d[1][j]);
                        b[3][j] = I::sub(d[1][j], d[3][j]);
                    }
                    CTNN_CPU_UNROLL
                    for (std::size_t i = 0; i < 4; ++i) {
                        const reg r[4] = {I::sub(b[i][0], b[i][2]), I::add(b[i][1], b[i][2]),
                                          I::sub(b[i][2], b[i][1]), I::sub(b[i][1], b[i][3])};
                        CTNN_CPU_UNROLL
                        for (std::size_t j = 0; j < 4; ++j)
                            I::store(v + ((i * 4 + j) * T + t) * Cp + c0, r[j]);
                    }
                }
            }
    }

    /// Output-channel vectors per register block and tiles per block (as the MLP kernels).
    static constexpr std::size_t NV = std::min(I::max_vecs, Op / L), RT = I::rows(NV);

    /// m[T][Op] = v[T][Cp] (first C columns) x u[C][Op], for one position.
    static void gemm(const float* u, const float* v, float* m) {
        std::size_t o0 = 0;
        for (; o0 + NV * L <= Op; o0 += NV * L) tiles<NV>(u + o0, v, m + o0);
        if constexpr (Op % (NV * L) != 0) tiles<Op % (NV * L) / L>(u + o0, v, m + o0);
    }
    template <std::size_t Nv>
    static void tiles(const float* u, const float* v, float* m) {
        constexpr std::size_t R = std::min(I::rows(Nv), T);
        std::size_t t0 = 0;
        for (; t0 + R <= T; t0 += R) block<R, Nv>(u, v + t0 * Cp, m + t0 * Op);
        rest<R - 1, Nv>(u, v, m, t0);
    }
    template <std::size_t R, std::size_t Nv>
    static void rest(const float* u, const float* v, float* m, std::size_t t0) {
        if constexpr (R > 0) {
            if (T - t0 >= R) {
                block<R, Nv>(u, v + t0 * Cp, m + t0 * Op);
                t0 += R;
            }
            rest<R - 1, Nv>(u, v, m, t0);
        }
    }
    /// R tiles x Nv vectors of output channels, summed over the C input channels.
    template <std::size_t R, std::size_t Nv>
    static void block(const float* u, const float* v, float* m) {
        reg acc[R][Nv];
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
        for (std::size_t k = 0; k < Nv; ++k) acc[r][k] = I::zero();
        for (std::size_t c = 0; c < C; ++c) {
            reg w[Nv];
            CTNN_CPU_UNROLL
            for (std::size_t k = 0; k < Nv; ++k) w[k] = I::load(u + c * Op + k * L);
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) {
                const reg b = I::bcast(v[r * Cp + c]);
                CTNN_CPU_UNROLL
                for (std::size_t k = 0; k < Nv; ++k) acc[r][k] = I::fma(b, w[k], acc[r][k]);
            }
        }
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
        for (std::size_t k = 0; k < Nv; ++k) I::store(m + r * Op + k * L, acc[r][k]);
    }

    /// Aᵀ M A + bias per tile and vector of L output channels: Store::pool writes the pooled
    /// ReLU into `pooled` ([O, PH, PW]); the others write every output pixel-major into buf,
    /// [P][Op] (Store::y_and_pool: both).
    template <bool Relu, Store St>
    static void output_transform(const float* m, const float* bias, float* buf, float* pooled) {
        for (std::size_t o0 = 0; o0 < Op; o0 += L) {
            const std::size_t n = std::min(L, O - o0); // valid channels of this vector
            const reg b = bias == nullptr ? I::zero() : I::load_n(bias + o0, n);
            for (std::size_t ty = 0; ty < TH; ++ty)
                for (std::size_t tx = 0; tx < TW; ++tx) {
                    const std::size_t t = ty * TW + tx;
                    reg s[2][4]; // Aᵀ M
                    CTNN_CPU_UNROLL
                    for (std::size_t j = 0; j < 4; ++j) {
                        const reg m0 = I::load(m + ((0 * 4 + j) * T + t) * Op + o0);
                        const reg m1 = I::load(m + ((1 * 4 + j) * T + t) * Op + o0);
                        const reg m2 = I::load(m + ((2 * 4 + j) * T + t) * Op + o0);
                        const reg m3 = I::load(m + ((3 * 4 + j) * T + t) * Op + o0);
                        s[0][j] = I::add(I::add(m0, m1), m2);
                        s[1][j] = I::sub(I::sub(m1, m2), m3);
                    }
                    reg out[2][2]; // Aᵀ M A + bias
                    CTNN_CPU_UNROLL
                    for (std::size_t i = 0; i < 2; ++i) {
                        out[i][0] = I::add(I::add(I::add(s[i][0], s[i][1]), s[i][2]), b);
                        out[i][1] = I::add(I::sub(I::sub(s[i][1], s[i][2]), s[i][3]), b);
                    }
                    if constexpr (store_pools(St)) {
                        if (ty < PH && tx < PW) {
                            const reg top = I::max(I::relu(out[0][0]), I::relu(out[0][1]));
                            const reg bot = I::max(I::relu(out[1][0]), I::relu(out[1][1]));
                            I::scatter(pooled + o0 * PH * PW + ty * PW + tx, PH * PW,
                                       I::max(top, bot), n);
                        }
                    }
                    if constexpr (St != Store::pool) {
                        CTNN_CPU_UNROLL
                        for (std::size_t i = 0; i < 2; ++i) CTNN_CPU_UNROLL
                        for (std::size_t j = 0; j < 2; ++j) {
                            const std::size_t oy = 2 * ty + i, ox = 2 * tx + j;
                            if ((G.oh % 2 == 0 || oy < G.oh) && (G.ow % 2 == 0 || ox < G.ow))
                                I::store(buf + (oy * G.ow + ox) * Op + o0, out[i][j]);
                        }
                    }
                }
        }
    }
};

/// The CPU kernel of a direct convolution: Winograd when `winograd` (conv_lowering), else
/// DirectConv. A class template rather than an alias of std::conditional_t: GCC 12 crashes on the
/// latter with a Window2D template argument.
template <class I, ctnn::detail::Window2D G, std::size_t O, bool UseWinograd>
struct conv_kernel {
    using type = DirectConv<I, G, O>;
};
template <class I, ctnn::detail::Window2D G, std::size_t O>
struct conv_kernel<I, G, O, true> {
    using type = Winograd<I, G, O>;
};

} // namespace ctnn::cpu::detail

#endif // CTNN_CPU_FUSED
