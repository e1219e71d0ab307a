// ctnn/backend/cpu/eigen/update.hpp — the optimizer update over the flat parameter buffer, on
// the CPU.
#pragma once
#include "../../../config.hpp"
#include "../../../optim/optimizer.hpp"

#include <cstddef>

namespace ctnn::eigen {

/// optim::update_element for all i < n. Buffers an optimizer does not use may be null.
template <class O, class Scalars, class T>
void apply_update(const O&, const Scalars& s, T* p, const T* g, T* m, T* v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) optim::update_element<O>(s, p, g, m, v, i);
}

} // namespace ctnn::eigen
