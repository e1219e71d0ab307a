// ctnn/backend/cpu/eigen/window.hpp — CPU loops of the window layers: im2col/col2im for Conv2D, the
// pooling reductions and upsampling (nearest, bilinear), forward and backward.
//
// The window geometry (detail::Window2D) and the image sizes are run-time arguments: these loops
// have no register blocking to specialize (static tile, dynamic extents), so one instantiation
// per element type serves every layer shape of every model.
//
// Tensors are channel-first per sample: x[s][c][h][w], samples back to back.
#pragma once
#include "../../../config.hpp"
#include "../../../layers/pool.hpp"
#include "../../../layers/resample.hpp"
#include "../../../layers/window.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace ctnn::eigen::detail {

using Window2D = ctnn::detail::Window2D;
using index = std::ptrdiff_t;

constexpr index signed_of(std::size_t v) { return static_cast<index>(v); }

/// The output positions [lo, hi) along one axis whose input position o * stride + offset lies in
/// [0, in): the others read the padding.
constexpr std::pair<std::size_t, std::size_t> valid_range(index offset, std::size_t stride,
                                                          std::size_t in, std::size_t out) {
    const index st = signed_of(stride), n = signed_of(in), o = signed_of(out);
    const index lo = offset >= 0 ? 0 : (-offset + st - 1) / st;
    const index hi = n - offset <= 0 ? 0 : std::min(o, (n - offset + st - 1) / st);
    return {static_cast<std::size_t>(std::min(lo, hi)), static_cast<std::size_t>(hi)};
}

/// Where tap (ki, kj) of the window reads: input offsets and the valid output rows and columns.
struct TapPlane {
    index dy, dx;               ///< input row/column = output row/column * stride + dy/dx
    std::size_t row_lo, row_hi; ///< output rows reading inside the image
    std::size_t col_lo, col_hi; ///< output columns reading inside the image
    std::size_t sh, sw, w;      ///< strides and input width
    constexpr TapPlane(const Window2D& G, std::size_t ki, std::size_t kj)
        : dy(signed_of(ki * G.dh) - signed_of(G.pt)), dx(signed_of(kj * G.dw) - signed_of(G.pl)),
          row_lo(valid_range(dy, G.sh, G.h, G.oh).first),
          row_hi(valid_range(dy, G.sh, G.h, G.oh).second),
          col_lo(valid_range(dx, G.sw, G.w, G.ow).first),
          col_hi(valid_range(dx, G.sw, G.w, G.ow).second), sh(G.sh), sw(G.sw), w(G.w) {}
    /// Input offset (within the channel) read by output pixel (oh, ow).
    [[nodiscard]] constexpr std::size_t source(std::size_t oh, std::size_t ow) const {
        return static_cast<std::size_t>(signed_of(oh * sh) + dy) * w +
               static_cast<std::size_t>(signed_of(ow * sw) + dx);
    }
};

/// Stride 1 and an output as large as the input (Same padding): every tap's plane is the input
/// plane shifted by a constant offset, so it is copied as one run plus a fix-up of the edges.
constexpr bool shift_window(const Window2D& G) {
    return G.sh == 1 && G.sw == 1 && G.oh == G.h && G.ow == G.w;
}

/// Copies the patches of `samples` consecutive samples x into the column-major im2col matrix col
/// of (samples * oh * ow) rows and (c * kh * kw) columns: col(s * P + p, k) is the input value
/// under tap k = (channel, ki, kj) of output pixel p of sample s, or 0 in the padding.
template <class T>
void im2col(const Window2D& G, const T* x, std::size_t samples, T* col) {
    const std::size_t P = G.oh * G.ow, HW = G.h * G.w, in_size = G.c * HW;
    const std::size_t rows = samples * P;
    for (std::size_t ki = 0; ki < G.kh; ++ki)
        for (std::size_t kj = 0; kj < G.kw; ++kj) {
            const TapPlane t(G, ki, kj);
            for (std::size_t c = 0; c < G.c; ++c) {
                T* dst_k = col + ((c * G.kh + ki) * G.kw + kj) * rows;
                for (std::size_t s = 0; s < samples; ++s) {
                    const T* xc = x + s * in_size + c * HW;
                    T* dst = dst_k + s * P;
                    if (t.row_lo >= t.row_hi || t.col_lo >= t.col_hi) {
                        std::fill(dst, dst + P, T(0));
                        continue;
                    }
                    std::fill(dst, dst + t.row_lo * G.ow, T(0));
                    std::fill(dst + t.row_hi * G.ow, dst + P, T(0));
                    if (shift_window(G)) {
                        // One run over the valid rows, then zero the columns that wrapped around.
                        std::copy(xc + t.source(t.row_lo, t.col_lo),
                                  xc + t.source(t.row_hi - 1, t.col_hi - 1) + 1,
                                  dst + t.row_lo * G.w + t.col_lo);
                        for (std::size_t oh = t.row_lo; oh < t.row_hi; ++oh) {
                            T* r = dst + oh * G.w;
                            std::fill(r, r + t.col_lo, T(0));
                            std::fill(r + t.col_hi, r + G.w, T(0));
                        }
                    } else {
                        for (std::size_t oh = t.row_lo; oh < t.row_hi; ++oh) {
                            T* r = dst + oh * G.ow;
                            std::fill(r, r + t.col_lo, T(0));
                            for (std::size_t ow = t.col_lo; ow < t.col_hi; ++ow)
                                r[ow] = xc[t.source(oh, ow)];
                            std::fill(r + t.col_hi, r + G.ow, T(0));
                        }
                    }
                }
            }
        }
}

/// The adjoint of im2col: adds every entry of col back to the input position it was copied from
/// (entries of the padding are dropped). dx must be zeroed (or hold values to add to) before.
/// col is scratch: its entries in the padding may be overwritten with zeros.
template <class T>
void col2im(const Window2D& G, T* col, std::size_t samples, T* dx) {
    const std::size_t P = G.oh * G.ow, HW = G.h * G.w, in_size = G.c * HW;
    const std::size_t rows = samples * P;
    for (std::size_t ki = 0; ki < G.kh; ++ki)
        for (std::size_t kj = 0; kj < G.kw; ++kj) {
            const TapPlane t(G, ki, kj);
            if (t.row_lo >= t.row_hi || t.col_lo >= t.col_hi) continue;
            for (std::size_t c = 0; c < G.c; ++c) {
                T* src_k = col + ((c * G.kh + ki) * G.kw + kj) * rows;
                for (std::size_t s = 0; s < samples; ++s) {
                    T* xc = dx + s * in_size + c * HW;
                    T* src = src_k + s * P;
                    if (shift_window(G)) {
                        // Zero the entries of the columns that read the padding, then add one run.
                        for (std::size_t oh = t.row_lo; oh < t.row_hi; ++oh) {
                            T* r = src + oh * G.w;
                            std::fill(r, r + t.col_lo, T(0));
                            std::fill(r + t.col_hi, r + G.w, T(0));
                        }
                        const std::size_t begin = t.row_lo * G.w + t.col_lo;
                        const std::size_t end = (t.row_hi - 1) * G.w + t.col_hi;
                        T* to = xc + t.source(t.row_lo, t.col_lo);
                        for (std::size_t p = begin; p < end; ++p) to[p - begin] += src[p];
                    } else {
                        for (std::size_t oh = t.row_lo; oh < t.row_hi; ++oh) {
                            const T* r = src + oh * G.ow;
                            for (std::size_t ow = t.col_lo; ow < t.col_hi; ++ow)
                                xc[t.source(oh, ow)] += r[ow];
                        }
                    }
                }
            }
        }
}

/// Calls f(offset) for the input offset (within one channel) of every tap of output pixel
/// (oh, ow) that lies inside the image, in row-major tap order. Without padding every tap is
/// inside, and the loops have no checks.
template <class F>
CTNN_FORCEINLINE void for_each_tap(const Window2D& G, std::size_t oh, std::size_t ow, F&& f) {
    if (G.pt == 0 && G.pb == 0 && G.pl == 0 && G.pr == 0) {
        const std::size_t base = oh * G.sh * G.w + ow * G.sw;
        for (std::size_t ki = 0; ki < G.kh; ++ki)
            for (std::size_t kj = 0; kj < G.kw; ++kj) f(base + ki * G.dh * G.w + kj * G.dw);
    } else {
        const index ih0 = signed_of(oh * G.sh) - signed_of(G.pt);
        const index iw0 = signed_of(ow * G.sw) - signed_of(G.pl);
        for (std::size_t ki = 0; ki < G.kh; ++ki) {
            const index ih = ih0 + signed_of(ki * G.dh);
            if (ih < 0 || ih >= signed_of(G.h)) continue;
            for (std::size_t kj = 0; kj < G.kw; ++kj) {
                const index iw = iw0 + signed_of(kj * G.dw);
                if (iw < 0 || iw >= signed_of(G.w)) continue;
                f(static_cast<std::size_t>(ih) * G.w + static_cast<std::size_t>(iw));
            }
        }
    }
}

/// Offset (within its channel) of the maximum of output pixel (oh, ow)'s window, by PyTorch's
/// rule: the first maximum in row-major order, a NaN wins. Used by forward and backward alike.
template <class T>
CTNN_FORCEINLINE std::size_t window_argmax(const Window2D& G, const T* xc, std::size_t oh,
                                           std::size_t ow) {
    std::size_t arg = 0;
    T m = -std::numeric_limits<T>::infinity();
    bool first = true;
    for_each_tap(G, oh, ow, [&](std::size_t i) {
        const T v = xc[i];
        if (first || v > m || std::isnan(v)) m = v, arg = i;
        first = false;
    });
    return arg;
}

/// The maximum of output pixel (oh, ow)'s window when the window has no padding: the value
/// window_argmax selects (a NaN wins), computed without the index and without branches, so the
/// loop over ow vectorizes.
template <class T>
CTNN_FORCEINLINE T window_max_unpadded(const Window2D& G, const T* xc, std::size_t oh,
                                       std::size_t ow) {
    const T* p = xc + oh * G.sh * G.w + ow * G.sw;
    T m = p[0];
    for (std::size_t ki = 0; ki < G.kh; ++ki)
        for (std::size_t kj = ki == 0 ? 1 : 0; kj < G.kw; ++kj) {
            const T v = p[ki * G.dh * G.w + kj * G.dw];
            m = (v > m || v != v) ? v : m; // v != v: NaN, as std::isnan without the call
        }
    return m;
}

/// pool_forward of a 2 x 2, stride-2 window without padding or dilation (the common pooling): the
/// same values in the same order as the general loop (max: a NaN wins; mean: ((a + b) + c) + d
/// times 1/4), with the window's shape known, so the loop over ow vectorizes (2x faster here).
template <PoolOp Op, class T>
void pool_forward_2x2(const Window2D& G, const T* x, std::size_t batch, T* z) {
    const std::size_t HW = G.h * G.w, P = G.oh * G.ow;
    for (std::size_t bc = 0; bc < batch * G.c; ++bc) {
        const T* xc = x + bc * HW;
        T* zc = z + bc * P;
        for (std::size_t oh = 0; oh < G.oh; ++oh) {
            const T* r0 = xc + 2 * oh * G.w;
            const T* r1 = r0 + G.w;
            T* zr = zc + oh * G.ow;
            for (std::size_t ow = 0; ow < G.ow; ++ow) {
                const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                if constexpr (Op == PoolOp::max) {
                    T m = a;
                    m = (b > m || b != b) ? b : m; // b != b: NaN, as window_max_unpadded
                    m = (c > m || c != c) ? c : m;
                    m = (d > m || d != d) ? d : m;
                    zr[ow] = m;
                } else {
                    zr[ow] = (((T(0) + a) + b) + c + d) * (T(1) / T(4));
                }
            }
        }
    }
}

/// Pooling forward: z[s][c][oh][ow] = max or mean of the window, for `batch` samples.
template <PoolOp Op, class T>
void pool_forward(const Window2D& G, const T* x, std::size_t batch, T* z) {
    const std::size_t HW = G.h * G.w, P = G.oh * G.ow;
    const T inv = T(1) / static_cast<T>(G.kh * G.kw);
    const bool unpadded = G.pt == 0 && G.pb == 0 && G.pl == 0 && G.pr == 0;
    if (unpadded && G.kh == 2 && G.kw == 2 && G.sh == 2 && G.sw == 2 && G.dh == 1 && G.dw == 1) {
        pool_forward_2x2<Op>(G, x, batch, z);
        return;
    }
    for (std::size_t bc = 0; bc < batch * G.c; ++bc) {
        const T* xc = x + bc * HW;
        T* zc = z + bc * P;
        for (std::size_t oh = 0; oh < G.oh; ++oh)
            for (std::size_t ow = 0; ow < G.ow; ++ow) {
                if (Op == PoolOp::max && unpadded) {
                    zc[oh * G.ow + ow] = window_max_unpadded(G, xc, oh, ow);
                } else if (Op == PoolOp::max) {
                    zc[oh * G.ow + ow] = xc[window_argmax(G, xc, oh, ow)];
                } else {
                    T s = T(0);
                    for_each_tap(G, oh, ow, [&](std::size_t i) { s += xc[i]; });
                    zc[oh * G.ow + ow] = s * inv;
                }
            }
    }
}

/// Windows that tile the input exactly (stride = kernel, no padding, no remainder): every input
/// value belongs to exactly one window.
constexpr bool tiling_window(const Window2D& G) {
    return G.sh == G.kh && G.sw == G.kw && G.dh == 1 && G.dw == 1 && G.pt == 0 && G.pb == 0 &&
           G.pl == 0 && G.pr == 0 && G.oh * G.kh == G.h && G.ow * G.kw == G.w;
}

/// Pooling backward: writes dx (overwriting it). Max pooling routes each output gradient to its
/// window's argmax, found again from the input x (forward stores nothing); average pooling
/// spreads it evenly over the window. Tiling windows write each input once; others accumulate.
template <PoolOp Op, class T>
void pool_backward(const Window2D& G, const T* x, const T* dz, std::size_t batch, T* dx) {
    const std::size_t HW = G.h * G.w, P = G.oh * G.ow;
    const T inv = T(1) / static_cast<T>(G.kh * G.kw);
    const bool tiling = tiling_window(G);
    if (!tiling) std::fill(dx, dx + batch * G.c * HW, T(0));
    for (std::size_t bc = 0; bc < batch * G.c; ++bc) {
        const T* xc = x + bc * HW;
        const T* dzc = dz + bc * P;
        T* dxc = dx + bc * HW;
        for (std::size_t oh = 0; oh < G.oh; ++oh)
            for (std::size_t ow = 0; ow < G.ow; ++ow) {
                const T g = dzc[oh * G.ow + ow];
                if constexpr (Op == PoolOp::max) {
                    const std::size_t arg = window_argmax(G, xc, oh, ow);
                    if (tiling)
                        for_each_tap(G, oh, ow,
                                     [&](std::size_t i) { dxc[i] = i == arg ? g : T(0); });
                    else dxc[arg] += g;
                } else {
                    const T share = g * inv;
                    if (tiling) for_each_tap(G, oh, ow, [&](std::size_t i) { dxc[i] = share; });
                    else for_each_tap(G, oh, ow, [&](std::size_t i) { dxc[i] += share; });
                }
            }
    }
}

/// Nearest-neighbour upsampling forward (Upsample<S>): z[p][S y + a][S x + b] = x[p][y][x] for
/// every plane p of the `planes` (samples x channels) planes of H x W values.
template <class T>
void upsample_forward(std::size_t S, std::size_t H, std::size_t W, const T* x, std::size_t planes,
                      T* z) {
    const std::size_t OW = S * W;
    for (std::size_t pl = 0; pl < planes; ++pl) {
        const T* xp = x + pl * H * W;
        T* zp = z + pl * S * H * OW;
        for (std::size_t y = 0; y < H; ++y) {
            T* row = zp + y * S * OW; // first of the S output rows of input row y
            for (std::size_t xi = 0; xi < W; ++xi)
                for (std::size_t b = 0; b < S; ++b) row[xi * S + b] = xp[y * W + xi];
            for (std::size_t a = 1; a < S; ++a) std::copy_n(row, OW, row + a * OW);
        }
    }
}

/// Nearest-neighbour upsampling backward: dx[p][y][x] = the sum of dz over the S x S block
/// of output pixel (S y, S x), in row-major order within the block (one write per input value).
template <class T>
void upsample_backward(std::size_t S, std::size_t H, std::size_t W, const T* dz, std::size_t planes,
                       T* dx) {
    const std::size_t OW = S * W;
    for (std::size_t pl = 0; pl < planes; ++pl) {
        const T* dzp = dz + pl * S * H * OW;
        T* dxp = dx + pl * H * W;
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t xi = 0; xi < W; ++xi) {
                T g = T(0);
                for (std::size_t a = 0; a < S; ++a)
                    for (std::size_t b = 0; b < S; ++b) g += dzp[(y * S + a) * OW + xi * S + b];
                dxp[y * W + xi] = g;
            }
    }
}

/// Bilinear upsampling forward (Upsample<S, Bilinear>, PyTorch's align_corners=False): each
/// output pixel interpolates the four input pixels around its source position (linear_tap).
template <class T>
void upsample_bilinear_forward(std::uint32_t S, std::uint32_t H, std::uint32_t W, const T* x,
                               std::size_t planes, T* z) {
    const std::uint32_t OH = S * H, OW = S * W;
    for (std::size_t pl = 0; pl < planes; ++pl) {
        const T* xp = x + pl * H * W;
        T* zp = z + pl * OH * OW;
        for (std::uint32_t oy = 0; oy < OH; ++oy) {
            std::uint32_t y0 = 0, y1 = 0;
            T ly = T(0);
            ctnn::detail::linear_tap(oy, S, H, y0, y1, ly);
            for (std::uint32_t ox = 0; ox < OW; ++ox) {
                std::uint32_t x0 = 0, x1 = 0;
                T lx = T(0);
                ctnn::detail::linear_tap(ox, S, W, x0, x1, lx);
                const T* r0 = xp + y0 * W;
                const T* r1 = xp + y1 * W;
                zp[oy * OW + ox] = (T(1) - ly) * ((T(1) - lx) * r0[x0] + lx * r0[x1]) +
                                   ly * ((T(1) - lx) * r1[x0] + lx * r1[x1]);
            }
        }
    }
}

/// Output positions [lo, hi) along an axis (n inputs, factor S) that may read input position i
/// bilinearly: their source positions lie in [i - 1, i + 1).
constexpr std::pair<std::uint32_t, std::uint32_t> bilinear_readers(std::uint32_t S, std::uint32_t N,
                                                                   std::uint32_t i) {
    const std::uint32_t lo = i >= 1 ? S * (i - 1) : 0;
    const std::uint32_t hi = std::min(S * N, S * (i + 2));
    return {lo, hi};
}

/// Bilinear upsampling backward: dx[y][x] = the sum over the outputs that read (y, x) of their
/// gradient times the interpolation weight (gathered per input value, in row-major output order,
/// as the CUDA kernel does; one write per input value).
template <class T>
void upsample_bilinear_backward(std::uint32_t S, std::uint32_t H, std::uint32_t W, const T* dz,
                                std::size_t planes, T* dx) {
    const std::size_t OW = std::size_t{S} * W;
    for (std::size_t pl = 0; pl < planes; ++pl) {
        const T* dzp = dz + pl * S * H * OW;
        T* dxp = dx + pl * H * W;
        for (std::uint32_t iy = 0; iy < H; ++iy) {
            const auto [ylo, yhi] = bilinear_readers(S, H, iy);
            for (std::uint32_t ix = 0; ix < W; ++ix) {
                const auto [xlo, xhi] = bilinear_readers(S, W, ix);
                T g = T(0);
                for (std::uint32_t oy = ylo; oy < yhi; ++oy) {
                    const T wy = ctnn::detail::linear_weight<T>(oy, iy, S, H);
                    if (wy == T(0)) continue;
                    for (std::uint32_t ox = xlo; ox < xhi; ++ox)
                        g += wy * ctnn::detail::linear_weight<T>(ox, ix, S, W) * dzp[oy * OW + ox];
                }
                dxp[iy * W + ix] = g;
            }
        }
    }
}

} // namespace ctnn::eigen::detail
