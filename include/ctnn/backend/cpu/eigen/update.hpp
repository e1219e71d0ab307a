// ctnn/backend/cpu/eigen/update.hpp — the optimizer update over the flat parameter buffer, on the CPU.
#pragma once
#include "../../../config.hpp"

#include <cstddef>

namespace ctnn::eigen {

/// p[i], m[i], v[i] <- O::update(s, p[i], g[i], m[i], v[i]) for all i < n. Buffers an optimizer
/// does not use may be null.
template <class O, class Scalars, class T>
void apply_update(const O&, const Scalars& s, T* p, const T* g, T* m, T* v, std::size_t n) {
    if constexpr (O::state_count >= 2) {
        for (std::size_t i = 0; i < n; ++i) O::update(s, p[i], g[i], m[i], v[i]);
    } else if constexpr (O::state_count == 1) {
        T unused = T(0);
        for (std::size_t i = 0; i < n; ++i) O::update(s, p[i], g[i], m[i], unused);
    } else {
        T m0 = T(0), v0 = T(0);
        for (std::size_t i = 0; i < n; ++i) O::update(s, p[i], g[i], m0, v0);
    }
}

} // namespace ctnn::eigen
