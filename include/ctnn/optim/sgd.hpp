// ctnn/optim/sgd.hpp — stochastic gradient descent with momentum, Nesterov and weight decay.
#pragma once
#include "optimizer.hpp"

namespace ctnn::optim {

/// SGD exactly as PyTorch's torch.optim.SGD:
///   g += weight_decay * p
///   if momentum: b = g on the first step, else b = momentum * b + (1 - dampening) * g;
///                g = nesterov ? g + momentum * b : b
///   p -= lr * g
/// State: one buffer (the momentum b), used only when momentum != 0.
struct SGD {
    float lr = 0.01f;
    float momentum = 0.0f;
    float dampening = 0.0f;
    float weight_decay = 0.0f;
    bool nesterov = false;

    static constexpr std::size_t state_count = 1;
    static std::string name() { return "SGD"; }

    struct Scalars {
        float lr, momentum, dampening, weight_decay;
        bool nesterov, first;
    };
    /// Step-constant values for step t (1-based) at learning rate lr_now.
    [[nodiscard]] Scalars scalars(float lr_now, std::uint64_t t) const {
        return {lr_now, momentum, dampening, weight_decay, nesterov, t == 1};
    }
    template <class T>
    CTNN_HOST_DEVICE static void update(const Scalars& s, T& p, T g, T& b, T&) {
        g += T(s.weight_decay) * p;
        if (s.momentum != 0.0f) {
            b = s.first ? g : T(s.momentum) * b + T(1.0f - s.dampening) * g;
            g = s.nesterov ? g + T(s.momentum) * b : b;
        }
        p -= T(s.lr) * g;
    }
};

} // namespace ctnn::optim
