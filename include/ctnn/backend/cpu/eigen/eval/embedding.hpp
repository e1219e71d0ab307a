// ctnn/backend/cpu/eigen/eval/embedding.hpp — Embedding stages: a gather of weight rows.
//
// Forward: z[b, t] = weight[id[b, t]], after checking each id (an integer in [0, Vocab)).
// Backward: dW = 0, then each row of dZ added to the row of its id (ids repeat); ids have no
// gradient, so an Embedding never propagates one (layers/embedding.hpp).
#pragma once
#include "../../../../layers/embedding.hpp"
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cstddef>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::embedding> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        constexpr std::size_t Tn = A::bound::steps, D = A::layer::dim;
        const T* x = ex.x_of(I);
        const T* w = params + A::param_offset;
        T* z = ex.z_of(I);
        // With MaskZero, each sample's length into the stage's aux slot (the mask of the stages
        // after it, mask_plan).
        ctnn::detail::check_token_ids<typename A::layer>(
            x, ex.batch_, Tn, A::index, ex.ctx_.sample0,
            A::layer::masks ? ex.aux_of(I) : static_cast<T*>(nullptr));
        for (std::size_t i = 0; i < ex.batch_ * Tn; ++i)
            std::copy_n(w + static_cast<std::size_t>(x[i]) * D, D, z + i * D);
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(ex.batch_, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T*, T* grads, T*& d, T*&) {
        using A = typename S::anchor;
        static_assert(!Ex::flow::input_grad[I],
                      "Model::input_gradient: this model's input is token ids (Embedding), "
                      "which have no gradient");
        constexpr std::size_t Tn = A::bound::steps, D = A::layer::dim, V = A::layer::vocab;
        const T* x = ex.x_of(I);
        T* gw = grads + A::param_offset;
        std::fill_n(gw, V * D, T(0));
        for (std::size_t i = 0; i < ex.batch_ * Tn; ++i) {
            T* row = gw + static_cast<std::size_t>(x[i]) * D;
            const T* dz = d + i * D;
            for (std::size_t j = 0; j < D; ++j) row[j] += dz[j];
        }
    }
};

} // namespace ctnn::eigen::detail
