// ctnn/backend/cpu/eigen/eval/recurrent.hpp — RNN, LSTM and GRU stages on the CPU.
//
// The stage's workspace (aux_of, sized by RecurrentBase::bind) is time-major: step t of sample b
// is column t B + b, so that the batch at one step is one contiguous matrix and all steps are one
// matrix too. Forward: the input is copied time-major, its projection for all steps is one GEMM
// (G = W_ih^T X + b_ih, plus b_hh where it adds), then each step is one GEMM with the recurrent
// weight (G_t += W_hh^T h_{t-1}) and one sweep of the cell's nonlinearities, which keeps the gate
// activations, the hidden state and LSTM's cell (GRU's W_hn h + b_hn) for backward.
// Backward through time walks the steps from the last: dh = the output's gradient at t + the
// recurrent one (W_hh dG_{t+1}); one sweep gives the gates' gradients dG_t; after the walk the
// weight gradients are one GEMM each over all steps (dW_ih = dG X^T, dW_hh = dG_{1..} h_{..T-2}^T)
// and the input gradient one GEMM per step written straight into the sample-major result.
// Weights in PyTorch's layout: W_ih [G H, F] row-major is the column-major F x G H matrix.
#pragma once
#include "../../../../layers/recurrent.hpp"
#include "../../kernels.hpp"
#include "../../simd.hpp"
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::recurrent> {
    template <class T>
    using ConstVec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
    /// Step t of a sample-major [B, T, n] tensor: an n x B matrix with columns T n apart.
    template <class T>
    using Step = Eigen::Map<
        std::conditional_t<std::is_const_v<T>, const Mat<std::remove_const_t<T>>, Mat<T>>, 0,
        Eigen::OuterStride<>>;
    static Eigen::OuterStride<> stride(std::size_t n) { return Eigen::OuterStride<>(idx(n)); }

#if CTNN_CPU_FUSED
    /// C(r, :) (= or +=) the kernel's sum: C holds one sample per row, ldc values apart.
    template <class Isa>
    struct ProductTile {
        float* c;
        std::size_t ldc;
        bool add;
        template <std::size_t R, std::size_t V>
        void init(typename Isa::reg (&acc)[R][V], std::size_t r0, std::size_t v0) const {
            for (std::size_t r = 0; r < R; ++r)
                for (std::size_t v = 0; v < V; ++v)
                    acc[r][v] =
                        add ? Isa::load(c + (r0 + r) * ldc + (v0 + v) * Isa::width) : Isa::zero();
        }
        template <std::size_t R, std::size_t V>
        void finish(typename Isa::reg (&acc)[R][V], std::size_t r0, std::size_t v0) const {
            for (std::size_t r = 0; r < R; ++r)
                for (std::size_t v = 0; v < V; ++v)
                    Isa::store(c + (r0 + r) * ldc + (v0 + v) * Isa::width, acc[r][v]);
        }
    };
#endif
    /// The per-step products run on ctnn's register-blocked kernel (cpu::detail::gemm: no
    /// packing of W_hh at every step, no allocation) in float when it is compiled in and H is a
    /// multiple of the register width; otherwise (double, odd sizes, nvcc) on Eigen.
    template <class T, std::size_t N>
    static constexpr bool step_kernel = [] {
#if CTNN_CPU_FUSED
        return std::is_same_v<T, float> && N % cpu::simd::Native::width == 0;
#else
        return false;
#endif
    }();

    /// The product of a step: C(:, b) (= or +=) M a(:, b) for the B samples, M being the
    /// column-major N x K matrix m (row-major [K, N]: the kernel's B operand, K rows of N values).
    /// Forward: C = G_t, M = W_hh (m = W_hh^T, [H, GH]), a = h_{t-1}; backward: C = dh,
    /// M = W_hh^T (m = PyTorch's W_hh, [GH, H]), a = dG_t.
    template <std::size_t N, std::size_t K, class T>
    static void step_product(T* c, bool add, const T* a, const T* m, std::size_t B) {
        if constexpr (step_kernel<T, N>) {
#if CTNN_CPU_FUSED
            using Isa = cpu::simd::Native;
            ProductTile<Isa> tile{c, N, add};
            cpu::detail::gemm<Isa, N / Isa::width, K, 1, N>(B, K, a, m, tile);
#endif
        } else {
            MapMat<T> C(c, N, idx(B));
            if (add) C.noalias() += MapConstMat<T>(m, N, K) * MapConstMat<T>(a, K, idx(B));
            else C.noalias() = MapConstMat<T>(m, N, K) * MapConstMat<T>(a, K, idx(B));
        }
    }

    /// The stage's workspace for a batch of B samples (RecurrentBase::bind's order).
    template <class Bd, class T>
    struct Work {
        static constexpr std::size_t Tn = Bd::steps, F = Bd::features, H = Bd::hidden,
                                     GH = Bd::gate_rows;
        T *x, *gates, *h, *cell, *dg, *dgh, *dh, *dc, *kdh, *kdc;
        /// The input step the cell of direction dir reads at its step t (the reverse cell reads
        /// the sequence from its end).
        static constexpr std::size_t input_step(std::size_t t, std::size_t dir) {
            return dir == 0 ? t : Tn - 1 - t;
        }
        /// Direction dir's workspace in the stage's aux_of(I) (the reverse cell's follows).
        Work(T* aux, std::size_t B, std::size_t dir) {
            T* p = aux + dir * Bd::direction_workspace * B;
            x = p, p += Tn * F * B;
            gates = p, p += Tn * GH * B;
            h = p, p += Tn * H * B;
            cell = p, p += Bd::cell_state * B;
            dg = p, p += Tn * GH * B;
            dgh = dg; // GRU's recurrent part differs from its input part in n: a buffer of its own
            if constexpr (Bd::cell == RecurrentCell::gru) dgh = p, p += Tn * GH * B;
            dh = p, p += H * B;
            dc = p, p += H * B;
            kdh = p, p += H * B; // dh and dc kept across a padded step (masks)
            kdc = p;
        }
    };

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using L = typename A::layer;
        using Bd = typename A::bound;
        using W = Work<Bd, T>;
        const std::size_t B = ex.batch_;
        constexpr std::size_t H = Bd::hidden, GH = Bd::gate_rows;
        for (std::size_t dir = 0; dir < L::directions; ++dir) {
            const T* w_ih = params + A::param_offset + dir * Bd::direction_params;
            T* wt = ex.stats_.data() + Ex::plan::layout[I].stats + dir * GH * H;
            // W_hh^T, [H, GH] row-major: the layout step_product reads, made once per pass.
            MapMat<T>(wt, GH, H) = MapConstMat<T>(w_ih + GH * Bd::features, H, GH).transpose();
            forward_direction<S>(ex.x_of(I), ex.z_of(I), w_ih, wt, W(ex.aux_of(I), B, dir), B, dir,
                                 ex.lengths_of(I));
        }
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(B, ex.ctx_, ex.z_of(I), nullptr, ex.y_of(I), nullptr);
    }

    /// One direction (dir 1: the reverse cell, which reads step T - 1 - t at its step t) of the
    /// forward pass: its states in w, its half of each output step in out.
    /// Sample b's step t (of direction dir) is padding: its position is at or past the sample's
    /// length (masks, MaskZero). Never without lengths.
    template <class W, class T>
    static bool padded(const T* lengths, std::size_t b, std::size_t t, std::size_t dir) {
        return lengths != nullptr && T(W::input_step(t, dir)) >= lengths[b];
    }

    template <class S, class T, class W>
    static void forward_direction(const T* x, T* out, const T* w_ih, const T* wt, W w,
                                  std::size_t B, std::size_t dir, const T* lengths) {
        using A = typename S::anchor;
        using L = typename A::layer;
        constexpr std::size_t Tn = W::Tn, F = W::F, H = W::H, GH = W::GH;
        constexpr std::size_t OW = L::directions * H; // output values per step
        constexpr RecurrentCell cell = L::cell;
        const auto b_ = idx(B);
        const T* w_hh = w_ih + GH * F;
        const T* b_ih = w_hh + GH * H;
        const T* b_hh = b_ih + GH;

        // The input, time-major (in the cell's reading order).
        for (std::size_t t = 0; t < Tn; ++t)
            MapMat<T>(w.x + t * B * F, F, b_) =
                Step<const T>(x + W::input_step(t, dir) * F, F, b_, stride(Tn * F));
        // The input projection of every step, and the biases that add to it.
        MapMat<T> G(w.gates, idx(GH), idx(Tn * B));
        G.noalias() = MapConstMat<T>(w_ih, F, GH).transpose() * MapConstMat<T>(w.x, F, idx(Tn * B));
        constexpr std::size_t added = cell == RecurrentCell::gru ? 2 * H : GH; // not GRU's n
        G.colwise() += ConstVec<T>(b_ih, GH);
        G.topRows(idx(added)).colwise() += ConstVec<T>(b_hh, added);
        const auto h_ = idx(H);
        for (std::size_t t = 0; t < Tn; ++t) {
            MapMat<T> Gt(w.gates + t * B * GH, GH, b_);
            MapMat<T> Ht(w.h + t * B * H, H, b_);
            MapConstMat<T> Hp(t > 0 ? w.h + (t - 1) * B * H : w.h, H, b_); // valid if t > 0
            auto g = Gt.array();
            if constexpr (cell == RecurrentCell::lstm) {
                if (t > 0) step_product<GH, H>(Gt.data(), true, Hp.data(), wt, B);
                g.topRows(2 * h_) = g.topRows(2 * h_).logistic();           // i, f
                g.middleRows(2 * h_, h_) = g.middleRows(2 * h_, h_).tanh(); // g
                g.bottomRows(h_) = g.bottomRows(h_).logistic();             // o
                auto c = MapMat<T>(w.cell + t * B * H, H, b_).array();
                if (t > 0)
                    c = g.middleRows(h_, h_) *
                            MapConstMat<T>(w.cell + (t - 1) * B * H, H, b_).array() +
                        g.topRows(h_) * g.middleRows(2 * h_, h_);
                else c = g.topRows(h_) * g.middleRows(2 * h_, h_);
                Ht.array() = g.bottomRows(h_) * c.tanh();
            } else if constexpr (cell == RecurrentCell::gru) {
                // hn = W_hn h + b_hn (kept), in the cell slot; W_hr h, W_hz h join the gates.
                MapMat<T> Hn(w.cell + t * B * H, H, b_);
                if (t > 0) {
                    MapMat<T> R(w.dg, GH, b_); // W_hh^T h_{t-1}, in the backward scratch
                    step_product<GH, H>(R.data(), false, Hp.data(), wt, B);
                    Gt.topRows(2 * h_) += R.topRows(2 * h_);
                    Hn = R.bottomRows(h_);
                    Hn.colwise() += ConstVec<T>(b_hh + 2 * H, H);
                } else {
                    Hn.colwise() = ConstVec<T>(b_hh + 2 * H, H);
                }
                g.topRows(2 * h_) = g.topRows(2 * h_).logistic(); // r, z
                g.bottomRows(h_) = (g.bottomRows(h_) + g.topRows(h_) * Hn.array()).tanh();
                const auto z = g.middleRows(h_, h_);
                if (t > 0) Ht.array() = (T(1) - z) * g.bottomRows(h_) + z * Hp.array();
                else Ht.array() = (T(1) - z) * g.bottomRows(h_);
            } else {
                if (t > 0) step_product<GH, H>(Gt.data(), true, Hp.data(), wt, B);
                if constexpr (cell == RecurrentCell::rnn_tanh) Ht.array() = g.tanh();
                else Ht.array() = g.max(T(0));
            }
            // A padded step keeps the state (the initial zero state, for the reverse cell's
            // steps before a sample's last token): pack_padded_sequence's semantics.
            for (std::size_t b = 0; b < B; ++b) {
                if (!padded<W>(lengths, b, t, dir)) continue;
                const auto bi = idx(b);
                if (t > 0) Ht.col(bi) = Hp.col(bi);
                else Ht.col(bi).setZero();
                if constexpr (cell == RecurrentCell::lstm) {
                    MapMat<T> C(w.cell + t * B * H, H, b_);
                    if (t > 0) C.col(bi) = MapConstMat<T>(w.cell + (t - 1) * B * H, H, b_).col(bi);
                    else C.col(bi).setZero();
                }
            }
        }
        // The output, sample-major: every step's hidden state, or the last one (the reverse
        // cell's at step 0), in this direction's half of each step.
        if constexpr (L::sequences) {
            for (std::size_t t = 0; t < Tn; ++t)
                Step<T>(out + W::input_step(t, dir) * OW + dir * H, H, b_, stride(Tn * OW)) =
                    MapConstMat<T>(w.h + t * B * H, H, b_);
            // Padded steps output 0 (pad_packed_sequence's padding value).
            for (std::size_t b = 0; b < B; ++b)
                for (std::size_t t = 0; t < Tn; ++t)
                    if (padded<W>(lengths, b, t, dir))
                        std::fill_n(out + (b * Tn + W::input_step(t, dir)) * OW + dir * H, H, T(0));
        } else {
            Step<T>(out + dir * H, H, b_, stride(OW)) =
                MapConstMat<T>(w.h + (Tn - 1) * B * H, H, b_);
        }
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using L = typename A::layer;
        using Bd = typename A::bound;
        using W = Work<Bd, T>;
        constexpr std::size_t Tn = W::Tn, F = W::F, GH = W::GH;
        const std::size_t B = ex.batch_;
        const auto b_ = idx(B);
        const T* lengths = ex.lengths_of(I);
        if constexpr (L::sequences) {
            // The outputs at padded steps are constants (0): their gradient goes nowhere.
            if (lengths)
                for (std::size_t b = 0; b < B; ++b)
                    for (std::size_t p = 0; p < Tn; ++p)
                        if (T(p) >= lengths[b])
                            std::fill_n(d + (b * Tn + p) * L::directions * Bd::hidden,
                                        L::directions * Bd::hidden, T(0));
        }
        for (std::size_t dir = 0; dir < L::directions; ++dir)
            backward_direction<S>(d, params + A::param_offset + dir * Bd::direction_params,
                                  grads + A::param_offset + dir * Bd::direction_params,
                                  W(ex.aux_of(I), B, dir), B, dir, lengths);
        if constexpr (Ex::flow::input_grad[I]) {
            // dX_t = W_ih dG_t, written where step t of each sample lives (sample-major); the
            // reverse cell's step t read input step T - 1 - t, and adds its share there.
            for (std::size_t dir = 0; dir < L::directions; ++dir) {
                const W w(ex.aux_of(I), B, dir);
                MapConstMat<T> Wih(params + A::param_offset + dir * Bd::direction_params, F, GH);
                for (std::size_t t = 0; t < Tn; ++t) {
                    Step<T> dx(other + W::input_step(t, dir) * F, F, b_, stride(Tn * F));
                    if (dir == 0) dx.noalias() = Wih * MapConstMat<T>(w.dg + t * B * GH, GH, b_);
                    else dx.noalias() += Wih * MapConstMat<T>(w.dg + t * B * GH, GH, b_);
                }
            }
            std::swap(d, other);
        }
    }

    /// One direction of the backward pass: from the output gradient d (this direction's half of
    /// each step), its parameter gradients, and its gate gradients in w for the input gradient.
    template <class S, class T, class W>
    static void backward_direction(const T* d, const T* w_ih, T* g_ih, W w, std::size_t B,
                                   std::size_t dir, const T* lengths) {
        using A = typename S::anchor;
        using L = typename A::layer;
        constexpr std::size_t Tn = W::Tn, F = W::F, H = W::H, GH = W::GH;
        constexpr std::size_t OW = L::directions * H;
        constexpr RecurrentCell cell = L::cell;
        const auto b_ = idx(B);
        const T* w_hh = w_ih + GH * F;
        T* g_hh = g_ih + GH * F;
        T* gb_ih = g_hh + GH * H;
        T* gb_hh = gb_ih + GH;
        MapMat<T> dH(w.dh, H, b_);
        dH.setZero();
        if constexpr (cell == RecurrentCell::lstm) MapMat<T>(w.dc, H, b_).setZero();

        const auto h_ = idx(H);
        for (std::size_t s = 0; s < Tn; ++s) {
            const std::size_t t = Tn - 1 - s;
            // dh: the recurrent part (from step t + 1, in dH), plus the output's gradient.
            if constexpr (L::sequences)
                dH +=
                    Step<const T>(d + W::input_step(t, dir) * OW + dir * H, H, b_, stride(Tn * OW));
            else if (t == Tn - 1) dH += Step<const T>(d + dir * H, H, b_, stride(OW));
            // A padded step passed h and c on unchanged: their gradients go back unchanged
            // (kept here) and its gates get none.
            for (std::size_t b = 0; b < B; ++b) {
                if (!padded<W>(lengths, b, t, dir)) continue;
                std::copy_n(w.dh + b * H, H, w.kdh + b * H);
                if constexpr (cell == RecurrentCell::lstm)
                    std::copy_n(w.dc + b * H, H, w.kdc + b * H);
            }
            const auto g = MapConstMat<T>(w.gates + t * B * GH, GH, b_).array();
            auto dg = MapMat<T>(w.dg + t * B * GH, GH, b_).array();
            const auto dh = dH.array();
            if constexpr (cell == RecurrentCell::lstm) {
                const auto i = g.topRows(h_), f = g.middleRows(h_, h_);
                const auto gg = g.middleRows(2 * h_, h_), o = g.bottomRows(h_);
                auto dc = MapMat<T>(w.dc, H, b_).array();
                auto tc = dg.bottomRows(h_); // tanh(c_t), until do replaces it
                tc = MapConstMat<T>(w.cell + t * B * H, H, b_).array().tanh();
                dc += dh * o * (T(1) - tc.square());
                dg.bottomRows(h_) = dh * tc * o * (T(1) - o);
                dg.topRows(h_) = dc * gg * i * (T(1) - i);
                if (t > 0)
                    dg.middleRows(h_, h_) =
                        dc * MapConstMat<T>(w.cell + (t - 1) * B * H, H, b_).array() * f *
                        (T(1) - f);
                else dg.middleRows(h_, h_).setZero();
                dg.middleRows(2 * h_, h_) = dc * i * (T(1) - gg.square());
                dc *= f;
            } else if constexpr (cell == RecurrentCell::gru) {
                const auto r = g.topRows(h_), z = g.middleRows(h_, h_), n = g.bottomRows(h_);
                const auto hn = MapConstMat<T>(w.cell + t * B * H, H, b_).array();
                auto dgh = MapMat<T>(w.dgh + t * B * GH, GH, b_).array();
                dg.bottomRows(h_) = dh * (T(1) - z) * (T(1) - n.square());
                if (t > 0)
                    dg.middleRows(h_, h_) =
                        dh * (MapConstMat<T>(w.h + (t - 1) * B * H, H, b_).array() - n) * z *
                        (T(1) - z);
                else dg.middleRows(h_, h_) = -dh * n * z * (T(1) - z);
                dg.topRows(h_) = dg.bottomRows(h_) * hn * r * (T(1) - r);
                dgh.topRows(2 * h_) = dg.topRows(2 * h_);
                dgh.bottomRows(h_) = dg.bottomRows(h_) * r;
                MapMat<T>(w.dc, H, b_).array() = dh * z; // dh_{t-1} through z h_{t-1}
            } else {
                const auto h = MapConstMat<T>(w.h + t * B * H, H, b_).array();
                if constexpr (cell == RecurrentCell::rnn_tanh) dg = dh * (T(1) - h.square());
                else dg = (h > T(0)).select(dh, T(0));
            }
            for (std::size_t b = 0; b < B; ++b) {
                if (!padded<W>(lengths, b, t, dir)) continue;
                std::fill_n(w.dg + (t * B + b) * GH, GH, T(0));
                if constexpr (cell == RecurrentCell::gru)
                    std::fill_n(w.dgh + (t * B + b) * GH, GH, T(0));
            }
            // The gradient of h_{t-1}: W_hh dG_t (GRU: its recurrent part, plus z dh).
            if (t > 0) {
                step_product<H, GH>(w.dh, false, w.dgh + t * B * GH, w_hh, B);
                if constexpr (cell == RecurrentCell::gru) dH += MapConstMat<T>(w.dc, H, b_);
            }
            for (std::size_t b = 0; b < B; ++b) {
                if (!padded<W>(lengths, b, t, dir)) continue;
                std::copy_n(w.kdh + b * H, H, w.dh + b * H);
                if constexpr (cell == RecurrentCell::lstm)
                    std::copy_n(w.kdc + b * H, H, w.dc + b * H);
            }
        }
        // Parameter gradients, each one GEMM (or sum) over all steps.
        const auto tb = idx(Tn * B);
        MapConstMat<T> dG(w.dg, GH, tb), dGh(w.dgh, GH, tb);
        MapMat<T>(g_ih, F, GH).noalias() = MapConstMat<T>(w.x, F, tb) * dG.transpose();
        MapMat<T>(gb_ih, GH, 1) = dG.rowwise().sum();
        MapMat<T>(gb_hh, GH, 1) = dGh.rowwise().sum();
        if constexpr (Tn > 1)
            MapMat<T>(g_hh, H, GH).noalias() =
                MapConstMat<T>(w.h, H, idx((Tn - 1) * B)) *
                MapConstMat<T>(w.dgh + B * GH, GH, idx((Tn - 1) * B)).transpose();
        else MapMat<T>(g_hh, H, GH).setZero();
    }
};

} // namespace ctnn::eigen::detail
