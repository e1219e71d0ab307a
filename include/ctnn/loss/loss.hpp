// ctnn/loss/loss.hpp — what a loss is, and the targets it reads.
#pragma once
#include "../config.hpp"
#include "../core/error.hpp"
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

/// Throws ctnn::shape_error unless `t` holds what loss L reads for `batch` samples of output shape
/// Out (one label per sample, or batch x Out::size values), naming both sizes, and
/// ctnn::argument_error for a label outside [0, Out::size). Model::loss calls it (`who` names the
/// caller in the message; `batch_of` says where the batch comes from); it builds a message only
/// when it throws.
template <class L, class Out, class T>
void check_targets(const Targets<T>& t, std::size_t batch, const char* who = "Model::loss",
                   const char* batch_of = "the batch of the last forward") {
    constexpr std::size_t n = Out::size;
    const auto what = [who] { return std::string(who) + ": " + std::string(L::name()); };
    if constexpr (L::uses_labels) {
        if (t.labels.size() != batch)
            throw shape_error(
                what() + " reads one label per sample: " + std::to_string(t.labels.size()) +
                " labels given, expected " + std::to_string(batch) + " (" + batch_of + ")");
        for (std::size_t b = 0; b < batch; ++b)
            if (t.labels[b] < 0 || static_cast<std::size_t>(t.labels[b]) >= n)
                throw argument_error(std::string(who) + ": label " + std::to_string(t.labels[b]) +
                                     " of sample " + std::to_string(b) + " is outside [0, " +
                                     std::to_string(n) + ")");
    } else {
        if (t.values.size() != batch * n)
            throw shape_error(what() + " reads one target per output: " +
                              std::to_string(t.values.size()) + " values given, expected " +
                              std::to_string(batch * n) + " (batch " + std::to_string(batch) +
                              " x " + std::to_string(n) + ", output shape " + Out::str() + ")");
    }
}

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
