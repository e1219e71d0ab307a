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
#include "../core/error.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
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

/// The L2 norm of all values together, squares summed in double (clip_grad_norm's).
template <class T>
double global_norm(std::span<T> g) {
    double sum = 0;
    for (const T v : g) sum += static_cast<double>(v) * static_cast<double>(v);
    return std::sqrt(sum);
}

/// What gradient clipping by global norm scales by (PyTorch's clip_grad_norm_): max_norm /
/// (norm + 1e-6) when norm exceeds max_norm, else exactly 1 (the gradients stay bit-identical);
/// 1 for a NaN or infinite norm (the caller checks it). Throws ctnn::argument_error if max_norm
/// is not a positive finite number.
inline double clip_factor(double norm, float max_norm) {
    if (!(max_norm > 0.0f) || !std::isfinite(max_norm))
        throw argument_error("clip_grad_norm: max_norm is " + std::to_string(max_norm) +
                             ", expected a positive finite number");
    if (!std::isfinite(norm) || norm <= static_cast<double>(max_norm)) return 1.0;
    return static_cast<double>(max_norm) / (norm + 1e-6);
}

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
/// Per step: a linear warm-up from base / warmup_steps to base over the first warmup_steps
/// steps, then a cosine decay to eta_min over the remaining steps of training (the schedule of
/// most transformer recipes; warmup_steps = 0 gives PyTorch's CosineAnnealingLR stepped per
/// batch with T_max = the total steps).
struct WarmupCosine {
    std::size_t warmup_steps = 0;
    float eta_min = 0.0f;
};
/// Per step: PyTorch's OneCycleLR (two phases, cosine annealing): from max_lr / div_factor up to
/// max_lr over the first pct_start of the steps, then down to max_lr / (div_factor *
/// final_div_factor) at the last step. max_lr = 0 takes the optimizer's lr.
struct OneCycle {
    float max_lr = 0.0f;
    float pct_start = 0.3f;
    float div_factor = 25.0f;
    float final_div_factor = 1e4f;
};
/// A learning-rate schedule: per epoch (Constant, StepLR, CosineLR) or per step (WarmupCosine,
/// OneCycle), which needs the total number of steps (lr_at_step).
using Schedule = std::variant<Constant, StepLR, CosineLR, WarmupCosine, OneCycle>;

/// True for the schedules that change the rate every step.
inline bool per_step(const Schedule& s) {
    return std::holds_alternative<WarmupCosine>(s) || std::holds_alternative<OneCycle>(s);
}

/// The learning rate of (0-based) epoch `epoch` under a per-epoch schedule s for base rate
/// `base`. Throws argument_error for a per-step schedule (use lr_at_step).
inline float lr_at(const Schedule& s, float base, std::size_t epoch) {
    if (per_step(s))
        throw argument_error("optim::lr_at: this schedule changes the rate every step; use "
                             "lr_at_step(schedule, base, epoch, step, total_steps)");
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

/// The learning rate of (0-based) step `step` of `total_steps`, in epoch `epoch`, under schedule
/// s for base rate `base`: a per-step schedule's value at the step, a per-epoch one's at the
/// epoch. Throws argument_error for a per-step schedule without steps.
inline float lr_at_step(const Schedule& s, float base, std::size_t epoch, std::size_t step,
                        std::size_t total_steps) {
    if (!per_step(s)) return lr_at(s, base, epoch);
    if (total_steps == 0)
        throw argument_error("optim::lr_at_step: a per-step schedule needs the total steps");
    constexpr double pi = 3.14159265358979323846;
    // From `from` to `to` along half a cosine, pct in [0, 1] (PyTorch's _annealing_cos).
    const auto cosine = [](double from, double to, double pct) {
        return to + (from - to) / 2.0 * (std::cos(pi * std::min(pct, 1.0)) + 1.0);
    };
    const auto t = static_cast<double>(step);
    if (const auto* w = std::get_if<WarmupCosine>(&s)) {
        const auto warm = static_cast<double>(w->warmup_steps);
        if (t < warm) return base * static_cast<float>((t + 1.0) / warm);
        const double decay = std::max(1.0, static_cast<double>(total_steps) - warm);
        return static_cast<float>(cosine(base, w->eta_min, (t - warm) / decay));
    }
    const auto& o = std::get<OneCycle>(s);
    const double peak = o.max_lr > 0.0f ? o.max_lr : base;
    const double first = peak / o.div_factor, last = first / o.final_div_factor;
    const double up_end = static_cast<double>(o.pct_start) * static_cast<double>(total_steps) - 1.0;
    const double down_end = static_cast<double>(total_steps) - 1.0;
    if (t <= up_end)
        return static_cast<float>(cosine(first, peak, up_end > 0.0 ? t / up_end : 1.0));
    return static_cast<float>(
        cosine(peak, last, down_end > up_end ? (t - up_end) / (down_end - up_end) : 1.0));
}

} // namespace optim
} // namespace ctnn
