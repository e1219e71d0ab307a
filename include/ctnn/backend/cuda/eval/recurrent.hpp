// ctnn/backend/cuda/eval/recurrent.hpp — RNN, LSTM and GRU stages: GEMMs around a persistent
// time loop (kernels/recurrent.hpp).
//
//   forward, per direction   transpose  W_hh^T into the stage's stats slot
//                            gemm<false, true>  G = X W_ih^T + b_ih (+ b_hh but GRU's n), all
//                                               B T positions at once
//                            recurrent_forward  the time loop: gates, states, the output
//            then, with an epilogue after the layer, one elementwise kernel (Z -> Y)
//   backward, per direction  recurrent_backward the time loop backward: dG (GRU: and dG_h)
//                            gemm<true, false>  dW_ih = dG^T X, db_ih as the ones column
//                            gemm<true, false>  dW_hh = dG_h^T Hprev, db_hh as the ones column
//                            gemm<false, false> dX (+)= dG W_ih, the source's epilogue' fused
//                                               (where the input gradient is needed)
// The workspace (the stage's aux_of, sized for the CPU's time-major layout, of which this uses
// less) is sample-major by sequence position, like the stage's input and output, so that every
// product is one GEMM over the B T positions: Hprev holds at position p the state that
// position's step read (0 at the direction's first), which makes dW_hh one product for either
// direction.
#pragma once
#include "../../../layers/recurrent.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/recurrent.hpp"
#include "common.hpp"
#include "dense.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>

namespace ctnn::cuda::detail {

/// Store of the input projection: G = acc + b_ih (+ b_hh on the first `added` rows).
template <class T>
struct ProjectionStore {
    T* g;
    const T* b_ih;
    const T* b_hh;
    std::uint32_t added; ///< rows that get b_hh too (all but GRU's n)
    std::uint32_t n;     ///< G H

    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t j, T acc) const {
        T v = acc + b_ih[j];
        if (j < added) v += b_hh[j];
        g[std::size_t{m} * n + j] = v;
    }
};

template <>
struct Eval<LayerKind::recurrent> {
    /// Direction dir's workspace of a batch of B samples (see the file comment).
    template <class Bd, class Ex, class T = typename Ex::value_type>
    static RecurrentViews<T> views(Ex& ex, std::size_t I, std::size_t B, std::size_t dir,
                                   bool sequences, std::size_t out_width) {
        T* aux = ex.aux_of(I);
        constexpr std::size_t Tn = Bd::steps, H = Bd::hidden, GH = Bd::gate_rows;
        T* p = aux + dir * Bd::direction_workspace * B;
        RecurrentViews<T> v{};
        v.gates = p, p += Tn * GH * B;
        v.hprev = p, p += Tn * H * B;
        v.cell = p, p += Bd::cell_state * B;
        v.dg = p, p += Tn * GH * B;
        v.dgh = Bd::cell == RecurrentCell::gru ? p : v.dg;
        v.batch = static_cast<std::uint32_t>(B);
        v.steps = static_cast<std::uint32_t>(Tn);
        v.reverse = dir == 1;
        v.sequences = sequences;
        v.out_width = static_cast<std::uint32_t>(out_width);
        v.out_offset = static_cast<std::uint32_t>(dir * H);
        v.lengths = ex.lengths_of(I); // a masked sequence (MaskZero), else null
        return v;
    }

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using L = typename A::layer;
        using Bd = typename A::bound;
        constexpr std::size_t F = Bd::features, H = Bd::hidden, GH = Bd::gate_rows;
        constexpr RecurrentCell cell = Bd::cell;
        const std::size_t B = ex.batch_;
        const auto rows = static_cast<std::uint32_t>(B * Bd::steps);
        for (std::size_t dir = 0; dir < L::directions; ++dir) {
            const T* w_ih = params + A::param_offset + dir * Bd::direction_params;
            const T* w_hh = w_ih + GH * F;
            const T* b_ih = w_hh + GH * H;
            const T* b_hh = b_ih + GH;
            T* wt = ex.stats_.data() + Ex::plan::layout[I].stats + dir * GH * H;
            const RecurrentViews<T> v = views<Bd>(ex, I, B, dir, L::sequences, L::directions * H);
            recurrent_transpose(w_hh, wt, GH, H, ex.stream_);
            const ProjectionStore<T> store{
                v.gates, b_ih, b_hh,
                static_cast<std::uint32_t>(cell == RecurrentCell::gru ? 2 * H : GH), GH};
            gemm<false, true>(rows, GH, F, ex.x_of(I), F, w_ih, F, store, false, ex.stream_);
            recurrent_forward<cell, H>(wt, b_hh + 2 * H, v, ex.z_of(I), ex.stream_);
        }
        if constexpr (S::epilogue::size > 0)
            elementwise_forward<epilogue_of<S>>(ex.z_of(I), ex.y_of(I), B * S::out_size, ex.ctx_,
                                                ex.stream_);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using L = typename A::layer;
        using Bd = typename A::bound;
        constexpr std::size_t F = Bd::features, H = Bd::hidden, GH = Bd::gate_rows;
        const std::size_t B = ex.batch_;
        const auto rows = static_cast<std::uint32_t>(B * Bd::steps);
        for (std::size_t dir = 0; dir < L::directions; ++dir) {
            const T* w_ih = params + A::param_offset + dir * Bd::direction_params;
            T* g_ih = grads + A::param_offset + dir * Bd::direction_params;
            T* g_hh = g_ih + GH * F;
            T* gb_ih = g_hh + GH * H;
            T* gb_hh = gb_ih + GH;
            const RecurrentViews<T> v = views<Bd>(ex, I, B, dir, L::sequences, L::directions * H);
            recurrent_backward<Bd::cell, H>(w_ih + GH * F, d, v, ex.stream_);
            gemm<true, false>(GH, F + 1, rows, v.dg, GH, ex.x_of(I), F,
                              WeightGradStore<T>{g_ih, gb_ih, F}, true, ex.stream_);
            gemm<true, false>(GH, H + 1, rows, v.dgh, GH, v.hprev, H,
                              WeightGradStore<T>{g_hh, gb_hh, H}, true, ex.stream_);
        }
        if constexpr (Ex::flow::input_grad[I]) {
            for (std::size_t dir = 0; dir < L::directions; ++dir) {
                const T* w_ih = params + A::param_offset + dir * Bd::direction_params;
                const RecurrentViews<T> v =
                    views<Bd>(ex, I, B, dir, L::sequences, L::directions * H);
                const InputGradStore<source_epilogue<typename Ex::stages, I>, T> store{
                    other, ex.epi_in_of(S::source), ex.ctx_, F, dir == 1};
                gemm<false, false>(rows, F, GH, v.dg, GH, w_ih, F, store, false, ex.stream_);
            }
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::cuda::detail
