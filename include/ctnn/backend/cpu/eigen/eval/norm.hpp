// ctnn/backend/cpu/eigen/eval/norm.hpp — BatchNorm and LayerNorm stages, and the fold of an
// inference BatchNorm into the epilogue of the stage before it.
//
// BatchNorm: training normalizes each channel with the batch's mean and biased variance
// (accumulated in double), keeps them for backward and updates the running statistics;
// inference normalizes with the running statistics. LayerNorm: each sample normalized by its own
// mean and variance, then scaled and shifted elementwise. Both recompute xhat in backward from
// the stage input and the kept (or recomputed) statistics.
#pragma once
#include "../../../../expr/context.hpp"
#include "../../../../graph/fold.hpp"
#include "../../../../graph/lowering.hpp"
#include "common.hpp"
#include "epilogue.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

/// A BatchNorm stage Bn folded into the epilogue of the stage before it (inference only,
/// folds_into_previous): v, the biased anchor output at index i of the [batch, n] tensor
/// (position j of its sample), becomes Bn's z = v * scale[c] + shift[c] (c the channel of
/// position j in Bn's input shape) and y = Bn's epilogue(z), both stored where Bn's own pass
/// would store them.
template <class Bn, class T>
struct FoldedNorm {
    static constexpr bool active = true;
    static constexpr std::size_t spatial = Bn::anchor::bound::spatial;
    const T* scale;
    const T* shift;
    T* z;
    T* y;
    void operator()(T v, std::size_t i, std::size_t j, ElemCtx& c) const {
        const std::size_t ch = j / spatial;
        const T zb = v * scale[ch] + shift[ch];
        z[i] = zb;
        if constexpr (Bn::epilogue::size > 0) {
            c.index = i;
            y[i] = Bn::epilogue::apply(zb, c);
        }
    }
};

/// The fold functor of stage J: FoldedNorm when J folds into stage J - 1, else NoFold.
template <class Stages, std::size_t J, class T, bool = folds_into_previous<Stages, J>>
struct fold_for {
    using type = NoFold<T>;
    static constexpr std::size_t channels = 0;
};
template <class Stages, std::size_t J, class T>
struct fold_for<Stages, J, T, true> {
    using type = FoldedNorm<ctnn::detail::stage_at<Stages, J>, T>;
    static constexpr std::size_t channels =
        ctnn::detail::stage_at<Stages, J>::anchor::bound::channels;
};

/// Channels of the widest BatchNorm that folds into its previous stage (0: none).
template <class Stages>
inline constexpr std::size_t fold_channels = []<std::size_t... I>(std::index_sequence<I...>) {
    return std::max({std::size_t{0}, fold_for<Stages, I, float>::channels...});
}
(std::make_index_sequence<Stages::size>{});

template <>
struct Eval<LayerKind::batch_norm> {
    /// The per-channel affine map of BatchNorm stage J in inference, scale = gamma /
    /// sqrt(running_var + eps) and shift = beta - running_mean * scale, computed as forward
    /// computes it (same roundings), into the executor's fold scratch; also records the
    /// statistics and mode that backward reads, as J's own pass would.
    template <std::size_t J, class Ex, class T>
    static auto fold(Ex& ex, const T* params) ->
        typename fold_for<typename Ex::stages, J, T>::type {
        using Bn = ctnn::detail::stage_at<typename Ex::stages, J>;
        using A = typename Bn::anchor;
        constexpr std::size_t C = A::bound::channels;
        const T* gamma = params + A::param_offset;
        const T* beta = gamma + C;
        const T* running_mean = ex.buffers_ + A::buffer_offset;
        const T* running_var = running_mean + C;
        T* mean = ex.stats_.data() + Ex::plan::layout[J].stats;
        T* invstd = mean + C;
        T* scale = ex.fold_.data();
        T* shift = scale + C;
        const auto eps = static_cast<double>(A::layer::eps);
        for (std::size_t c = 0; c < C; ++c) {
            mean[c] = running_mean[c];
            invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
            scale[c] = invstd[c] * gamma[c];
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        ex.bn_training_[J] = false;
        return {scale, shift, ex.z_of(J), ex.y_of(J)};
    }

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        constexpr std::size_t C = A::bound::channels, HW = A::bound::spatial, n = S::in_size;
        const std::size_t batch = ex.batch_;
        const bool training = ex.ctx_.training;
        const T* x = ex.x_of(I);
        const T* gamma = params + A::param_offset;
        const T* beta = gamma + C;
        T* running_mean = ex.buffers_ + A::buffer_offset;
        T* running_var = running_mean + C;
        T* tracked = running_var + C;
        T* mean = ex.stats_.data() + Ex::plan::layout[I].stats;
        T* invstd = mean + C;
        T* z = ex.z_of(I);
        const std::size_t count = batch * HW; // >= 2 in training (StageRunner::check_pass)
        ex.bn_training_[I] = training;
        const auto eps = static_cast<double>(A::layer::eps);
        for (std::size_t c = 0; c < C; ++c) {
            double mu = 0, var = 0;
            if (training) {
                for (std::size_t b = 0; b < batch; ++b) {
                    const T* r = x + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) mu += static_cast<double>(r[p]);
                }
                mu /= static_cast<double>(count);
                for (std::size_t b = 0; b < batch; ++b) {
                    const T* r = x + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) {
                        const double e = static_cast<double>(r[p]) - mu;
                        var += e * e;
                    }
                }
                var /= static_cast<double>(count);
                const auto m = static_cast<double>(A::layer::momentum);
                const double unbiased =
                    var * static_cast<double>(count) / static_cast<double>(count - 1);
                running_mean[c] =
                    static_cast<T>((1 - m) * static_cast<double>(running_mean[c]) + m * mu);
                running_var[c] =
                    static_cast<T>((1 - m) * static_cast<double>(running_var[c]) + m * unbiased);
            } else {
                mu = static_cast<double>(running_mean[c]);
                var = static_cast<double>(running_var[c]);
            }
            mean[c] = static_cast<T>(mu);
            invstd[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
            // z = (x - mean) * invstd * gamma + beta = x * scale + shift
            const T scale = invstd[c] * gamma[c];
            const T shift = beta[c] - mean[c] * scale;
            for (std::size_t b = 0; b < batch; ++b) {
                const T* r = x + b * n + c * HW;
                T* zr = z + b * n + c * HW;
                for (std::size_t p = 0; p < HW; ++p) zr[p] = r[p] * scale + shift;
            }
        }
        if (training) tracked[0] += T(1);
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(batch, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    /// dbeta = sum dZ, dgamma = sum dZ xhat, and (training) dX = gamma invstd (dZ - dbeta / N -
    /// xhat dgamma / N) over the N values of a channel; (inference) dX = gamma invstd dZ.
    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t C = A::bound::channels, HW = A::bound::spatial, n = S::in_size;
        constexpr bool input_grad = Ex::flow::input_grad[I];
        const std::size_t batch = ex.batch_;
        const T* gamma = params + A::param_offset;
        T* dgamma = grads + A::param_offset;
        T* dbeta = dgamma + C;
        const T* mean = ex.stats_.data() + Ex::plan::layout[I].stats;
        const T* invstd = mean + C;
        const T* x = ex.x_of(I);
        const auto count = static_cast<T>(batch * HW);
        for (std::size_t c = 0; c < C; ++c) {
            T sum_dz = T(0), sum_dz_xhat = T(0);
            for (std::size_t b = 0; b < batch; ++b) {
                const T* r = x + b * n + c * HW;
                const T* dz = d + b * n + c * HW;
                for (std::size_t p = 0; p < HW; ++p) {
                    sum_dz += dz[p];
                    sum_dz_xhat += dz[p] * (r[p] - mean[c]) * invstd[c];
                }
            }
            dgamma[c] = sum_dz_xhat;
            dbeta[c] = sum_dz;
            if constexpr (input_grad) {
                const T k = gamma[c] * invstd[c];
                const bool training = ex.bn_training_[I];
                const T mean_dz = training ? sum_dz / count : T(0);
                const T mean_dz_xhat = training ? sum_dz_xhat / count : T(0);
                for (std::size_t b = 0; b < batch; ++b) {
                    const T* r = x + b * n + c * HW;
                    const T* dz = d + b * n + c * HW;
                    T* dx = other + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) {
                        const T xhat = (r[p] - mean[c]) * invstd[c];
                        dx[p] = k * (dz[p] - mean_dz - xhat * mean_dz_xhat);
                    }
                }
            }
        }
        if constexpr (input_grad) std::swap(d, other);
    }
};

template <>
struct Eval<LayerKind::layer_norm> {
    /// Mean and 1/sqrt(var + eps) of one sample's n values (accumulated in double).
    template <class A, class T>
    static std::pair<T, T> sample_stats(const T* r, std::size_t n) {
        double mu = 0, var = 0;
        for (std::size_t j = 0; j < n; ++j) mu += static_cast<double>(r[j]);
        mu /= static_cast<double>(n);
        for (std::size_t j = 0; j < n; ++j) {
            const double e = static_cast<double>(r[j]) - mu;
            var += e * e;
        }
        var /= static_cast<double>(n);
        return {static_cast<T>(mu),
                static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(A::layer::eps)))};
    }

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        const T* x = ex.x_of(I);
        const T* w = params + A::param_offset;
        const T* bias = w + n;
        T* z = ex.z_of(I);
        for (std::size_t b = 0; b < ex.batch_; ++b) {
            const T* r = x + b * n;
            const auto [mu, is] = sample_stats<A>(r, n);
            T* zr = z + b * n;
            for (std::size_t j = 0; j < n; ++j) zr[j] = (r[j] - mu) * is * w[j] + bias[j];
        }
        if constexpr (S::epilogue::size > 0)
            epilogue<S>(ex.batch_, ex.ctx_, z, nullptr, ex.y_of(I), nullptr);
    }

    /// dW = sum dZ xhat, dB = sum dZ, dX = invstd (g - mean(g) - xhat mean(g xhat)) with
    /// g = dZ W, per sample.
    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        constexpr bool input_grad = Ex::flow::input_grad[I];
        const T* w = params + A::param_offset;
        T* dw = grads + A::param_offset;
        T* db = dw + n;
        std::fill(dw, dw + 2 * n, T(0));
        const T* x = ex.x_of(I);
        for (std::size_t b = 0; b < ex.batch_; ++b) {
            const T* r = x + b * n;
            const T* dz = d + b * n;
            const auto [mu, is] = sample_stats<A>(r, n);
            T mean_g = T(0), mean_g_xhat = T(0);
            for (std::size_t j = 0; j < n; ++j) {
                const T xhat = (r[j] - mu) * is;
                dw[j] += dz[j] * xhat;
                db[j] += dz[j];
                mean_g += dz[j] * w[j];
                mean_g_xhat += dz[j] * w[j] * xhat;
            }
            if constexpr (input_grad) {
                mean_g /= static_cast<T>(n);
                mean_g_xhat /= static_cast<T>(n);
                T* dx = other + b * n;
                for (std::size_t j = 0; j < n; ++j) {
                    const T xhat = (r[j] - mu) * is;
                    dx[j] = is * (dz[j] * w[j] - mean_g - xhat * mean_g_xhat);
                }
            }
        }
        if constexpr (input_grad) std::swap(d, other);
    }
};

} // namespace ctnn::eigen::detail
