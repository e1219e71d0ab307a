// ctnn/loss/classification.hpp — classification losses on logits.
#pragma once
#include "../config.hpp"
#include "../expr/dual.hpp"
#include "loss.hpp"

#include <cmath>

namespace ctnn::loss {

/// Softmax cross-entropy on integer class labels, fused and numerically stable (PyTorch's
/// CrossEntropyLoss on logits). Output: 1-D logits [classes]; targets: labels in [0, classes).
/// loss = mean_b (logsumexp(y_b) - y_b[label_b]); dL/dy_b = (softmax(y_b) - onehot(label_b)) /
/// batch.
struct SoftmaxCrossEntropy {
    static constexpr bool uses_labels = true;
    static std::string name() { return "SoftmaxCrossEntropy"; }
    template <class Out>
    static constexpr bool check() {
        static_assert(Out::rank == 1 && Out::size >= 2,
                      "SoftmaxCrossEntropy expects the model to output a 1-D vector of at least 2 "
                      "class logits (end the model with Dense<classes>)");
        return true;
    }

    /// Loss of one sample (row of n logits) and, if grad is not null, its gradient times scale.
    template <class T>
    CTNN_HOST_DEVICE static T row(const T* y, std::size_t n, std::int32_t label, T scale, T* grad) {
        T m = y[0];
        for (std::size_t j = 1; j < n; ++j) m = y[j] > m ? y[j] : m;
        T s = 0;
        const auto l = static_cast<std::size_t>(label);
        const T yl = y[l]; // (before grad is written: it may be y's own buffer)
        if (grad) {
            // Each exponential once: kept in grad until the sum is known.
            for (std::size_t j = 0; j < n; ++j) s += (grad[j] = std::exp(y[j] - m));
            const T inv = T(1) / s;
            for (std::size_t j = 0; j < n; ++j)
                grad[j] = (grad[j] * inv - (j == l ? T(1) : T(0))) * scale;
        } else {
            for (std::size_t j = 0; j < n; ++j) s += std::exp(y[j] - m);
        }
        // (m - yl) first: it is exact for equal logits, whereas m + log(s) rounds log(s) away
        // when m is large (three logits of 1e30 would give 0 instead of ln 3).
        return (m - yl) + std::log(s);
    }
    template <class T>
    T operator()(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) const {
        return detail::mean_of_rows<SoftmaxCrossEntropy>(y, t, batch, n, g);
    }
};

/// Negative log-likelihood on integer class labels (PyTorch's NLLLoss, mean reduction): the
/// model outputs log-probabilities (end it with LogSoftmax). Output: 1-D [classes]; targets:
/// labels in [0, classes). loss = mean_b (-y_b[label_b]); dL/dy_b = -onehot(label_b) / batch.
/// LogSoftmax + NLLLoss computes what SoftmaxCrossEntropy on the logits computes (which fuses
/// both and is cheaper).
struct NLLLoss {
    static constexpr bool uses_labels = true;
    static std::string name() { return "NLLLoss"; }
    template <class Out>
    static constexpr bool check() {
        static_assert(Out::rank == 1 && Out::size >= 2,
                      "NLLLoss expects the model to output a 1-D vector of at least 2 class "
                      "log-probabilities (end the model with Dense<classes>, LogSoftmax)");
        return true;
    }

    /// Loss of one sample (row of n log-probabilities) and, if grad is not null, its gradient
    /// times scale.
    template <class T>
    CTNN_HOST_DEVICE static T row(const T* y, std::size_t n, std::int32_t label, T scale, T* grad) {
        const auto l = static_cast<std::size_t>(label);
        const T yl = y[l]; // (before grad is written: it may be y's own buffer)
        if (grad)
            for (std::size_t j = 0; j < n; ++j) grad[j] = j == l ? -scale : T(0);
        return -yl;
    }
    template <class T>
    T operator()(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) const {
        return detail::mean_of_rows<NLLLoss>(y, t, batch, n, g);
    }
};

/// Binary cross-entropy on logits (PyTorch's BCEWithLogitsLoss), mean over all elements.
/// Targets: values in [0, 1], same shape as the 1-D output.
/// loss = max(y, 0) - y t + log(1 + exp(-|y|)); dL/dy = sigmoid(y) - t.
struct BCEWithLogits {
    static constexpr bool uses_labels = false;
    static constexpr bool binary_logits = true; ///< accuracy: sign of y against t > 0.5
    static std::string name() { return "BCEWithLogits"; }
    template <class Out>
    static constexpr bool check() {
        static_assert(Out::rank == 1,
                      "BCEWithLogits expects the model to output a 1-D vector of logits");
        return true;
    }
    template <class T>
    CTNN_HOST_DEVICE T value(T y, T t) const {
        return (y > T(0) ? y : T(0)) - y * t + std::log1p(std::exp(-std::fabs(y)));
    }
    template <class T>
    CTNN_HOST_DEVICE T grad(T y, T t) const {
        return expr::math::sigmoid(y) - t;
    }
    template <class T>
    T operator()(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) const {
        return detail::elementwise_mean(*this, y, t.values.data(), batch, n, g);
    }
};

} // namespace ctnn::loss
