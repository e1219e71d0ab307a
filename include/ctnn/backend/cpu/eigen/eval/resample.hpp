// ctnn/backend/cpu/eigen/eval/resample.hpp — Upsample stages (nearest or bilinear), per
// channel: direct loops (../window.hpp).
#pragma once
#include "../window.hpp"
#include "common.hpp"
#include "epilogue.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::resample> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T*) {
        using Bd = typename S::anchor::bound;
        const std::size_t planes = ex.batch_ * Bd::channels;
        if constexpr (Bd::bilinear)
            upsample_bilinear_forward(Bd::scale, Bd::height, Bd::width, ex.x_of(I), planes,
                                      ex.z_of(I));
        else upsample_forward(Bd::scale, Bd::height, Bd::width, ex.x_of(I), planes, ex.z_of(I));
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(ex.batch_, ex.ctx_, ex.z_of(I), nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T*, T*& d, T*& other) {
        using Bd = typename S::anchor::bound;
        if constexpr (Ex::flow::input_grad[I]) {
            const std::size_t planes = ex.batch_ * Bd::channels;
            if constexpr (Bd::bilinear)
                upsample_bilinear_backward(Bd::scale, Bd::height, Bd::width, d, planes, other);
            else upsample_backward(Bd::scale, Bd::height, Bd::width, d, planes, other);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
