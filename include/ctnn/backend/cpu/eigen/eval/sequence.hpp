// ctnn/backend/cpu/eigen/eval/sequence.hpp — LastStep and MeanOverSteps stages.
//
// Forward: z[b] = x[b, T - 1] or the mean of x[b, t] over t. Backward: dX[b, T - 1] = dZ[b] and
// zero elsewhere, or dX[b, t] = dZ[b] / T for every t. A masked sequence (MaskZero) has n_b
// steps in sample b, its length: n_b stands for T, and the padded steps get no gradient.
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
    /// The steps of sample b: its length where the sequence is masked (MaskZero), else all.
    template <class T>
    static std::size_t steps_of(const T* lengths, std::size_t b, std::size_t Tn) {
        return lengths ? static_cast<std::size_t>(lengths[b]) : Tn;
    }

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using A = typename S::anchor;
        constexpr std::size_t Tn = A::bound::steps, F = A::bound::features;
        const T* x = ex.x_of(I);
        const T* lengths = ex.lengths_of(I);
        T* z = ex.z_of(I);
        for (std::size_t b = 0; b < ex.batch_; ++b) {
            const T* xb = x + b * Tn * F;
            T* zb = z + b * F;
            const std::size_t n = steps_of(lengths, b, Tn);
            if constexpr (A::layer::op == StepPool::last) {
                std::copy_n(xb + (n - 1) * F, F, zb);
            } else {
                std::fill_n(zb, F, T(0));
                for (std::size_t t = 0; t < n; ++t)
                    for (std::size_t f = 0; f < F; ++f) zb[f] += xb[t * F + f];
                for (std::size_t f = 0; f < F; ++f) zb[f] /= T(n);
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
            const T* lengths = ex.lengths_of(I);
            for (std::size_t b = 0; b < ex.batch_; ++b) {
                const T* db = d + b * F;
                T* ob = other + b * Tn * F;
                const std::size_t n = steps_of(lengths, b, Tn);
                for (std::size_t t = 0; t < Tn; ++t) {
                    if constexpr (A::layer::op == StepPool::last) {
                        if (t + 1 != n) std::fill_n(ob + t * F, F, T(0));
                        else std::copy_n(db, F, ob + t * F);
                    } else {
                        for (std::size_t f = 0; f < F; ++f)
                            ob[t * F + f] = t < n ? db[f] / T(n) : T(0);
                    }
                }
            }
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
