// ctnn/layers/dropout.hpp — Dropout<P>: zeroes each value with probability P while training.
#pragma once
#include "../core/random.hpp"
#include "../expr/context.hpp"
#include "../expr/dual.hpp"
#include "layer.hpp"

namespace ctnn {

/// Inverted dropout: in training, y = x * m / (1 - P) with m ~ Bernoulli(1 - P); in inference y =
/// x. The mask bit of element i (i < 2^32 within a batch tensor) comes from MaskHash keyed by
/// Philox. The mask is a pure function of (model seed, step, layer, element), so the backward pass
/// recomputes it instead of storing it, and every backend draws the same mask.
template <float P>
struct Dropout {
    static_assert(P >= 0.0f && P < 1.0f, "Dropout probability must be in [0, 1)");
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::elementwise;
    static constexpr float probability = P;
    static std::string name() { return std::string("Dropout(") + detail::format_real(P) + ")"; }

    template <class In>
    struct bind : no_params {
        using out_shape = In;
    };

    /// The keep factor for one element: 0 or 1/(1-P) while training, 1 in inference.
    CTNN_HOST_DEVICE static float factor(const ElemCtx& c) {
        if (!c.training || P == 0.0f) return 1.0f;
        const MaskHash h = MaskHash::make(c.seed, (c.step << 16) ^ c.layer);
        return h.uniform(static_cast<std::uint32_t>(c.index)) >= P ? 1.0f / (1.0f - P) : 0.0f;
    }

    template <class S>
    CTNN_HOST_DEVICE static S apply(S v, const ElemCtx& c) {
        return v * expr::lift<S>(static_cast<expr::real_t<S>>(factor(c)));
    }
};

} // namespace ctnn
