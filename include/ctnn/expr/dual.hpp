// ctnn/expr/dual.hpp — dual numbers and the scalar math ctnn expressions are built from.
//
// Evaluating an expression on Dual<T>{x, 1} yields its value and its derivative at x in one pass
// (forward-mode differentiation). This is how ctnn derives the backward rule of any elementwise
// expression at compile time, including user-defined activations. Every function here is
// CTNN_HOST_DEVICE so the same code runs in Eigen loops and in CUDA kernels.
#pragma once
#include "../config.hpp"

#include <cmath>
#include <type_traits>

namespace ctnn::expr {

/// A value and its derivative with respect to the expression variable.
template <class T>
struct Dual {
    T v; ///< value
    T d; ///< derivative
};

template <class T>
struct is_dual : std::false_type {};
template <class T>
struct is_dual<Dual<T>> : std::true_type {};

/// The underlying real type of a scalar or a Dual.
template <class T>
struct real_of {
    using type = T;
};
template <class T>
struct real_of<Dual<T>> {
    using type = T;
};
template <class T>
using real_t = typename real_of<T>::type;

// ---- value access -------------------------------------------------------------------------
template <class T>
CTNN_HOST_DEVICE constexpr T value(T x) {
    return x;
}
template <class T>
CTNN_HOST_DEVICE constexpr T value(Dual<T> x) {
    return x.v;
}

// ---- arithmetic on Dual ---------------------------------------------------------------------
template <class T>
CTNN_HOST_DEVICE constexpr Dual<T> operator+(Dual<T> a, Dual<T> b) {
    return {a.v + b.v, a.d + b.d};
}
template <class T>
CTNN_HOST_DEVICE constexpr Dual<T> operator-(Dual<T> a, Dual<T> b) {
    return {a.v - b.v, a.d - b.d};
}
template <class T>
CTNN_HOST_DEVICE constexpr Dual<T> operator-(Dual<T> a) {
    return {-a.v, -a.d};
}
template <class T>
CTNN_HOST_DEVICE constexpr Dual<T> operator*(Dual<T> a, Dual<T> b) {
    return {a.v * b.v, a.d * b.v + a.v * b.d};
}
template <class T>
CTNN_HOST_DEVICE constexpr Dual<T> operator/(Dual<T> a, Dual<T> b) {
    return {a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)};
}

/// Lifts a real constant into the scalar type S (a no-op for plain reals).
template <class S>
CTNN_HOST_DEVICE constexpr S lift(real_t<S> c) {
    if constexpr (is_dual<S>::value) return S{c, real_t<S>(0)};
    else return c;
}

// ---- elementary functions (real and dual) ---------------------------------------------------
namespace math {

template <class T>
CTNN_HOST_DEVICE T exp(T x) {
    if constexpr (is_dual<T>::value) {
        const auto e = math::exp(x.v);
        return {e, e * x.d};
    } else {
        using std::exp;
        return exp(x);
    }
}
template <class T>
CTNN_HOST_DEVICE T expm1(T x) {
    if constexpr (is_dual<T>::value) {
        using std::exp;
        using std::expm1;
        return {expm1(x.v), exp(x.v) * x.d};
    } else {
        using std::expm1;
        return expm1(x);
    }
}
template <class T>
CTNN_HOST_DEVICE T log(T x) {
    if constexpr (is_dual<T>::value) {
        using std::log;
        return {log(x.v), x.d / x.v};
    } else {
        using std::log;
        return log(x);
    }
}
template <class T>
CTNN_HOST_DEVICE T log1p(T x) {
    if constexpr (is_dual<T>::value) {
        using std::log1p;
        return {log1p(x.v), x.d / (real_t<T>(1) + x.v)};
    } else {
        using std::log1p;
        return log1p(x);
    }
}
template <class T>
CTNN_HOST_DEVICE T sqrt(T x) {
    if constexpr (is_dual<T>::value) {
        using std::sqrt;
        const auto s = sqrt(x.v);
        return {s, x.d / (real_t<T>(2) * s)};
    } else {
        using std::sqrt;
        return sqrt(x);
    }
}
template <class T>
CTNN_HOST_DEVICE T tanh(T x) {
    if constexpr (is_dual<T>::value) {
        using std::tanh;
        const auto t = tanh(x.v);
        return {t, (real_t<T>(1) - t * t) * x.d};
    } else {
        using std::tanh;
        return tanh(x);
    }
}
template <class T>
CTNN_HOST_DEVICE T erf(T x) {
    if constexpr (is_dual<T>::value) {
        using std::erf;
        using std::exp;
        // d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)
        return {erf(x.v), real_t<T>(1.1283791670955126) * exp(-x.v * x.v) * x.d};
    } else {
        using std::erf;
        return erf(x);
    }
}
/// Logistic sigmoid, evaluated without overflow for any x.
template <class T>
CTNN_HOST_DEVICE T sigmoid(T x) {
    if constexpr (is_dual<T>::value) {
        const auto s = math::sigmoid(x.v);
        return {s, s * (real_t<T>(1) - s) * x.d};
    } else {
        using std::exp;
        if (x >= T(0)) return T(1) / (T(1) + exp(-x));
        const T e = exp(x);
        return e / (T(1) + e);
    }
}
/// log(1 + exp(x)), evaluated without overflow for any x.
template <class T>
CTNN_HOST_DEVICE T softplus(T x) {
    if constexpr (is_dual<T>::value) {
        return {math::softplus(x.v), math::sigmoid(x.v) * x.d};
    } else {
        using std::exp;
        using std::fabs;
        using std::log1p;
        return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)));
    }
}

} // namespace math
} // namespace ctnn::expr
