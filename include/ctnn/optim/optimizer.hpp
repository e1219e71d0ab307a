// ctnn/optim/optimizer.hpp — what an optimizer is, and learning-rate schedules.
//
// An optimizer updates the model's whole flat parameter buffer in one elementwise pass:
//   for every i: Opt::update(scalars, p[i], g[i], m[i], v[i])
// where m and v are the optimizer's state buffers (each as large as the parameter buffer; an
// optimizer uses state_count of them). `scalars(lr, t)` folds everything that is the same for all
// elements of step t (bias corrections, the scheduled learning rate) into a small struct, so the
// per-element update is the same CTNN_HOST_DEVICE function on every backend.
#pragma once
#include "../config.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace ctnn {

/// An optimizer type (optim::SGD, optim::Adam, optim::AdamW).
template <class O>
concept Optimizer = requires(const O& o, float lr, std::uint64_t t) {
    { O::state_count } -> std::convertible_to<std::size_t>;
    { O::name() } -> std::convertible_to<std::string>;
    { o.lr } -> std::convertible_to<float>;
    o.scalars(lr, t);
};

namespace optim {

/// The update of element i on every backend (the CPU loop and the CUDA kernel): p[i], m[i], v[i]
/// <- O::update(s, p[i], g[i], m[i], v[i]). The state buffers O does not use (state_count < 2,
/// < 1) are never read and may be null.
template <class O, class S, class T, class I>
CTNN_HOST_DEVICE inline void update_element(const S& s, T* p, const T* g, T* m, T* v, I i) {
    if constexpr (O::state_count >= 2) {
        O::update(s, p[i], g[i], m[i], v[i]);
    } else if constexpr (O::state_count == 1) {
        T unused = T(0);
        O::update(s, p[i], g[i], m[i], unused);
    } else {
        T m0 = T(0), v0 = T(0);
        O::update(s, p[i], g[i], m0, v0);
    }
}

/// A constant learning rate.
struct Constant {};
/// lr = base * gamma^(epoch / step_size) (PyTorch's StepLR, stepped once per epoch).
struct StepLR {
    std::size_t step_size = 10;
    float gamma = 0.1f;
};
/// lr = eta_min + (base - eta_min) (1 + cos(pi epoch / t_max)) / 2 (PyTorch's CosineAnnealingLR
/// without restarts, stepped once per epoch; constant at eta_min after t_max).
struct CosineLR {
    std::size_t t_max = 10;
    float eta_min = 0.0f;
};
/// A learning-rate schedule over epochs.
using Schedule = std::variant<Constant, StepLR, CosineLR>;

/// The learning rate of (0-based) epoch `epoch` under schedule s for base rate `base`.
inline float lr_at(const Schedule& s, float base, std::size_t epoch) {
    if (const auto* st = std::get_if<StepLR>(&s)) {
        const auto k = st->step_size == 0 ? 0 : epoch / st->step_size;
        return base * std::pow(st->gamma, static_cast<float>(k));
    }
    if (const auto* c = std::get_if<CosineLR>(&s)) {
        if (c->t_max == 0 || epoch >= c->t_max) return c->eta_min;
        const double phase =
            3.14159265358979323846 * static_cast<double>(epoch) / static_cast<double>(c->t_max);
        return c->eta_min + (base - c->eta_min) * static_cast<float>(0.5 * (1.0 + std::cos(phase)));
    }
    return base;
}

} // namespace optim
} // namespace ctnn
