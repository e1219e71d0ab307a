// ctnn/layers/softmax.hpp — Softmax and LogSoftmax over the features of a 1-D sample.
//
// For training a classifier, prefer ending the model with logits (Dense) and using
// loss::SoftmaxCrossEntropy, which fuses both and is numerically stable; these layers are for
// models whose output must be probabilities, or for use in the middle of a network.
#pragma once
#include "layer.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace ctnn {

/// y_i = exp(x_i) / sum_j exp(x_j), computed stably. Input and output 1-D.
struct Softmax {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::rowwise;
    static constexpr bool log = false;
    static std::string name() { return "Softmax"; }
    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 1,
                      "Softmax expects a 1-D input; insert Flatten before it (after a "
                      "sequence [steps, features]: LastStep or MeanOverSteps)");
        using out_shape = In;
    };
};

/// y_i = x_i - log sum_j exp(x_j), computed stably. Input and output 1-D.
struct LogSoftmax {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::rowwise;
    static constexpr bool log = true;
    static std::string name() { return "LogSoftmax"; }
    template <class In>
    struct bind : no_params {
        static_assert(In::rank == 1,
                      "LogSoftmax expects a 1-D input; insert Flatten before it (after "
                      "a sequence [steps, features]: LastStep or MeanOverSteps)");
        using out_shape = In;
    };
};

namespace detail {

/// One sample of Softmax, or of LogSoftmax with Log: z from the n values of x. Subtracts the row
/// maximum m; LogSoftmax is (x - m) - log(s), not x - (m + log(s)): m + log(s) rounds log(s) away
/// when |m| is large (equal logits of 1e30 would give 0, not -log(n)). The CPU evaluators share it.
template <bool Log, class T>
void softmax_row(const T* x, T* z, std::size_t n) {
    T m = x[0];
    for (std::size_t j = 1; j < n; ++j) m = std::max(m, x[j]);
    T s = T(0);
    for (std::size_t j = 0; j < n; ++j) s += std::exp(x[j] - m);
    if constexpr (Log) {
        const T ls = std::log(s);
        for (std::size_t j = 0; j < n; ++j) z[j] = (x[j] - m) - ls;
    } else {
        const T inv = T(1) / s;
        for (std::size_t j = 0; j < n; ++j) z[j] = std::exp(x[j] - m) * inv;
    }
}

} // namespace detail

} // namespace ctnn
