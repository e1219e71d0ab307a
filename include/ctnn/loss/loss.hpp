// ctnn/loss/loss.hpp — what a loss is, and the targets it reads.
#pragma once
#include "../config.hpp"
#include "../core/shape.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ctnn::loss {

/// The targets of a batch: class indices (classification) or values (regression), row-major.
/// Views, with their sizes, so that Model::loss can check them against the batch: `{labels}`,
/// `{.values = values}` or `{labels, values}` from std::vector (or any contiguous range); the one
/// the loss does not read may stay empty.
template <class T = float>
struct Targets {
    std::span<const std::int32_t> labels{}; ///< [batch]
    std::span<const T> values{};            ///< [batch, n]
};

namespace detail {
/// The mean over the batch of a per-sample loss on class labels (L::row), accumulated in double,
/// with dL/dy into g when it is not null.
template <class L, class T>
T mean_of_rows(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) {
    const T scale = T(1) / static_cast<T>(batch);
    double sum = 0;
    for (std::size_t b = 0; b < batch; ++b)
        sum +=
            static_cast<double>(L::row(y + b * n, n, t.labels[b], scale, g ? g + b * n : nullptr));
    return static_cast<T>(sum / static_cast<double>(batch));
}

/// Mean over batch * n elements of Term::value(y, t); gradient Term::grad(y, t) / (batch * n).
template <class Term, class T>
T elementwise_mean(const Term& term, const T* y, const T* t, std::size_t batch, std::size_t n,
                   T* grad) {
    const std::size_t total = batch * n;
    const T scale = T(1) / static_cast<T>(total);
    double sum = 0;
    for (std::size_t i = 0; i < total; ++i) {
        sum += static_cast<double>(term.value(y[i], t[i]));
        if (grad) grad[i] = term.grad(y[i], t[i]) * scale;
    }
    return static_cast<T>(sum / static_cast<double>(total));
}
} // namespace detail

} // namespace ctnn::loss

namespace ctnn {

/// A loss type: computes the mean loss over a batch of model outputs and its gradient.
///   T operator()(const T* y, loss::Targets<T> t, size_t batch, size_t n, T* grad) const
/// returns the mean loss and, if grad is not null, writes dLoss/dy ([batch, n]).
/// `uses_labels` says whether it reads class indices or target values; `check<OutShape>()` holds
/// the static_asserts that say, in the user's words, why it cannot be applied to an output shape.
template <class L>
concept Loss = requires(const L& l, const float* y, loss::Targets<float> t, std::size_t n,
                        float* g) {
    { L::uses_labels } -> std::convertible_to<bool>;
    { L::name() } -> std::convertible_to<std::string>;
    { l(y, t, n, n, g) } -> std::convertible_to<float>;
};

} // namespace ctnn
