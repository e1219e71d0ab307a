// ctnn/optim/adam.hpp — Adam and AdamW.
#pragma once
#include "optimizer.hpp"

#include <cmath>

namespace ctnn::optim {

namespace detail {
/// Scalars shared by Adam and AdamW for step t: bias corrections folded into the step size.
struct AdamScalars {
    float lr, beta1, beta2, eps, weight_decay;
    float step_size;   ///< lr / (1 - beta1^t)
    float inv_sqrt_c2; ///< 1 / sqrt(1 - beta2^t)
};
inline AdamScalars adam_scalars(float lr, float b1, float b2, float eps, float wd,
                                std::uint64_t t) {
    const double c1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
    const double c2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
    return {
        lr, b1, b2, eps, wd, static_cast<float>(lr / c1), static_cast<float>(1.0 / std::sqrt(c2))};
}
/// m, v moments and the bias-corrected step (PyTorch's formulation).
template <class T>
CTNN_HOST_DEVICE void adam_core(const AdamScalars& s, T& p, T g, T& m, T& v) {
    m = T(s.beta1) * m + T(1.0f - s.beta1) * g;
    v = T(s.beta2) * v + T(1.0f - s.beta2) * g * g;
    p -= T(s.step_size) * m / (std::sqrt(v) * T(s.inv_sqrt_c2) + T(s.eps));
}
} // namespace detail

/// Adam (torch.optim.Adam): weight decay, if any, is L2 added to the gradient.
struct Adam {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.0f;

    static constexpr std::size_t state_count = 2;
    static std::string name() { return "Adam"; }
    using Scalars = detail::AdamScalars;
    [[nodiscard]] Scalars scalars(float lr_now, std::uint64_t t) const {
        return detail::adam_scalars(lr_now, beta1, beta2, eps, weight_decay, t);
    }
    template <class T>
    CTNN_HOST_DEVICE static void update(const Scalars& s, T& p, T g, T& m, T& v) {
        detail::adam_core(s, p, g + T(s.weight_decay) * p, m, v);
    }
};

/// AdamW (torch.optim.AdamW): decoupled weight decay p *= 1 - lr * weight_decay, then Adam.
struct AdamW {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 1e-2f;

    static constexpr std::size_t state_count = 2;
    static std::string name() { return "AdamW"; }
    using Scalars = detail::AdamScalars;
    [[nodiscard]] Scalars scalars(float lr_now, std::uint64_t t) const {
        return detail::adam_scalars(lr_now, beta1, beta2, eps, weight_decay, t);
    }
    template <class T>
    CTNN_HOST_DEVICE static void update(const Scalars& s, T& p, T g, T& m, T& v) {
        p *= T(1.0f - s.lr * s.weight_decay);
        detail::adam_core(s, p, g, m, v);
    }
};

} // namespace ctnn::optim
