// ctnn/backend/cpu/eigen/eval/sequence.hpp — LastStep and MeanOverSteps stages.
//
// Forward: z[b] = x[b, T - 1] or the mean of x[b, t] over t. Backward: dX[b, T - 1] = dZ[b] and
// zero elsewhere, or dX[b, t] = dZ[b] / T for every t.
#pragma once
#include "../../../../layers/sequence.hpp"
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::step_pool> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        constexpr std::size_t Tn = A::bound::steps, F = A::bound::features;
        const T* x = ex.x_of(I);
        T* z = ex.z_of(I);
        for (std::size_t b = 0; b < ex.batch_; ++b) {
            const T* xb = x + b * Tn * F;
            T* zb = z + b * F;
            if constexpr (A::layer::op == StepPool::last) {
                std::copy_n(xb + (Tn - 1) * F, F, zb);
            } else {
                std::fill_n(zb, F, T(0));
                for (std::size_t t = 0; t < Tn; ++t)
                    for (std::size_t f = 0; f < F; ++f) zb[f] += xb[t * F + f];
                for (std::size_t f = 0; f < F; ++f) zb[f] /= T(Tn);
            }
        }
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(ex.batch_, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t Tn = A::bound::steps, F = A::bound::features;
        if constexpr (Ex::flow::input_grad[I]) {
            for (std::size_t b = 0; b < ex.batch_; ++b) {
                const T* db = d + b * F;
                T* ob = other + b * Tn * F;
                for (std::size_t t = 0; t < Tn; ++t) {
                    if constexpr (A::layer::op == StepPool::last) {
                        if (t + 1 < Tn) std::fill_n(ob + t * F, F, T(0));
                        else std::copy_n(db, F, ob + t * F);
                    } else {
                        for (std::size_t f = 0; f < F; ++f) ob[t * F + f] = db[f] / T(Tn);
                    }
                }
            }
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
