// ctnn/backend/cpu/eigen/eval/rowwise.hpp — Softmax and LogSoftmax stages, per sample.
//
// Forward subtracts the row maximum m; LogSoftmax is (x - m) - log(s), not x - (m + log(s)):
// m + log(s) rounds log(s) away when |m| is large (equal logits of 1e30 would give 0, not
// -log(n)). Backward from the output z: Softmax dX = z (dZ - sum dZ z); LogSoftmax
// dX = dZ - exp(z) sum dZ.
#pragma once
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::rowwise> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        const T* x = ex.x_of(I);
        T* z = ex.z_of(I);
        for (std::size_t b = 0; b < ex.batch_; ++b) {
            const T* xr = x + b * n_in;
            T* zr = z + b * n_out;
            T m = xr[0];
            for (std::size_t j = 1; j < n_in; ++j) m = std::max(m, xr[j]);
            T s = T(0);
            for (std::size_t j = 0; j < n_in; ++j) s += std::exp(xr[j] - m);
            if constexpr (A::layer::log) {
                const T ls = std::log(s);
                for (std::size_t j = 0; j < n_in; ++j) zr[j] = (xr[j] - m) - ls;
            } else {
                const T inv = T(1) / s;
                for (std::size_t j = 0; j < n_in; ++j) zr[j] = std::exp(xr[j] - m) * inv;
            }
        }
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(ex.batch_, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        if constexpr (Ex::flow::input_grad[I]) {
            const T* z = ex.z_of(I);
            for (std::size_t b = 0; b < ex.batch_; ++b) {
                const T* zr = z + b * n_out;
                const T* dz = d + b * n_out;
                T* dx = other + b * n_in;
                T s = T(0);
                if constexpr (A::layer::log) {
                    for (std::size_t j = 0; j < n_out; ++j) s += dz[j];
                    for (std::size_t j = 0; j < n_out; ++j) dx[j] = dz[j] - std::exp(zr[j]) * s;
                } else {
                    for (std::size_t j = 0; j < n_out; ++j) s += dz[j] * zr[j];
                    for (std::size_t j = 0; j < n_out; ++j) dx[j] = zr[j] * (dz[j] - s);
                }
            }
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
