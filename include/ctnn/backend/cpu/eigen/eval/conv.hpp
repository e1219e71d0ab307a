// ctnn/backend/cpu/eigen/eval/conv.hpp — Conv2D stages.
//
// im2col + GEMM: a chunk of samples is unfolded into a (samples * pixels) x taps matrix
// (../window.hpp), multiplied by the weight [out, taps] (one GEMM per group), and the epilogue
// sweep scatters the GEMM output back to the channel-first layout [out, oh, ow] while it adds the
// bias and applies the fused ops. Backward unfolds the chunk again (nothing but the stage input
// is kept), accumulates dW = im2col(X)^T dZ and, for the input gradient, folds dZ W back
// (col2im). With CTNN_CPU_FUSED, the stages DirectPlan picks run ctnn's direct or Winograd
// kernels instead (forward, input gradient, Winograd-domain weight gradient). In a mixed precision
// the GEMMs read the im2col chunk, dZ and W rounded to its format (eval/mixed.hpp; no direct or
// Winograd kernels: a Winograd transform is not the rounded operands' product). In a quantized
// model (int8) each chunk's GEMMs are int8 ones with dequantized sums (eval/int8.hpp).
#pragma once
#include "../../../../graph/fold.hpp"
#include "../../../../graph/lowering.hpp"
#include "../../conv.hpp"
#include "../../conv_plan.hpp"
#include "../../threads.hpp"
#include "../../winograd.hpp"
#include "../window.hpp"
#include "common.hpp"
#include "direct.hpp"
#include "epilogue.hpp"
#include "int8.hpp"
#include "mixed.hpp"
#include "norm.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::conv> {
    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using L = conv_lowering<S>;
        constexpr auto G = A::bound::window;
        constexpr std::size_t groups = A::bound::group_count, kg = A::bound::taps_per_group,
                              og = L::out_channels / groups, P = L::pixels, n_in = S::in_size;
        constexpr bool folds_next = folds_into_previous<typename Ex::stages, I + 1>;
        const T* x = ex.x_of(I);
        const T* w = params + A::param_offset;
        const T* bias = A::layer::has_bias ? w + kg * L::out_channels : nullptr;
        const bool fold = folds_next && !ex.ctx_.training;
        if constexpr (Ex::direct::template direct_conv<S>) {
            if (!fold) {
                direct_forward<S, I>(ex, w, bias, x);
                return;
            }
        }
        MapConstMat<T> W(gemm_operand<Ex>(w, ex.rounded_.data(), 0, kg * L::out_channels), kg,
                         L::out_channels);
        T* col = ex.scratch_.data();
        T* gout = col + L::chunk * P * L::taps;
        typename fold_for<typename Ex::stages, I + 1, T>::type folded{};
        if constexpr (folds_next)
            if (fold) folded = Eval<LayerKind::batch_norm>::fold<I + 1>(ex, params);
        for (std::size_t s0 = 0; s0 < ex.batch_; s0 += L::chunk) {
            const std::size_t samples = std::min(L::chunk, ex.batch_ - s0);
            const auto rows = idx(samples * P);
            if constexpr (Ex::gemm_operands == GemmOperands::int8) {
                // Dequantized int8 sums where the float GEMMs write (eval/int8.hpp).
                Int8Eval::conv_chunk<S, I>(ex, x + s0 * n_in, samples, gout);
            } else {
                im2col(G, x + s0 * n_in, samples, col);
                round_operand_in_place<Ex>(col, samples * P * L::taps);
                MapConstMat<T> Col(col, rows, L::taps);
                MapMat<T> Out(gout, rows, L::out_channels);
                for (std::size_t g = 0; g < groups; ++g)
                    Out.middleCols(idx(g * og), idx(og)).noalias() =
                        Col.middleCols(idx(g * kg), idx(kg)) * W.middleCols(idx(g * og), idx(og));
            }
            if (fold)
                conv_epilogue<S>(ex.ctx_, gout, s0, samples, ex.z_of(I), ex.y_of(I), bias, folded);
            else conv_epilogue<S>(ex.ctx_, gout, s0, samples, ex.z_of(I), ex.y_of(I), bias);
        }
    }

    /// Backward through a convolution anchor; d holds dZ ([batch, out, oh, ow]).
    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using L = conv_lowering<S>;
        using DP = typename Ex::direct;
        constexpr auto G = A::bound::window;
        constexpr std::size_t groups = A::bound::group_count, kg = A::bound::taps_per_group,
                              og = L::out_channels / groups, P = L::pixels, n_in = S::in_size,
                              n_out = S::out_size;
        constexpr bool input_grad = Ex::flow::input_grad[I];
        const std::size_t batch = ex.batch_;
        const T* w = params + A::param_offset;
        T* gw = grads + A::param_offset;
        MapConstMat<T> W(
            input_grad ? gemm_operand<Ex>(w, ex.rounded_.data(), 0, kg * L::out_channels) : w, kg,
            L::out_channels);
        MapMat<T> GW(gw, kg, L::out_channels);
        GW.setZero();
        MapVec<T> GB(gw + kg * L::out_channels, A::layer::has_bias ? L::out_channels : 0);
        GB.setZero();
        T* col = ex.scratch_.data();
        T* dzc = col + L::chunk * P * L::taps;
#if CTNN_CPU_FUSED
        if constexpr (input_grad && DP::template direct_conv_dx<S>) {
            using D = typename DP::template direct_dx_of<S>;
            float* wf = ex.direct_.data() + D::padded_floats;
            cpu::detail::flip_weight<G, L::out_channels>(w, wf);
            D::pack(wf, wf + D::packed_floats);
        }
        if constexpr (DP::template winograd_dw<S> &&
                      (!input_grad || DP::template direct_conv_dx<S>)) {
            // Sample by sample: dW in the Winograd domain, db, and dX (direct or Winograd).
            using DW = typename DP::template direct_of<S>;
            float* xw = ex.direct_.data() + DP::template dx_floats<S>;
            float* du = xw + DW::dw_floats;
            std::fill(du, du + DW::packed_floats, 0.0f);
            for (std::size_t s = 0; s < batch; ++s) {
                const float* dzs = d + s * n_out;
                if constexpr (A::layer::has_bias)
                    GB += MapConstMat<T>(dzs, idx(P), L::out_channels).colwise().sum().transpose();
                DW::pad(ex.x_of(I) + s * n_in, xw);
                DW::accumulate_dw(dzs, xw, du);
                if constexpr (input_grad) {
                    using D = typename DP::template direct_dx_of<S>;
                    float* dzp = ex.direct_.data();
                    D::pad(dzs, dzp);
                    T* dx = other + s * n_in;
                    D::template run<false>(dzp + D::padded_floats + D::packed_floats, nullptr, dzp,
                                           dx, dx);
                }
            }
            DW::unpack_dw(du, gw);
            if constexpr (input_grad) std::swap(d, other);
            return;
        }
#endif
        for (std::size_t s0 = 0; s0 < batch; s0 += L::chunk) {
            const std::size_t samples = std::min(L::chunk, batch - s0);
            const std::size_t rows = samples * P;
            im2col(G, ex.x_of(I) + s0 * n_in, samples, col);
            round_operand_in_place<Ex>(col, rows * L::taps);
            MapMat<T> Col(col, idx(rows), L::taps);
            if constexpr (DP::template direct_conv<S> &&
                          (!input_grad || DP::template direct_conv_dx<S>)) {
                // No dCol GEMM follows: dW += im2col(X_s)^T dZ_s per sample, reading each
                // sample's dZ in place ([out, pixels] is a column-major pixels x out matrix).
                for (std::size_t s = 0; s < samples; ++s) {
                    MapConstMat<T> DZs(d + (s0 + s) * n_out, idx(P), L::out_channels);
                    if constexpr (A::layer::has_bias) GB += DZs.colwise().sum().transpose();
                    GW.noalias() += Col.middleRows(idx(s * P), idx(P)).transpose() * DZs;
                }
            } else {
                // dZ of the chunk as a column-major rows x out matrix, the GEMM output's layout.
                for (std::size_t s = 0; s < samples; ++s)
                    for (std::size_t o = 0; o < L::out_channels; ++o)
                        std::copy_n(d + (s0 + s) * n_out + o * P, P, dzc + o * rows + s * P);
                round_operand_in_place<Ex>(dzc, rows * L::out_channels);
                MapConstMat<T> DZ(dzc, idx(rows), L::out_channels);
                if constexpr (A::layer::has_bias) GB += DZ.colwise().sum().transpose();
                for (std::size_t g = 0; g < groups; ++g)
                    GW.middleCols(idx(g * og), idx(og)).noalias() +=
                        Col.middleCols(idx(g * kg), idx(kg)).transpose() *
                        DZ.middleCols(idx(g * og), idx(og));
                if constexpr (input_grad) {
                    // dCol = dZ W^T, written over the im2col matrix (no longer needed), folded.
                    for (std::size_t g = 0; g < groups; ++g)
                        Col.middleCols(idx(g * kg), idx(kg)).noalias() =
                            DZ.middleCols(idx(g * og), idx(og)) *
                            W.middleCols(idx(g * og), idx(og)).transpose();
                    T* dx = other + s0 * n_in;
                    std::fill(dx, dx + samples * n_in, T(0));
                    col2im(G, col, samples, dx);
                }
            }
#if CTNN_CPU_FUSED
            if constexpr (input_grad && DP::template direct_conv_dx<S>) {
                // dX = dZ convolved with the flipped kernel, sample by sample (direct kernel).
                using D = typename DP::template direct_dx_of<S>;
                float* dzp = ex.direct_.data();
                const float* wt = dzp + D::padded_floats + D::packed_floats;
                for (std::size_t s = 0; s < samples; ++s) {
                    D::pad(d + (s0 + s) * n_out, dzp);
                    T* dx = other + (s0 + s) * n_in;
                    D::template run<false>(wt, nullptr, dzp, dx, dx);
                }
            }
#endif
        }
        if constexpr (input_grad) std::swap(d, other);
    }

private:
    /// Forward of a direct_conv stage, sample by sample: pad, convolve into Z (and Y = ReLU(Z)
    /// on the registers when ReLU is the whole epilogue), else the epilogue over the sample's Z.
    template <class S, std::size_t I, class Ex, class T>
    static void direct_forward(Ex& ex, const T* w, const T* bias, const T* x) {
#if CTNN_CPU_FUSED
        using DP = typename Ex::direct;
        using D = typename DP::template direct_of<S>;
        using Epi = typename S::epilogue;
        constexpr std::size_t n_in = S::in_size, n = S::out_size;
        constexpr bool relu = cpu::detail::epilogue_is_relu<Epi>;
        constexpr std::size_t weight_floats = DP::template weight_floats<S>;
        float* xp = ex.direct_.data();
        // Packed once per weight: a pass compares the weight with the copy it was packed from
        // (a memcmp of the weight, far cheaper than Winograd's transform of it at batch 1).
        float* last = ex.packed_.data() + DP::template packed_offset<I>;
        float* wt = last + weight_floats;
        if (std::memcmp(last, w, weight_floats * sizeof(float)) != 0) {
            std::memcpy(last, w, weight_floats * sizeof(float));
            D::pack(w, wt);
        }
        // The for_each a Winograd kernel runs its 16 GEMMs with: on intra_threads() threads.
        const auto intra_for_each = [nt = ex.intra_threads()](unsigned count, auto&& f) {
            if (nt <= 1) {
                for (unsigned i = 0; i < count; ++i) f(i);
                return;
            }
            ctnn::detail::ThreadPool::instance().run(nt, [&](unsigned t) {
                for (unsigned i = count * t / nt; i < count * (t + 1) / nt; ++i) f(i);
            });
        };
        // What the store writes: Z and Y, or with ReLU (whose derivative backward reads from
        // Y > 0) Y only; with a max pool that reads only this stage (pool_fused), the pooled
        // output too, into stage I + 1's Z. Inference keeps the pooled output alone.
        using Store = typename D::Store;
        constexpr bool pool = relu && DP::template pool_fused<I>;
        // Every sample: z and y advance by their per-sample sizes (a null z stays null).
        const auto sweep = [&]<Store St>(T* z, std::size_t nz, T* y, std::size_t ny) {
            ElemCtx c = ex.ctx_;
            for (std::size_t b = 0; b < ex.batch_; ++b) {
                D::pad(x + b * n_in, xp);
                T* zb = z == nullptr ? nullptr : z + b * nz;
                T* yb = y + b * ny;
                if constexpr (conv_lowering<S>::winograd)
                    D::template run<relu, St>(wt, bias, xp, zb, yb, intra_for_each);
                else D::template run<relu, St>(wt, bias, xp, zb, yb);
                if constexpr (!relu && Epi::size > 0)
                    for (std::size_t i = 0; i < n; ++i) {
                        c.index = b * n + i;
                        yb[i] = Epi::apply(zb[i], c);
                    }
            }
        };
        if constexpr (pool) {
            constexpr std::size_t n_pool = D::PH * D::PW * conv_lowering<S>::out_channels;
            T* pooled = ex.z_of(I + 1);
            if (ex.keep_)
                sweep.template operator()<Store::y_and_pool>(pooled, n_pool, ex.y_of(I), n);
            else sweep.template operator()<Store::pool>(nullptr, 0, pooled, n_pool);
        } else if constexpr (relu) {
            sweep.template operator()<Store::y>(nullptr, 0, ex.y_of(I), n);
        } else {
            sweep.template operator()<Store::z_and_y>(ex.z_of(I), n, ex.y_of(I), n);
        }
#else
        (void)ex, (void)w, (void)bias, (void)x;
#endif
    }
};

} // namespace ctnn::eigen::detail
