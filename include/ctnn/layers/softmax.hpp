// ctnn/layers/softmax.hpp — Softmax and LogSoftmax over the features of a 1-D sample.
//
// For training a classifier, prefer ending the model with logits (Dense) and using
// loss::SoftmaxCrossEntropy, which fuses both and is numerically stable; these layers are for
// models whose output must be probabilities, or for use in the middle of a network.
#pragma once
#include "layer.hpp"

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

} // namespace ctnn
