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
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::recurrent> {
    template <class T>
    using ConstVec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
    template <class T>
    using StepMapMut = Eigen::Map<Mat<T>, 0, Eigen::OuterStride<>>;

    template <class T>
    static T sigmoid(T v) {
        return T(1) / (T(1) + std::exp(-v));
    }

    /// The stage's workspace for a batch of B samples (RecurrentBase::bind's order).
    template <class Bd, class T>
    struct Work {
        static constexpr std::size_t Tn = Bd::steps, F = Bd::features,
                                     H = Bd::out_shape::dims[Bd::out_shape::rank - 1],
                                     GH = Bd::gate_rows;
        T *x, *gates, *h, *cell, *dg, *dgh, *dh, *dc;
        Work(T* p, std::size_t B) {
            x = p, p += Tn * F * B;
            gates = p, p += Tn * GH * B;
            h = p, p += Tn * H * B;
            cell = p, p += Bd::cell_state * B;
            dg = p, p += Tn * GH * B;
            dgh = Bd::scratch_per_sample > Tn * GH + 2 * H ? p : dg;
            if (dgh != dg) p += Tn * GH * B;
            dh = p, p += H * B;
            dc = p;
        }
    };

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using L = typename A::layer;
        using Bd = typename A::bound;
        using W = Work<Bd, T>;
        constexpr std::size_t Tn = W::Tn, F = W::F, H = W::H, GH = W::GH;
        constexpr RecurrentCell cell = L::cell;
        const std::size_t B = ex.batch_;
        const auto b_ = idx(B);
        W w(ex.aux_of(I), B);
        const T* w_ih = params + A::param_offset;
        const T* w_hh = w_ih + GH * F;
        const T* b_ih = w_hh + GH * H;
        const T* b_hh = b_ih + GH;

        // The input, time-major.
        const T* x = ex.x_of(I);
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t t = 0; t < Tn; ++t)
                std::copy_n(x + (b * Tn + t) * F, F, w.x + (t * B + b) * F);
        // The input projection of every step, and the biases that add to it.
        MapMat<T> G(w.gates, idx(GH), idx(Tn * B));
        G.noalias() = MapConstMat<T>(w_ih, F, GH).transpose() * MapConstMat<T>(w.x, F, idx(Tn * B));
        constexpr std::size_t added = cell == RecurrentCell::gru ? 2 * H : GH; // not GRU's n
        G.colwise() += ConstVec<T>(b_ih, GH);
        G.topRows(idx(added)).colwise() += ConstVec<T>(b_hh, added);
        MapConstMat<T> Whh(w_hh, H, GH);
        for (std::size_t t = 0; t < Tn; ++t) {
            T* g = w.gates + t * B * GH;
            T* h = w.h + t * B * H;
            const T* h_prev = t > 0 ? w.h + (t - 1) * B * H : nullptr;
            MapMat<T> Gt(g, GH, b_);
            T* rec = w.dg; // GRU: W_hh^T h_{t-1}, in the backward scratch
            if (t > 0) {
                if constexpr (cell == RecurrentCell::gru)
                    MapMat<T>(rec, GH, b_).noalias() =
                        Whh.transpose() * MapConstMat<T>(h_prev, H, b_);
                else Gt.noalias() += Whh.transpose() * MapConstMat<T>(h_prev, H, b_);
            }
            for (std::size_t b = 0; b < B; ++b) {
                T* gb = g + b * GH;
                T* hb = h + b * H;
                if constexpr (cell == RecurrentCell::lstm) {
                    T* cb = w.cell + (t * B + b) * H;
                    const T* cp = t > 0 ? w.cell + ((t - 1) * B + b) * H : nullptr;
                    for (std::size_t j = 0; j < H; ++j) {
                        const T i = sigmoid(gb[j]), f = sigmoid(gb[H + j]);
                        const T gg = std::tanh(gb[2 * H + j]), o = sigmoid(gb[3 * H + j]);
                        const T c = (cp ? f * cp[j] : T(0)) + i * gg;
                        gb[j] = i, gb[H + j] = f, gb[2 * H + j] = gg, gb[3 * H + j] = o;
                        cb[j] = c;
                        hb[j] = o * std::tanh(c);
                    }
                } else if constexpr (cell == RecurrentCell::gru) {
                    T* hnb = w.cell + (t * B + b) * H;
                    const T* rb = t > 0 ? rec + b * GH : nullptr;
                    const T* hp = t > 0 ? h_prev + b * H : nullptr;
                    for (std::size_t j = 0; j < H; ++j) {
                        const T r = sigmoid(gb[j] + (rb ? rb[j] : T(0)));
                        const T z = sigmoid(gb[H + j] + (rb ? rb[H + j] : T(0)));
                        const T hn = (rb ? rb[2 * H + j] : T(0)) + b_hh[2 * H + j];
                        const T n = std::tanh(gb[2 * H + j] + r * hn);
                        gb[j] = r, gb[H + j] = z, gb[2 * H + j] = n;
                        hnb[j] = hn;
                        hb[j] = (T(1) - z) * n + (hp ? z * hp[j] : T(0));
                    }
                } else {
                    for (std::size_t j = 0; j < H; ++j)
                        hb[j] = cell == RecurrentCell::rnn_tanh ? std::tanh(gb[j])
                                                                : std::max(gb[j], T(0));
                }
            }
        }
        // The output, sample-major: every step's hidden state, or the last one.
        T* z = ex.z_of(I);
        for (std::size_t b = 0; b < B; ++b) {
            if constexpr (L::sequences) {
                for (std::size_t t = 0; t < Tn; ++t)
                    std::copy_n(w.h + (t * B + b) * H, H, z + (b * Tn + t) * H);
            } else {
                std::copy_n(w.h + ((Tn - 1) * B + b) * H, H, z + b * H);
            }
        }
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(B, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using L = typename A::layer;
        using Bd = typename A::bound;
        using W = Work<Bd, T>;
        constexpr std::size_t Tn = W::Tn, F = W::F, H = W::H, GH = W::GH;
        constexpr RecurrentCell cell = L::cell;
        const std::size_t B = ex.batch_;
        const auto b_ = idx(B);
        W w(ex.aux_of(I), B);
        const T* w_ih = params + A::param_offset;
        const T* w_hh = w_ih + GH * F;
        T* g_ih = grads + A::param_offset;
        T* g_hh = g_ih + GH * F;
        T* gb_ih = g_hh + GH * H;
        T* gb_hh = gb_ih + GH;
        MapConstMat<T> Whh(w_hh, H, GH);
        MapMat<T> dH(w.dh, H, b_);
        dH.setZero();
        if constexpr (cell == RecurrentCell::lstm) MapMat<T>(w.dc, H, b_).setZero();

        for (std::size_t s = 0; s < Tn; ++s) {
            const std::size_t t = Tn - 1 - s;
            // dh: the recurrent part (from step t + 1, in dH), plus the output's gradient.
            if (L::sequences || t == Tn - 1) {
                for (std::size_t b = 0; b < B; ++b) {
                    const T* dz = L::sequences ? d + (b * Tn + t) * H : d + b * H;
                    T* dhb = w.dh + b * H;
                    for (std::size_t j = 0; j < H; ++j) dhb[j] += dz[j];
                }
            }
            const T* g = w.gates + t * B * GH;
            T* dg = w.dg + t * B * GH;
            T* dgh = w.dgh + t * B * GH;
            for (std::size_t b = 0; b < B; ++b) {
                const T* gb = g + b * GH;
                T* dgb = dg + b * GH;
                T* dhb = w.dh + b * H;
                if constexpr (cell == RecurrentCell::lstm) {
                    const T* cb = w.cell + (t * B + b) * H;
                    const T* cp = t > 0 ? w.cell + ((t - 1) * B + b) * H : nullptr;
                    T* dcb = w.dc + b * H;
                    for (std::size_t j = 0; j < H; ++j) {
                        const T i = gb[j], f = gb[H + j], gg = gb[2 * H + j], o = gb[3 * H + j];
                        const T tc = std::tanh(cb[j]);
                        const T dc = dcb[j] + dhb[j] * o * (T(1) - tc * tc);
                        dgb[j] = dc * gg * i * (T(1) - i);
                        dgb[H + j] = cp ? dc * cp[j] * f * (T(1) - f) : T(0);
                        dgb[2 * H + j] = dc * i * (T(1) - gg * gg);
                        dgb[3 * H + j] = dhb[j] * tc * o * (T(1) - o);
                        dcb[j] = dc * f;
                    }
                } else if constexpr (cell == RecurrentCell::gru) {
                    const T* hnb = w.cell + (t * B + b) * H;
                    const T* hp = t > 0 ? w.h + ((t - 1) * B + b) * H : nullptr;
                    T* dghb = dgh + b * GH;
                    T* direct = w.dc + b * H; // dh_{t-1} through z h_{t-1}
                    for (std::size_t j = 0; j < H; ++j) {
                        const T r = gb[j], z = gb[H + j], n = gb[2 * H + j];
                        const T dh = dhb[j];
                        const T dn = dh * (T(1) - z) * (T(1) - n * n);
                        const T dz = dh * ((hp ? hp[j] : T(0)) - n) * z * (T(1) - z);
                        const T dr = dn * hnb[j] * r * (T(1) - r);
                        dgb[j] = dghb[j] = dr;
                        dgb[H + j] = dghb[H + j] = dz;
                        dgb[2 * H + j] = dn;
                        dghb[2 * H + j] = dn * r;
                        direct[j] = dh * z;
                    }
                } else {
                    const T* hb = w.h + (t * B + b) * H;
                    for (std::size_t j = 0; j < H; ++j)
                        dgb[j] = cell == RecurrentCell::rnn_tanh ? dhb[j] * (T(1) - hb[j] * hb[j])
                                                                 : (hb[j] > T(0) ? dhb[j] : T(0));
                }
            }
            // The gradient of h_{t-1}: W_hh dG_t (GRU: its recurrent part, plus z dh).
            if (t > 0) {
                dH.noalias() = Whh * MapConstMat<T>(dgh, GH, b_);
                if constexpr (cell == RecurrentCell::gru) dH += MapConstMat<T>(w.dc, H, b_);
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
        if constexpr (Ex::flow::input_grad[I]) {
            // dX_t = W_ih dG_t, written where step t of each sample lives (sample-major).
            MapConstMat<T> Wih(w_ih, F, GH);
            for (std::size_t t = 0; t < Tn; ++t)
                StepMapMut<T>(other + t * F, F, b_, Eigen::OuterStride<>(idx(Tn * F))).noalias() =
                    Wih * MapConstMat<T>(w.dg + t * B * GH, GH, b_);
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
