// ctnn/core/init.hpp — seeded, reproducible parameter initialization.
#pragma once
#include "../config.hpp"
#include "param.hpp"
#include "random.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn {

/// Initialization scheme for weights (biases start at zero, normalization scales at one).
enum class Init {
    kaiming_uniform, ///< He: U(-b, b), b = sqrt(6 / fan_in) — for ReLU-family networks (default)
    kaiming_normal,  ///< He: N(0, 2 / fan_in)
    xavier_uniform,  ///< Glorot: U(-b, b), b = sqrt(6 / (fan_in + fan_out)) — for tanh/sigmoid
    xavier_normal,   ///< Glorot: N(0, 2 / (fan_in + fan_out))
};

namespace detail {
/// Fills one parameter tensor. Element k of the model's buffer draws counter `offset + k` of the
/// stream (seed, 0x1417): the result depends only on the seed and the model type.
template <class T>
void init_tensor(T* p, std::size_t offset, const ParamSpec& spec, Init scheme, std::uint64_t seed) {
    const std::size_t n = spec.size();
    if (spec.role == ParamRole::bias || spec.role == ParamRole::one) {
        for (std::size_t k = 0; k < n; ++k) p[k] = T(spec.role == ParamRole::one ? 1 : 0);
        return;
    }
    const CounterRng rng{seed, 0x1417};
    const auto fi = static_cast<double>(spec.fan_in), fo = static_cast<double>(spec.fan_out);
    // recurrent: U(-1/sqrt(fan_in), +); standard_normal: N(0, 1); weights: the scheme's.
    bool uniform = true;
    double bound = 1.0 / std::sqrt(fi), stddev = 1.0;
    if (spec.role == ParamRole::standard_normal) {
        uniform = false;
    } else if (spec.role == ParamRole::weight) {
        uniform = scheme == Init::kaiming_uniform || scheme == Init::xavier_uniform;
        const double var = (scheme == Init::kaiming_uniform || scheme == Init::kaiming_normal)
                               ? 2.0 / fi
                               : 2.0 / (fi + fo);
        bound = std::sqrt(3.0 * var);
        stddev = std::sqrt(var);
    }
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = offset + k;
        const double r =
            uniform ? (2.0 * rng.uniform_double(i) - 1.0) * bound : rng.normal(i) * stddev;
        p[k] = static_cast<T>(static_cast<float>(r));
    }
}
} // namespace detail

} // namespace ctnn
