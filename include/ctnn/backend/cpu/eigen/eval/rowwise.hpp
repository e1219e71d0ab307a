// ctnn/backend/cpu/eigen/eval/rowwise.hpp — Softmax and LogSoftmax stages, per sample.
//
// Forward: detail::softmax_row (layers/softmax.hpp). Backward from the output z: Softmax
// dX = z (dZ - sum dZ z); LogSoftmax dX = dZ - exp(z) sum dZ.
#pragma once
#include "../../../../layers/softmax.hpp"
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
        for (std::size_t b = 0; b < ex.batch_; ++b)
            ctnn::detail::softmax_row<A::layer::log>(x + b * n_in, z + b * n_out, n_in);
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
