// ctnn/model/loss_scale.hpp — dynamic loss scaling of an fp16 model (Model<Net, precision::fp16>),
// with PyTorch's torch.amp.GradScaler semantics.
//
// fp16 GEMM operands hold no magnitude below 2^-24 (and lose bits below 2^-14): small gradients
// would round to zero. The model's loss() therefore seeds backward() with dLoss/dOutput times
// scale(); backward() divides the gradients by it again (the stored gradients are the true ones)
// and checks that they are finite. A non-finite gradient (an fp16 operand overflowed past 65504)
// skips the step: the next update() changes neither parameters nor optimizer state, and the scale
// backs off (x backoff_factor). After growth_interval steps in a row without one it grows
// (x growth_factor). The loss value returned by loss() is never scaled.
#pragma once
#include "../config.hpp"
#include "../core/error.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ctnn {

/// The settings of dynamic loss scaling (PyTorch's GradScaler defaults).
struct LossScaling {
    float init_scale = 65536.0f;          ///< the first scale, 2^16
    float growth_factor = 2.0f;           ///< the scale's factor after growth_interval good steps
    float backoff_factor = 0.5f;          ///< the scale's factor after a non-finite gradient
    std::uint32_t growth_interval = 2000; ///< good steps in a row before the scale grows
};

/// The state of dynamic loss scaling: the scale, the good steps since the last change, the steps
/// skipped. Model<Net, precision::fp16> holds one (Model::loss_scaler()).
class LossScaler {
public:
    /// Throws ctnn::argument_error for settings GradScaler refuses too: a scale that is not
    /// positive and finite, growth_factor <= 1, backoff_factor outside (0, 1), growth_interval 0.
    explicit LossScaler(LossScaling s = {}) : settings_(s), scale_(s.init_scale) {
        const auto bad = [](const char* what, double v) {
            throw argument_error(std::string("LossScaling: ") + what + " is " + std::to_string(v));
        };
        if (!(s.init_scale > 0.0f) || !std::isfinite(s.init_scale))
            bad("init_scale (expected positive and finite)", s.init_scale);
        if (!(s.growth_factor > 1.0f) || !std::isfinite(s.growth_factor))
            bad("growth_factor (expected > 1)", s.growth_factor);
        if (!(s.backoff_factor > 0.0f && s.backoff_factor < 1.0f))
            bad("backoff_factor (expected in (0, 1))", s.backoff_factor);
        if (s.growth_interval == 0) bad("growth_interval (expected > 0)", 0);
    }

    /// The factor the next loss() multiplies dLoss/dOutput by.
    [[nodiscard]] float scale() const noexcept { return scale_; }
    /// Steps skipped so far because a gradient was not finite.
    [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }
    /// The last backward() found a non-finite gradient: the next update() is skipped.
    [[nodiscard]] bool overflowed() const noexcept { return pending_skip_; }
    /// Good steps since the scale last changed.
    [[nodiscard]] std::uint32_t growth_tracker() const noexcept { return tracker_; }
    [[nodiscard]] const LossScaling& settings() const noexcept { return settings_; }

    /// backward() found its (unscaled) gradients finite or not.
    void checked(bool finite) noexcept {
        pending_skip_ = !finite;
        if (finite) return;
        scale_ *= settings_.backoff_factor;
        tracker_ = 0;
        ++skipped_;
    }
    /// update(): true when the step is to be skipped (its gradients were not finite); clears it.
    bool take_skip() noexcept {
        const bool skip = pending_skip_;
        pending_skip_ = false;
        return skip;
    }
    /// update() stepped: the scale grows after growth_interval good steps in a row (as
    /// GradScaler, only while it stays finite).
    void stepped() noexcept {
        if (++tracker_ < settings_.growth_interval) return;
        tracker_ = 0;
        const float grown = scale_ * settings_.growth_factor;
        if (std::isfinite(grown)) scale_ = grown;
    }

private:
    LossScaling settings_;
    float scale_;
    std::uint32_t tracker_ = 0;
    std::uint64_t skipped_ = 0;
    bool pending_skip_ = false;
};

namespace detail {

/// What a model that is not fp16 holds in place of a LossScaler.
struct NoLossScaler {};

/// g[i] *= inv for the n gradients; true when every result is finite (one pass, no early exit:
/// the gradients are unscaled either way).
template <class T>
bool unscale_gradients(T* g, std::size_t n, T inv) {
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) {
        g[i] *= inv;
        finite &= std::isfinite(g[i]);
    }
    return finite;
}

} // namespace detail

} // namespace ctnn
