// ctnn/backend/cpu/eigen/eval/epilogue.hpp — a stage's epilogue (bias, activations, dropout) as
// one sweep over its anchor output, its derivative, and the stages that are an epilogue alone.
//
// Forward: y = epi(z [+ bias]) over the [batch, n] tensor; with a bias the biased z is stored
// back (backward differentiates the epilogue at it). In inference a BatchNorm right after the
// stage may be folded into the sweep (FoldedNorm, norm.hpp). Backward: dZ = dY * epi'(z) in
// place; a lone ReLU after an anchor reads its derivative from Y = ReLU(Z) > 0, one select
// instead of a dual-number evaluation per element.
#pragma once
#include "../../../../expr/context.hpp"
#include "../../../../expr/dual.hpp"
#include "../../../../graph/lowering.hpp"
#include "../../conv.hpp"
#include "common.hpp"

#include <cstddef>
#include <type_traits>

namespace ctnn::eigen::detail {

/// No BatchNorm folded into the epilogue.
template <class T>
struct NoFold {
    static constexpr bool active = false;
    void operator()(T, std::size_t, std::size_t, ElemCtx&) const {}
};

/// y = epi(z [+ bias]) for the batch of stage S; z_store (may alias z) receives the biased z.
/// With a folded BatchNorm (S's own epilogue is then empty), hands each value to it.
template <class S, class T, class Fold = NoFold<T>>
void epilogue(std::size_t batch, ElemCtx c, const T* z, std::type_identity_t<T>* z_store, T* y,
              const std::type_identity_t<T>* bias, const Fold& fold = {}) {
    constexpr std::size_t n = S::out_size;
    using Epi = typename S::epilogue;
    for (std::size_t b = 0; b < batch; ++b) {
        const T* zr = z + b * n;
        T* yr = y + b * n;
        for (std::size_t j = 0; j < n; ++j) {
            T v = zr[j];
            if (bias) v += bias[j];
            if (z_store) z_store[b * n + j] = v;
            if constexpr (Fold::active) fold(v, b * n + j, j, c);
            if constexpr (Epi::size > 0) {
                c.index = b * n + j;
                yr[j] = Epi::apply(v, c);
            }
        }
    }
}

/// The epilogue of a convolution chunk: g is the GEMM output of `samples` samples from s0, a
/// column-major (samples * pixels) x out matrix; it is scattered to the [out, oh, ow] layout of
/// each sample as z (biased) and y = epi(z).
template <class S, class T, class Fold = NoFold<T>>
void conv_epilogue(ElemCtx c, const T* g, std::size_t s0, std::size_t samples, T* z, T* y,
                   const std::type_identity_t<T>* bias, const Fold& fold = {}) {
    using L = conv_geometry<S>;
    using Epi = typename S::epilogue;
    constexpr std::size_t P = L::pixels, n = S::out_size;
    const std::size_t rows = samples * P;
    for (std::size_t s = 0; s < samples; ++s)
        for (std::size_t o = 0; o < L::out_channels; ++o) {
            const T* src = g + o * rows + s * P;
            const std::size_t base = (s0 + s) * n + o * P;
            const T b = bias ? bias[o] : T(0);
            for (std::size_t p = 0; p < P; ++p) {
                const T v = src[p] + b;
                z[base + p] = v;
                if constexpr (Fold::active) fold(v, base + p, o * P + p, c);
                if constexpr (Epi::size > 0) {
                    c.index = base + p;
                    y[base + p] = Epi::apply(v, c);
                }
            }
        }
}

/// Through the epilogue of stage S: dY in d becomes dZ = dY * epi'(z), in place (z: the
/// epilogue's input; y: its output).
template <class S, class T>
void epilogue_backward(std::size_t batch, ElemCtx c, const T* z, const T* y, T* d) {
    using Epi = typename S::epilogue;
    const std::size_t total = batch * S::out_size;
    if constexpr (Epi::size > 0 && S::has_anchor && cpu::detail::epilogue_is_relu<Epi>) {
        for (std::size_t i = 0; i < total; ++i) d[i] = y[i] <= T(0) ? T(0) : d[i];
    } else if constexpr (Epi::size > 0) {
        for (std::size_t i = 0; i < total; ++i) {
            c.index = i;
            d[i] *= Epi::apply(expr::Dual<T>{z[i], T(1)}, c).d;
        }
    }
}

/// A stage without an anchor (activations after the model input or a join's source): the
/// epilogue reads the stage input; its derivative is all of its backward (dX = dZ).
template <>
struct Eval<LayerKind::elementwise> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        epilogue<S>(ex.batch_, ex.ctx_, ex.x_of(I), nullptr, ex.y_of(I), nullptr);
    }
    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex&, const T*, T*, T*&, T*&) {}
};

} // namespace ctnn::eigen::detail
