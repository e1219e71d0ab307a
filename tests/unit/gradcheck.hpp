// Shared helpers of the unit tests: gradient checks by central finite differences, in double.
#pragma once
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ctnn::test {

/// Deterministic pseudo-random values in [lo, hi).
inline std::vector<double> random_values(std::size_t n, std::uint64_t seed, double lo = -1.0,
                                         double hi = 1.0) {
    const CounterRng rng{seed, 77};
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rng.uniform_double(i);
    return v;
}

/// Float values against the same computed in double: within 1e-5 of the largest magnitude (which
/// must not be 0).
inline void check_float_matches(std::span<const float> gf, std::span<const double> gd) {
    REQUIRE(gf.size() == gd.size());
    double scale = 0, worst = 0;
    for (double v : gd) scale = std::max(scale, std::fabs(v));
    for (std::size_t i = 0; i < gf.size(); ++i)
        worst = std::max(worst, std::fabs(double(gf[i]) - gd[i]));
    CHECK(scale > 0);
    CHECK(worst <= 1e-5 * scale);
}

/// |a - b| / max(1, |a|, |b|)
inline double relative_error(double a, double b) {
    return std::fabs(a - b) / std::max({1.0, std::fabs(a), std::fabs(b)});
}

/// Checks every parameter gradient of Model<Net, double> under loss `l` at inputs x against
/// central finite differences of the loss (step h). Dropout masks are replayed exactly (same step
/// counter). Forward passes run in `mode`: training (Dropout active, BatchNorm on batch statistics)
/// or inference (BatchNorm on its running statistics, here their initial values). Returns the
/// largest relative error; fails the calling test case above `tolerance`.
template <class Net, class L>
double check_parameter_gradients_at(const L& l, const std::vector<double>& x, std::size_t batch,
                                    std::uint64_t seed, double tolerance = 1e-6, double h = 1e-6,
                                    Mode mode = Mode::training) {
    Model<Net, double> m;
    m.init(seed, Init::xavier_uniform);
    // Non-zero biases, so that bias gradients are exercised away from the initial point.
    auto p = m.parameters();
    const auto noise = random_values(p.size(), seed + 1, -0.1, 0.1);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += noise[i];
    std::vector<std::int32_t> labels(batch);
    for (std::size_t b = 0; b < batch; ++b)
        labels[b] = static_cast<std::int32_t>((b * 7 + seed) % Net::out_size);
    const auto values = random_values(batch * Net::out_size, seed + 3, 0.0, 1.0);
    const loss::Targets<double> t{labels, values};

    const std::uint64_t step = 5;
    auto loss_at = [&] {
        m.set_step(step);
        m.forward(x, batch, mode);
        return m.loss(l, t);
    };
    loss_at();
    m.backward();
    const std::vector<double> analytic(m.gradients().begin(), m.gradients().end());

    double worst = 0;
    std::size_t worst_i = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const double saved = p[i];
        p[i] = saved + h;
        const double fp = loss_at();
        p[i] = saved - h;
        const double fm = loss_at();
        p[i] = saved;
        const double numeric = (fp - fm) / (2 * h);
        const double err = relative_error(analytic[i], numeric);
        if (err > worst) worst = err, worst_i = i;
    }
    INFO("worst parameter index " << worst_i << " of " << p.size());
    CHECK(worst <= tolerance);
    // The check must be able to fail: gradients must not all be zero.
    double norm = 0;
    for (double g : analytic) norm += g * g;
    CHECK(norm > 0);
    return worst;
}

/// check_parameter_gradients_at with inputs drawn uniformly from [-1.5, 1.5).
template <class Net, class L>
double check_parameter_gradients(const L& l, std::size_t batch, std::uint64_t seed,
                                 double tolerance = 1e-6, double h = 1e-6,
                                 Mode mode = Mode::training) {
    return check_parameter_gradients_at<Net>(
        l, random_values(batch * Net::in_size, seed + 2, -1.5, 1.5), batch, seed, tolerance, h,
        mode);
}

} // namespace ctnn::test
