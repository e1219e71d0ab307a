// Inputs and targets for the input_gradient tests (input_grad.cpp, input_grad_float.cpp).
#pragma once

#include "gradcheck.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ctnn::test::input_grad {

struct Case {
    std::vector<double> x, values;
    std::vector<std::int32_t> labels;
    loss::Targets<double> targets() const { return {labels, values}; }
};

template <class Net>
Case make_case(std::size_t batch, std::uint64_t seed) {
    Case c;
    c.x = random_values(batch * Net::in_size, seed + 2, -1.5, 1.5);
    c.values = random_values(batch * Net::out_size, seed + 3, 0.0, 1.0);
    c.labels.resize(batch);
    for (std::size_t b = 0; b < batch; ++b)
        c.labels[b] = static_cast<std::int32_t>((b * 5 + seed) % Net::out_size);
    return c;
}

} // namespace ctnn::test::input_grad
