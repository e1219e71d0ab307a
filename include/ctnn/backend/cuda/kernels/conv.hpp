// ctnn/backend/cuda/kernels/conv.hpp — Conv2D as implicit GEMM on the tiled GEMM core.
//
// A convolution of a batch of channel-first samples [C, H, W] with weights [Cout, C/G, kh, kw]
// (PyTorch's layouts) is, per group g, a GEMM whose operands are gathered on the fly instead of
// being unfolded into an im2col matrix in memory (gemm.hpp's operand policies; one launch covers
// every group through blockIdx.y):
//
//   forward   Z[s, o, p]   = sum_{ci, ky, kx} X[s, ci, iy(p, ky), ix(p, kx)] W[o, ci, ky, kx]
//             M = batch * OH * OW (sample, output pixel), N = Cout / G, K = C / G * kh * kw;
//             the store adds the bias, keeps Z and applies the stage's epilogue (as a Dense GEMM);
//   dX        dX[s, c, q]  = sum_{o, ky, kx} dZ[s, o, oy(q, ky), ox(q, kx)] W[o, c, ky, kx]
//             (the transposed convolution: an output pixel contributes where the stride divides
//             the offset), M = batch * H * W, N = C / G, K = Cout / G * kh * kw; the store
//             multiplies by the previous stage's epilogue derivative;
//   dW, db    dW[o, ci, ky, kx] = sum_{s, p} dZ[s, o, p] X[s, ci, iy, ix], M = Cout / G,
//             N = C / G * kh * kw + 1 (the ones column gives db), K = batch * OH * OW.
//
// Padding reads as zero; the geometry is a compile-time Window2D (layers/window.hpp), so every
// index split (sample / pixel / tap) is a division by a constant. The epilogue index of an output
// value is s * Cout * OH * OW + o * OH * OW + p, the Eigen executor's, so Dropout after a
// convolution draws the same mask on both backends.
//
// Limits: as gemm.hpp (no split-K: dW of a large batch over a small layer has few blocks; no
// tensor cores); the gathers are scalar loads through the read-only path.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../../../layers/window.hpp"
#include "../kernel.hpp"
#include "../types.hpp"
#include "fold.hpp"
#include "gemm.hpp"
#include "gemm_mma.hpp"
#include "join.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

/// The compile-time shape of a convolution: window G on the input, Cout output channels, Groups
/// groups.
template <::ctnn::detail::Window2D G, std::size_t Cout, std::size_t Groups>
struct ConvShape {
    static constexpr std::uint32_t groups = static_cast<std::uint32_t>(Groups);
    static constexpr std::uint32_t cg = static_cast<std::uint32_t>(G.c / Groups);  ///< in / group
    static constexpr std::uint32_t og = static_cast<std::uint32_t>(Cout / Groups); ///< out / group
    static constexpr std::uint32_t kk = static_cast<std::uint32_t>(G.kh * G.kw);
    static constexpr std::uint32_t taps = cg * kk; ///< weight row length (PyTorch's fan-in)
    static constexpr std::uint32_t hw = static_cast<std::uint32_t>(G.h * G.w);
    static constexpr std::uint32_t pixels = static_cast<std::uint32_t>(G.oh * G.ow);
    static constexpr std::uint32_t in_size = static_cast<std::uint32_t>(G.c) * hw;
    static constexpr std::uint32_t out_size = static_cast<std::uint32_t>(Cout) * pixels;
    static_assert(G.c % Groups == 0 && Cout % Groups == 0, "ConvShape: channels and groups");

    /// Input offset (within channel) of tap (ky, kx) of output pixel p; false if it is padding.
    __device__ __forceinline__ static bool input_at(std::uint32_t p, std::uint32_t t,
                                                    std::uint32_t& q) {
        const std::uint32_t oy = p / static_cast<std::uint32_t>(G.ow);
        const std::uint32_t ox = p % static_cast<std::uint32_t>(G.ow);
        const std::uint32_t ky = t / static_cast<std::uint32_t>(G.kw);
        const std::uint32_t kx = t % static_cast<std::uint32_t>(G.kw);
        // Unsigned arithmetic: a position above or left of the image wraps to a huge value.
        const std::uint32_t iy = oy * static_cast<std::uint32_t>(G.sh) +
                                 ky * static_cast<std::uint32_t>(G.dh) -
                                 static_cast<std::uint32_t>(G.pt);
        const std::uint32_t ix = ox * static_cast<std::uint32_t>(G.sw) +
                                 kx * static_cast<std::uint32_t>(G.dw) -
                                 static_cast<std::uint32_t>(G.pl);
        if (iy >= static_cast<std::uint32_t>(G.h) || ix >= static_cast<std::uint32_t>(G.w))
            return false;
        q = iy * static_cast<std::uint32_t>(G.w) + ix;
        return true;
    }

    /// Output pixel that tap (ky, kx) of input pixel q falls in; false if none (stride gap,
    /// outside the output).
    __device__ __forceinline__ static bool output_at(std::uint32_t q, std::uint32_t t,
                                                     std::uint32_t& p) {
        const std::uint32_t iy = q / static_cast<std::uint32_t>(G.w);
        const std::uint32_t ix = q % static_cast<std::uint32_t>(G.w);
        const std::uint32_t ky = t / static_cast<std::uint32_t>(G.kw);
        const std::uint32_t kx = t % static_cast<std::uint32_t>(G.kw);
        const std::uint32_t ny = iy + static_cast<std::uint32_t>(G.pt);
        const std::uint32_t nx = ix + static_cast<std::uint32_t>(G.pl);
        const std::uint32_t dy = ky * static_cast<std::uint32_t>(G.dh);
        const std::uint32_t dx = kx * static_cast<std::uint32_t>(G.dw);
        if (ny < dy || nx < dx) return false;
        const std::uint32_t ry = ny - dy, rx = nx - dx;
        if (ry % static_cast<std::uint32_t>(G.sh) != 0 ||
            rx % static_cast<std::uint32_t>(G.sw) != 0)
            return false;
        const std::uint32_t oy = ry / static_cast<std::uint32_t>(G.sh);
        const std::uint32_t ox = rx / static_cast<std::uint32_t>(G.sw);
        if (oy >= static_cast<std::uint32_t>(G.oh) || ox >= static_cast<std::uint32_t>(G.ow))
            return false;
        p = oy * static_cast<std::uint32_t>(G.ow) + ox;
        return true;
    }
};

namespace detail {

/// Forward A: X's patches, A_g((s, p), (ci, t)) = X[s, g cg + ci, tap t of pixel p] (0: padding).
template <class Shape, class T>
struct ConvPatches {
    static constexpr bool k_contiguous = false; // neighbouring threads: neighbouring pixels
    const T* x;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        const std::uint32_t s = r / Shape::pixels, p = r % Shape::pixels;
        const std::uint32_t ci = k / Shape::kk, t = k % Shape::kk;
        std::uint32_t q = 0;
        if (!Shape::input_at(p, t, q)) return T(0);
        return __ldg(x + std::size_t{s} * Shape::in_size +
                     std::size_t{g * Shape::cg + ci} * Shape::hw + q);
    }
};

/// Forward B: B_g((ci, t), o) = W[g og + o, ci, t] (rows of the weight are contiguous in k).
template <class Shape, class T>
struct ConvWeights {
    static constexpr bool k_contiguous = true;
    const T* w;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        return __ldg(w + std::size_t{g * Shape::og + r} * Shape::taps + k);
    }
};

/// dX's A: A_g((s, q), (o, t)) = dZ[s, g og + o, output pixel of tap t at input pixel q] (or 0).
template <class Shape, class T>
struct ConvOutGradGather {
    static constexpr bool k_contiguous = false;
    const T* dz;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        const std::uint32_t s = r / Shape::hw, q = r % Shape::hw;
        const std::uint32_t o = k / Shape::kk, t = k % Shape::kk;
        std::uint32_t p = 0;
        if (!Shape::output_at(q, t, p)) return T(0);
        return __ldg(dz + std::size_t{s} * Shape::out_size +
                     std::size_t{g * Shape::og + o} * Shape::pixels + p);
    }
};

/// dX's B: B_g((o, t), ci) = W[g og + o, ci, t].
template <class Shape, class T>
struct ConvWeightsT {
    static constexpr bool k_contiguous = false;
    const T* w;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        const std::uint32_t o = k / Shape::kk, t = k % Shape::kk;
        return __ldg(w + std::size_t{g * Shape::og + o} * Shape::taps + r * Shape::kk + t);
    }
};

/// dW's A: A_g(o, (s, p)) = dZ[s, g og + o, p].
template <class Shape, class T>
struct ConvOutGradT {
    static constexpr bool k_contiguous = true; // consecutive k: consecutive pixels of a channel
    const T* dz;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        const std::uint32_t s = k / Shape::pixels, p = k % Shape::pixels;
        return __ldg(dz + std::size_t{s} * Shape::out_size +
                     std::size_t{g * Shape::og + r} * Shape::pixels + p);
    }
};

/// dW's B: B_g((s, p), (ci, t)) = X[s, g cg + ci, tap t of pixel p] (the patches, transposed).
template <class Shape, class T>
struct ConvPatchesT {
    static constexpr bool k_contiguous = true;
    const T* x;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        return ConvPatches<Shape, T>{x}.load(g, k, r);
    }
};

/// Store of the forward GEMM: v = acc + bias; Z = v; Y = Epi(v), at index s * out + o * P + p.
/// With an active Fold (an inference-mode BatchNorm folded in; Epi is then empty), v also goes
/// to the fold, which writes the BatchNorm stage's outputs (kernels/fold.hpp); with an active
/// Join, the output goes on to a two-branch Add join (kernels/join.hpp, FusedJoin).
template <class Shape, class Epi, class T, class Fold = NoFold, class Join = NoJoin>
struct ConvForwardStore {
    T* z;
    T* y;
    const T* bias; ///< null: no bias
    ElemCtx ctx;
    Fold fold;
    Join join;
    __device__ __forceinline__ void operator()(std::uint32_t g, std::uint32_t m, std::uint32_t n,
                                               T acc) const {
        const std::uint32_t s = m / Shape::pixels, p = m % Shape::pixels;
        const std::uint32_t o = g * Shape::og + n;
        const std::size_t i = std::size_t{s} * Shape::out_size + std::size_t{o} * Shape::pixels + p;
        const T v = bias != nullptr ? acc + bias[o] : acc;
        z[i] = v;
        forward_store_tail<Epi>(i, v, y, ctx, fold, join);
    }
};

/// The row order of a convolution with a 2 x 2, stride-2 pooling fused into its store
/// (pool_fuses_into_previous, backend/cuda/schedule.hpp): GEMM row m is tap t (row-major in the
/// window) of pooling window w, m = 64 (w / 16) + 16 t + w % 16, so a GemmLarge thread (rows m0 +
/// ty + 16 i, i < 4) holds the four convolution outputs of window m0 / 4 + ty in its registers.
/// Windows are numbered sample-major (w = sample * pooled + pooled pixel); the rows are padded to
/// whole 64-row tiles.
template <class Shape, class PoolGeo>
struct PooledRows {
    static constexpr ::ctnn::detail::Window2D P = PoolGeo::window;
    static_assert(P.kh == 2 && P.kw == 2 && P.sh == 2 && P.sw == 2 && P.dh == 1 && P.dw == 1 &&
                      P.pt == 0 && P.pb == 0 && P.pl == 0 && P.pr == 0 && P.h == 2 * P.oh &&
                      P.w == 2 * P.ow && P.h * P.w == Shape::pixels,
                  "PooledRows: a 2 x 2, stride-2 pooling tiling the convolution's output exactly");
    static constexpr std::uint32_t pooled = static_cast<std::uint32_t>(P.oh * P.ow); ///< per map
    /// GEMM rows for `windows` windows (whole 64-row tiles).
    static constexpr std::uint64_t rows(std::uint64_t windows) { return (windows + 15) / 16 * 64; }
    __device__ __forceinline__ static std::uint32_t window(std::uint32_t m) {
        return m / 64u * 16u + m % 16u;
    }
    __device__ __forceinline__ static std::uint32_t tap(std::uint32_t m) { return m % 64u / 16u; }
    /// The convolution output pixel of tap t of pooled pixel pp.
    __device__ __forceinline__ static std::uint32_t pixel(std::uint32_t pp, std::uint32_t t) {
        const std::uint32_t py = pp / static_cast<std::uint32_t>(P.ow);
        const std::uint32_t px = pp % static_cast<std::uint32_t>(P.ow);
        return (2u * py + t / 2u) * static_cast<std::uint32_t>(P.w) + 2u * px + t % 2u;
    }
};

/// Forward A in PooledRows order: row m is the patch of its window's tap (0 past the windows).
template <class Shape, class PoolGeo, class T>
struct ConvPatchesPooled {
    static constexpr bool k_contiguous = false;
    using Rows = PooledRows<Shape, PoolGeo>;
    const T* x;
    std::uint32_t windows;
    __device__ __forceinline__ T load(std::uint32_t g, std::uint32_t r, std::uint32_t k) const {
        const std::uint32_t w = Rows::window(r);
        if (w >= windows) return T(0);
        const std::uint32_t s = w / Rows::pooled, pp = w % Rows::pooled;
        return ConvPatches<Shape, T>{x}.load(g, s * Shape::pixels + Rows::pixel(pp, Rows::tap(r)),
                                             k);
    }
};

/// Column store of a convolution with a 2 x 2 pooling fused (PooledRows order): per window, the
/// four outputs as ConvForwardStore stores them (v = acc + bias, Z = v, Y = Epi(v)), then the
/// pooling of the four Y as pool_forward computes it (the first maximum in row-major order, a NaN
/// wins; or their sum in that order times 1/4) into the pooling stage's Z and Y = PoolEpi(Z),
/// with the same ElemCtx indices as the two separate kernels. With an active Fold (an
/// inference-mode BatchNorm between the convolution and the pooling, folded in; Epi is then
/// empty), the pooling reads the BatchNorm's output instead (kernels/fold.hpp).
template <class Shape, class Epi, class PoolGeo, bool Max, class PoolEpi, class T,
          class Fold = NoFold>
struct ConvPoolStore {
    static constexpr unsigned column_rows = 4;
    using Rows = PooledRows<Shape, PoolGeo>;
    T* z;
    T* y;
    const T* bias; ///< null: no bias
    T* pz;
    T* py;
    ElemCtx ctx;
    std::uint32_t windows;
    Fold fold;
    __device__ __forceinline__ void column(std::uint32_t g, std::uint32_t m, std::uint32_t n,
                                           const T (&acc)[4]) const {
        const std::uint32_t w = Rows::window(m); // m is the thread's first row: tap 0
        if (w >= windows) return;
        const std::uint32_t s = w / Rows::pooled, pp = w % Rows::pooled;
        const std::uint32_t o = g * Shape::og + n;
        const std::size_t base = std::size_t{s} * Shape::out_size + std::size_t{o} * Shape::pixels;
        T best = T(0), sum = T(0);
        for (std::uint32_t t = 0; t < 4; ++t) {
            const std::size_t i = base + Rows::pixel(pp, t);
            const T v = bias != nullptr ? acc[t] + bias[o] : acc[t];
            z[i] = v;
            T out = v;
            if constexpr (Fold::active) {
                out = fold(i, v, ctx);
            } else if constexpr (Epi::size > 0) {
                ElemCtx c = ctx;
                c.index = i;
                out = Epi::apply(v, c);
                y[i] = out;
            }
            if constexpr (Max) {
                if (t == 0 || out > best || std::isnan(out)) best = out;
            } else {
                sum += out;
            }
        }
        const T pv = Max ? best : sum * (T(1) / T(4));
        const std::size_t pi =
            (std::size_t{s} * (Shape::og * Shape::groups) + o) * Rows::pooled + pp;
        pz[pi] = pv;
        if constexpr (PoolEpi::size > 0) {
            ElemCtx c = ctx;
            c.index = pi;
            py[pi] = PoolEpi::apply(pv, c);
        }
    }
};

/// Store of the dX GEMM: dX = acc x PrevEpi'(zp), at index s * in + c * HW + q.
template <class Shape, class PrevEpi, class T>
struct ConvInputGradStore {
    T* dx;
    const T* zp;
    ElemCtx ctx;
    __device__ __forceinline__ void operator()(std::uint32_t g, std::uint32_t m, std::uint32_t n,
                                               T acc) const {
        const std::uint32_t s = m / Shape::hw, q = m % Shape::hw;
        const std::size_t i =
            std::size_t{s} * Shape::in_size + std::size_t{g * Shape::cg + n} * Shape::hw + q;
        if constexpr (PrevEpi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            acc *= PrevEpi::apply(expr::Dual<T>{zp[i], T(1)}, c).d;
        }
        dx[i] = acc;
    }
};

/// Store of the dW GEMM: columns < taps are dW [Cout][taps], the ones column is db.
template <class Shape, class T>
struct ConvWeightGradStore {
    T* gw;
    T* gb;
    __device__ __forceinline__ void operator()(std::uint32_t g, std::uint32_t m, std::uint32_t n,
                                               T acc) const {
        const std::uint32_t o = g * Shape::og + m;
        if (n < Shape::taps) gw[std::size_t{o} * Shape::taps + n] = acc;
        else gb[o] = acc;
    }
};

} // namespace detail

/// Forward pass of a convolution stage over `batch` samples: Z = conv(X, W) + bias (bias may be
/// null), Y = Epi(Z) (when the epilogue is not empty); with a detail::FoldedNorm `fold`, the
/// folded BatchNorm's outputs as well; with a detail::FusedJoin `join`, a two-branch Add join's
/// outputs from those (Y of the convolution, or of the folded BatchNorm, is then not stored).
/// One kernel launch.
template <class Shape, class Epi, GemmOperands G = GemmOperands::scalar, class T,
          class Fold = detail::NoFold, class Join = detail::NoJoin>
void conv_forward(const T* x, const T* w, const T* bias, T* z, T* y, std::size_t batch, ElemCtx ctx,
                  stream_t stream = nullptr, Fold fold = {}, Join join = {}) {
    const auto M = static_cast<std::uint32_t>(batch * Shape::pixels);
    gemm_grouped_as<G, T>(
        M, Shape::og, Shape::taps, Shape::groups, detail::ConvPatches<Shape, T>{x},
        detail::ConvWeights<Shape, T>{w},
        detail::ConvForwardStore<Shape, Epi, T, Fold, Join>{z, y, bias, ctx, fold, join}, false,
        stream);
}

/// Forward pass of a convolution stage and of the 2 x 2, stride-2 pooling stage after it
/// (PoolGeo, a bound MaxPool2D / AvgPool2D; pool_fuses_into_previous) over `batch` samples: the
/// convolution's Z and Y = Epi(Z) as conv_forward, and the pooling's Z and Y = PoolEpi(Z) as
/// pool_forward, from one GEMM (GemmLarge, rows in PooledRows order); with a detail::FoldedNorm
/// `fold`, the BatchNorm between them too (inference). One kernel launch.
template <class Shape, class Epi, class PoolGeo, bool Max, class PoolEpi, class T,
          class Fold = detail::NoFold>
void conv_pool_forward(const T* x, const T* w, const T* bias, T* z, T* y, T* pz, T* py,
                       std::size_t batch, ElemCtx ctx, stream_t stream = nullptr, Fold fold = {}) {
    using Rows = detail::PooledRows<Shape, PoolGeo>;
    const auto windows = static_cast<std::uint32_t>(batch * Rows::pooled);
    const auto M = static_cast<std::uint32_t>(Rows::rows(windows));
    gemm_grouped<T>(M, Shape::og, Shape::taps, Shape::groups,
                    detail::ConvPatchesPooled<Shape, PoolGeo, T>{x, windows},
                    detail::ConvWeights<Shape, T>{w},
                    detail::ConvPoolStore<Shape, Epi, PoolGeo, Max, PoolEpi, T, Fold>{
                        z, y, bias, pz, py, ctx, windows, fold},
                    false, stream);
}

/// Input gradient of a convolution stage: dX = conv^T(dZ, W), times PrevEpi'(zp) (the previous
/// stage's epilogue input). One kernel launch.
template <class Shape, class PrevEpi, GemmOperands G = GemmOperands::scalar, class T>
void conv_backward_data(const T* dz, const T* w, const T* zp, T* dx, std::size_t batch, ElemCtx ctx,
                        stream_t stream = nullptr) {
    const auto M = static_cast<std::uint32_t>(batch * Shape::hw);
    gemm_grouped_as<G, T>(
        M, Shape::cg, Shape::og * Shape::kk, Shape::groups, detail::ConvOutGradGather<Shape, T>{dz},
        detail::ConvWeightsT<Shape, T>{w},
        detail::ConvInputGradStore<Shape, PrevEpi, T>{dx, zp, ctx}, false, stream);
}

/// Weight gradient (and, if gb is not null, bias gradient) of a convolution stage, overwriting
/// gw [Cout][taps] and gb [Cout]. One kernel launch.
template <class Shape, GemmOperands G = GemmOperands::scalar, class T>
void conv_backward_weights(const T* dz, const T* x, T* gw, T* gb, std::size_t batch,
                           stream_t stream = nullptr) {
    const auto K = static_cast<std::uint32_t>(batch * Shape::pixels);
    const bool with_bias = gb != nullptr;
    gemm_grouped_as<G, T>(Shape::og, Shape::taps + (with_bias ? 1u : 0u), K, Shape::groups,
                          detail::ConvOutGradT<Shape, T>{dz}, detail::ConvPatchesT<Shape, T>{x},
                          detail::ConvWeightGradStore<Shape, T>{gw, gb}, with_bias, stream);
}

} // namespace ctnn::cuda
