// ctnn/loss/regression.hpp — elementwise regression losses: MSE, L1, Huber.
//
// Each is the mean over all batch * n elements (PyTorch's reduction='mean'). The per-element term
// and its derivative are CTNN_HOST_DEVICE functions, shared by every backend.
#pragma once
#include "../config.hpp"
#include "loss.hpp"

#include <cmath>

namespace ctnn::loss {

/// Mean squared error: mean((y - t)^2). Targets: values, same shape as the output.
struct MSE {
    static constexpr bool uses_labels = false;
    static std::string name() { return "MSE"; }
    template <class Out>
    static constexpr bool check() {
        return true;
    }
    template <class T>
    CTNN_HOST_DEVICE T value(T y, T t) const {
        return (y - t) * (y - t);
    }
    template <class T>
    CTNN_HOST_DEVICE T grad(T y, T t) const {
        return T(2) * (y - t);
    }
    template <class T>
    T operator()(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) const {
        return detail::elementwise_mean(*this, y, t.values.data(), batch, n, g);
    }
};

/// Mean absolute error: mean(|y - t|). Subgradient 0 at y == t (as PyTorch).
struct L1 {
    static constexpr bool uses_labels = false;
    static std::string name() { return "L1"; }
    template <class Out>
    static constexpr bool check() {
        return true;
    }
    template <class T>
    CTNN_HOST_DEVICE T value(T y, T t) const {
        return std::fabs(y - t);
    }
    template <class T>
    CTNN_HOST_DEVICE T grad(T y, T t) const {
        return y > t ? T(1) : (y < t ? T(-1) : T(0));
    }
    template <class T>
    T operator()(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) const {
        return detail::elementwise_mean(*this, y, t.values.data(), batch, n, g);
    }
};

/// Huber loss (PyTorch's HuberLoss): 0.5 r^2 for |r| <= delta, else delta (|r| - 0.5 delta).
struct Huber {
    float delta = 1.0f;
    static constexpr bool uses_labels = false;
    static std::string name() { return "Huber"; }
    template <class Out>
    static constexpr bool check() {
        return true;
    }
    template <class T>
    CTNN_HOST_DEVICE T value(T y, T t) const {
        const T r = std::fabs(y - t), d = static_cast<T>(delta);
        return r <= d ? T(0.5) * r * r : d * (r - T(0.5) * d);
    }
    template <class T>
    CTNN_HOST_DEVICE T grad(T y, T t) const {
        const T r = y - t, d = static_cast<T>(delta);
        return r > d ? d : (r < -d ? -d : r);
    }
    template <class T>
    T operator()(const T* y, Targets<T> t, std::size_t batch, std::size_t n, T* g) const {
        return detail::elementwise_mean(*this, y, t.values.data(), batch, n, g);
    }
};

} // namespace ctnn::loss
