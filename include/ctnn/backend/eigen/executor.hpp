// ctnn/backend/eigen/executor.hpp — evaluates a model's stages on the CPU with Eigen.
//
// Memory layout: a batch tensor of B samples of n values is stored sample-major (PyTorch's [B, n]
// row-major), which Eigen sees as a column-major n x B matrix. A Dense weight [out, in] row-major
// is a column-major in x out matrix W, so a Dense stage is Z = W^T X, one GEMM for the whole batch.
// Each stage's epilogue (bias, activations, dropout) is one fused sweep over the GEMM output.
//
// A Conv2D stage is im2col + GEMM: a chunk of samples is unfolded into a (samples * pixels) x taps
// matrix (window.hpp), multiplied by the weight [out, taps] (one GEMM per group), and the epilogue
// sweep scatters the GEMM output back to the channel-first layout [out, oh, ow] while it adds the
// bias and applies the fused ops. Backward unfolds the chunk again (nothing but the stage input is
// kept), accumulates dW = im2col(X)^T dZ and, for the input gradient, folds dZ W back (col2im).
// Pooling stages are direct loops; max pooling finds each window's argmax again in backward.
//
// Workspace: per stage, the anchor output Z (kept for the backward pass) and the epilogue output Y.
// All buffers are sized from the model type times the batch capacity and allocated once by
// reserve(); the im2col scratch is sized from the model type alone (workspace_plan::scratch).
// forward() and backward() never allocate while the batch fits.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../expr/context.hpp"
#include "../../expr/dual.hpp"
#include "../../graph/lowering.hpp"
#include "window.hpp"

// ctnn runs Eigen on the host only. Under nvcc, keep Eigen from annotating itself for the device
// (its __host__ __device__ defaulted members draw nvcc warnings and cost compile time).
#if CTNN_DEVICE_COMPILE && !defined(EIGEN_NO_CUDA)
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ctnn::eigen {

namespace detail {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using MapMat = Eigen::Map<Mat<T>>;
template <class T>
using MapConstMat = Eigen::Map<const Mat<T>>;
template <class T>
using MapVec = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;

} // namespace detail

/// Stage-by-stage evaluation of Net on the CPU, in precision T (float, or double for checks).
template <class Net, class T = float>
class Executor {
public:
    using stages = stages_of<Net>;
    using plan = workspace_plan<stages>;
    static constexpr std::size_t stage_count = stages::size;

    /// Allocates workspace for batches of up to `batch` samples (no-op if already large enough).
    void reserve(std::size_t batch) {
        if (batch <= capacity_) return;
        act_.assign(plan::per_sample * batch, T(0));
        grad_a_.assign(plan::grad_per_sample * batch, T(0));
        grad_b_.assign(plan::grad_per_sample * batch, T(0));
        skip_grad_.assign(plan::skip_grad_per_sample * batch, T(0));
        if (scratch_.size() != plan::scratch) scratch_.assign(plan::scratch, T(0));
        if (stats_.size() != plan::stats) stats_.assign(plan::stats, T(0));
        capacity_ = batch;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Runs the forward pass on `batch` samples x ([batch, in_size] row-major, kept alive by the
    /// caller until backward()). Returns the output, [batch, out_size] row-major. `buffers` is the
    /// model's buffer storage (Net::buffer_count values: BatchNorm's running statistics), read in
    /// inference and updated by a training pass; it may be null for a model without buffers.
    const T* forward(const T* params, const T* x, std::size_t batch, ElemCtx ctx,
                     T* buffers = nullptr) {
        if constexpr (Net::buffer_count > 0)
            if (buffers == nullptr)
                throw argument_error("eigen::Executor::forward: this model has buffers "
                                     "(BatchNorm statistics) but none were given");
        reserve(batch);
        batch_ = batch;
        input_ = x;
        ctx_ = ctx;
        buffers_ = buffers;
        ctnn::detail::for_each_type(stages{},
                                    [&]<class S, std::size_t I>() { forward_stage<S, I>(params); });
        return output();
    }

    /// Output of the last forward pass.
    [[nodiscard]] const T* output() const { return y_of<stage_count - 1>(); }

    /// Buffer for dLoss/dOutput, [batch, out_size]: the loss writes it, backward() consumes it.
    [[nodiscard]] T* output_grad() { return grad_a_.data(); }

    /// Backward pass of the last forward pass. Reads output_grad(), writes all parameter gradients
    /// (overwriting, not accumulating) into grads.
    void backward(const T* params, T* grads) {
        T* d = grad_a_.data();
        T* other = grad_b_.data();
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((backward_stage<std::tuple_element_t<stage_count - 1 - I, as_tuple>,
                             stage_count - 1 - I>(params, grads, d, other),
              join_skips<stage_count - 1 - I>(d)),
             ...);
        }
        (std::make_index_sequence<stage_count>{});
    }

private:
    template <class List>
    struct to_tuple;
    template <class... S>
    struct to_tuple<type_list<S...>> {
        using type = std::tuple<S...>;
    };
    using as_tuple = typename to_tuple<stages>::type;

    template <std::size_t I>
    T* z_of() {
        return act_.data() + plan::layout[I].z * batch_;
    }
    template <std::size_t I>
    const T* y_of() const {
        return act_.data() + plan::layout[I].y * batch_;
    }
    template <std::size_t I>
    T* y_of() {
        return act_.data() + plan::layout[I].y * batch_;
    }
    template <std::size_t I>
    T* skip_grad_of() {
        return skip_grad_.data() + plan::layout[I].skip_grad * batch_;
    }
    template <std::size_t I>
    const T* x_of() const {
        if constexpr (I == 0) return input_;
        else return y_of<I - 1>();
    }

    /// Applies the stage's epilogue: y = epi(z [+ bias]) over the [batch, n] tensor; with a bias
    /// the biased z is stored back (the backward pass differentiates the epilogue at it).
    template <class S>
    void epilogue(const T* z, T* z_store, T* y, const T* bias) {
        constexpr std::size_t n = S::out_size;
        using Epi = typename S::epilogue;
        ElemCtx c = ctx_;
        for (std::size_t b = 0; b < batch_; ++b) {
            const T* zr = z + b * n;
            T* yr = y + b * n;
            for (std::size_t j = 0; j < n; ++j) {
                T v = zr[j];
                if (bias) v += bias[j];
                if (z_store) z_store[b * n + j] = v;
                if constexpr (Epi::size > 0) {
                    c.index = b * n + j;
                    yr[j] = Epi::apply(v, c);
                }
            }
        }
    }

    /// The epilogue of a convolution chunk: g is the GEMM output of `samples` samples from s0, a
    /// column-major (samples * pixels) x out matrix; it is scattered to the [out, oh, ow] layout
    /// of each sample as z (biased) and y = epi(z).
    template <class S>
    void conv_epilogue(const T* g, std::size_t s0, std::size_t samples, T* z, T* y, const T* bias) {
        using L = conv_lowering<S>;
        using Epi = typename S::epilogue;
        constexpr std::size_t P = L::pixels, n = S::out_size;
        const std::size_t rows = samples * P;
        ElemCtx c = ctx_;
        for (std::size_t s = 0; s < samples; ++s)
            for (std::size_t o = 0; o < L::out_channels; ++o) {
                const T* src = g + o * rows + s * P;
                const std::size_t base = (s0 + s) * n + o * P;
                const T b = bias ? bias[o] : T(0);
                for (std::size_t p = 0; p < P; ++p) {
                    const T v = src[p] + b;
                    z[base + p] = v;
                    if constexpr (Epi::size > 0) {
                        c.index = base + p;
                        y[base + p] = Epi::apply(v, c);
                    }
                }
            }
    }

    template <class S, std::size_t I>
    void forward_stage(const T* params) {
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        using Epi = typename S::epilogue;
        const T* x = x_of<I>();
        const auto B = static_cast<Eigen::Index>(batch_);
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            detail::MapConstMat<T> W(w, n_in, n_out);
            detail::MapConstMat<T> X(x, n_in, B);
            detail::MapMat<T> Z(z_of<I>(), n_out, B);
            Z.noalias() = W.transpose() * X;
            const T* bias = A::layer::has_bias ? w + n_in * n_out : nullptr;
            if (bias || Epi::size > 0)
                epilogue<S>(z_of<I>(), bias ? z_of<I>() : nullptr, y_of<I>(), bias);
        } else if constexpr (S::kind == LayerKind::rowwise) {
            using A = typename S::anchor;
            T* z = z_of<I>();
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* xr = x + b * n_in;
                T* zr = z + b * n_out;
                T m = xr[0];
                for (std::size_t j = 1; j < n_in; ++j) m = std::max(m, xr[j]);
                T s = T(0);
                for (std::size_t j = 0; j < n_in; ++j) s += std::exp(xr[j] - m);
                if constexpr (A::layer::log) {
                    const T lse = m + std::log(s);
                    for (std::size_t j = 0; j < n_in; ++j) zr[j] = xr[j] - lse;
                } else {
                    const T inv = T(1) / s;
                    for (std::size_t j = 0; j < n_in; ++j) zr[j] = std::exp(xr[j] - m) * inv;
                }
            }
            if constexpr (Epi::size > 0) epilogue<S>(z, nullptr, y_of<I>(), nullptr);
        } else if constexpr (S::kind == LayerKind::conv) {
            using A = typename S::anchor;
            using L = conv_lowering<S>;
            constexpr auto G = A::bound::window;
            constexpr std::size_t groups = A::bound::group_count, kg = A::bound::taps_per_group,
                                  og = L::out_channels / groups, P = L::pixels;
            const T* w = params + A::param_offset;
            const T* bias = A::layer::has_bias ? w + kg * L::out_channels : nullptr;
            detail::MapConstMat<T> W(w, kg, L::out_channels);
            T* col = scratch_.data();
            T* gout = col + L::chunk * P * L::taps;
            for (std::size_t s0 = 0; s0 < batch_; s0 += L::chunk) {
                const std::size_t samples = std::min(L::chunk, batch_ - s0);
                const auto rows = static_cast<Eigen::Index>(samples * P);
                detail::im2col<G>(x + s0 * n_in, samples, col);
                detail::MapConstMat<T> Col(col, rows, L::taps);
                detail::MapMat<T> Out(gout, rows, L::out_channels);
                for (std::size_t g = 0; g < groups; ++g)
                    Out.middleCols(idx(g * og), idx(og)).noalias() =
                        Col.middleCols(idx(g * kg), idx(kg)) * W.middleCols(idx(g * og), idx(og));
                conv_epilogue<S>(gout, s0, samples, z_of<I>(), y_of<I>(), bias);
            }
        } else if constexpr (S::kind == LayerKind::pool) {
            using A = typename S::anchor;
            detail::pool_forward<A::bound::window, A::layer::op>(x, batch_, z_of<I>());
            if constexpr (Epi::size > 0) epilogue<S>(z_of<I>(), nullptr, y_of<I>(), nullptr);
        } else if constexpr (S::kind == LayerKind::add) {
            // A Residual's join: z = body output + skip, then the fused epilogue.
            using A = typename S::anchor;
            const T* skip = A::skip_is_input ? input_ : y_of<A::skip_stage>();
            T* z = z_of<I>();
            const std::size_t total = batch_ * n_out;
            for (std::size_t i = 0; i < total; ++i) z[i] = x[i] + skip[i];
            if constexpr (Epi::size > 0) epilogue<S>(z, nullptr, y_of<I>(), nullptr);
        } else if constexpr (S::kind == LayerKind::batch_norm) {
            batch_norm_forward<S, I>(params, x);
            if constexpr (Epi::size > 0) epilogue<S>(z_of<I>(), nullptr, y_of<I>(), nullptr);
        } else if constexpr (S::kind == LayerKind::layer_norm) {
            layer_norm_forward<S, I>(params, x);
            if constexpr (Epi::size > 0) epilogue<S>(z_of<I>(), nullptr, y_of<I>(), nullptr);
        } else {
            // No anchor: the epilogue reads the stage input directly.
            epilogue<S>(x, nullptr, y_of<I>(), nullptr);
        }
    }

    template <class S, std::size_t I>
    void backward_stage(const T* params, T* grads, T*& d, T*& other) {
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        using Epi = typename S::epilogue;
        const auto B = static_cast<Eigen::Index>(batch_);
        // 1. Through the epilogue: dZ = dY * epi'(z), in place.
        if constexpr (Epi::size > 0) {
            const T* z = S::has_anchor ? z_of<I>() : x_of<I>();
            ElemCtx c = ctx_;
            const std::size_t total = batch_ * n_out;
            for (std::size_t i = 0; i < total; ++i) {
                c.index = i;
                d[i] *= Epi::apply(expr::Dual<T>{z[i], T(1)}, c).d;
            }
        }
        // 2. Through the anchor.
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            T* gw = grads + A::param_offset;
            detail::MapConstMat<T> dZ(d, n_out, B);
            detail::MapConstMat<T> X(x_of<I>(), n_in, B);
            detail::MapMat<T>(gw, n_in, n_out).noalias() = X * dZ.transpose();
            if constexpr (A::layer::has_bias)
                detail::MapVec<T>(gw + n_in * n_out, n_out) = dZ.rowwise().sum();
            if constexpr (I > 0) {
                detail::MapMat<T>(other, n_in, B).noalias() =
                    detail::MapConstMat<T>(w, n_in, n_out) * dZ;
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::rowwise) {
            using A = typename S::anchor;
            if constexpr (I > 0) {
                const T* z = z_of<I>();
                for (std::size_t b = 0; b < batch_; ++b) {
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
        } else if constexpr (S::kind == LayerKind::add) {
            // dZ flows unchanged into the body (it stays in d) and into the skip: kept until the
            // backward pass reaches the body's first stage (join_skips).
            if constexpr (!S::anchor::skip_is_input)
                std::copy(d, d + batch_ * n_out, skip_grad_of<I>());
        } else if constexpr (S::kind == LayerKind::batch_norm) {
            batch_norm_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::layer_norm) {
            layer_norm_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::conv) {
            conv_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::pool) {
            using A = typename S::anchor;
            if constexpr (I > 0) {
                detail::pool_backward<A::bound::window, A::layer::op>(x_of<I>(), d, batch_, other);
                std::swap(d, other);
            }
        }
        // No anchor: dX = dZ, already in d.
    }

    /// After the backward pass of stage J, d holds the gradient of J's input; if J is the first
    /// stage of Residual bodies, that input is their skip source: add their skip gradients.
    template <std::size_t J>
    void join_skips(T* d) {
        if constexpr (J > 0) {
            ctnn::detail::for_each_type(stages{}, [&]<class S, std::size_t K>() {
                if constexpr (S::kind == LayerKind::add) {
                    if constexpr (!S::anchor::skip_is_input && S::anchor::body_first == J) {
                        const T* g = skip_grad_of<K>();
                        const std::size_t total = batch_ * S::out_size;
                        for (std::size_t i = 0; i < total; ++i) d[i] += g[i];
                    }
                }
            });
        } else {
            (void)d;
        }
    }

    /// Backward through a convolution anchor; d holds dZ ([batch, out, oh, ow]).
    template <class S, std::size_t I>
    void conv_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using L = conv_lowering<S>;
        constexpr auto G = A::bound::window;
        constexpr std::size_t groups = A::bound::group_count, kg = A::bound::taps_per_group,
                              og = L::out_channels / groups, P = L::pixels, n_in = S::in_size,
                              n_out = S::out_size;
        const T* w = params + A::param_offset;
        T* gw = grads + A::param_offset;
        detail::MapConstMat<T> W(w, kg, L::out_channels);
        detail::MapMat<T> GW(gw, kg, L::out_channels);
        GW.setZero();
        detail::MapVec<T> GB(gw + kg * L::out_channels, A::layer::has_bias ? L::out_channels : 0);
        GB.setZero();
        T* col = scratch_.data();
        T* dzc = col + L::chunk * P * L::taps;
        for (std::size_t s0 = 0; s0 < batch_; s0 += L::chunk) {
            const std::size_t samples = std::min(L::chunk, batch_ - s0);
            const std::size_t rows = samples * P;
            detail::im2col<G>(x_of<I>() + s0 * n_in, samples, col);
            // dZ of the chunk as a column-major rows x out matrix, the GEMM output's layout.
            for (std::size_t s = 0; s < samples; ++s)
                for (std::size_t o = 0; o < L::out_channels; ++o)
                    std::copy_n(d + (s0 + s) * n_out + o * P, P, dzc + o * rows + s * P);
            detail::MapMat<T> Col(col, idx(rows), L::taps);
            detail::MapConstMat<T> DZ(dzc, idx(rows), L::out_channels);
            if constexpr (A::layer::has_bias) GB += DZ.colwise().sum().transpose();
            for (std::size_t g = 0; g < groups; ++g)
                GW.middleCols(idx(g * og), idx(og)).noalias() +=
                    Col.middleCols(idx(g * kg), idx(kg)).transpose() *
                    DZ.middleCols(idx(g * og), idx(og));
            if constexpr (I > 0) {
                // dCol = dZ W^T, written over the im2col matrix (no longer needed), then folded.
                for (std::size_t g = 0; g < groups; ++g)
                    Col.middleCols(idx(g * kg), idx(kg)).noalias() =
                        DZ.middleCols(idx(g * og), idx(og)) *
                        W.middleCols(idx(g * og), idx(og)).transpose();
                T* dx = other + s0 * n_in;
                std::fill(dx, dx + samples * n_in, T(0));
                detail::col2im<G>(col, samples, dx);
            }
        }
        if constexpr (I > 0) std::swap(d, other);
    }

    /// BatchNorm forward. Training: normalizes each channel with the batch's mean and biased
    /// variance (accumulated in double), keeps them for backward, and updates the running
    /// statistics; inference: normalizes with the running statistics.
    template <class S, std::size_t I>
    void batch_norm_forward(const T* params, const T* x) {
        using A = typename S::anchor;
        constexpr std::size_t C = A::bound::channels, HW = A::bound::spatial, n = S::in_size;
        const T* gamma = params + A::param_offset;
        const T* beta = gamma + C;
        T* running_mean = buffers_ + A::buffer_offset;
        T* running_var = running_mean + C;
        T* tracked = running_var + C;
        T* mean = stats_.data() + plan::layout[I].stats;
        T* invstd = mean + C;
        T* z = z_of<I>();
        const std::size_t count = batch_ * HW;
        bn_training_[I] = ctx_.training;
        if (ctx_.training && count < 2)
            throw argument_error(std::string("BatchNorm (layer ") + std::to_string(A::index) +
                                 ") needs more than one value per channel in training; the batch "
                                 "has " +
                                 std::to_string(batch_) + " sample(s)");
        const auto eps = static_cast<double>(A::layer::eps);
        for (std::size_t c = 0; c < C; ++c) {
            double mu = 0, var = 0;
            if (ctx_.training) {
                for (std::size_t b = 0; b < batch_; ++b) {
                    const T* r = x + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) mu += static_cast<double>(r[p]);
                }
                mu /= static_cast<double>(count);
                for (std::size_t b = 0; b < batch_; ++b) {
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
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* r = x + b * n + c * HW;
                T* zr = z + b * n + c * HW;
                for (std::size_t p = 0; p < HW; ++p) zr[p] = r[p] * scale + shift;
            }
        }
        if (ctx_.training) tracked[0] += T(1);
    }

    /// BatchNorm backward, with xhat recomputed from the stage input and the kept statistics:
    /// dbeta = sum dZ, dgamma = sum dZ xhat, and (training) dX = gamma invstd (dZ - dbeta / N -
    /// xhat dgamma / N) over the N values of a channel; (inference) dX = gamma invstd dZ.
    template <class S, std::size_t I>
    void batch_norm_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t C = A::bound::channels, HW = A::bound::spatial, n = S::in_size;
        const T* gamma = params + A::param_offset;
        T* dgamma = grads + A::param_offset;
        T* dbeta = dgamma + C;
        const T* mean = stats_.data() + plan::layout[I].stats;
        const T* invstd = mean + C;
        const T* x = x_of<I>();
        const auto count = static_cast<T>(batch_ * HW);
        for (std::size_t c = 0; c < C; ++c) {
            T sum_dz = T(0), sum_dz_xhat = T(0);
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* r = x + b * n + c * HW;
                const T* dz = d + b * n + c * HW;
                for (std::size_t p = 0; p < HW; ++p) {
                    sum_dz += dz[p];
                    sum_dz_xhat += dz[p] * (r[p] - mean[c]) * invstd[c];
                }
            }
            dgamma[c] = sum_dz_xhat;
            dbeta[c] = sum_dz;
            if constexpr (I > 0) {
                const T k = gamma[c] * invstd[c];
                const bool training = bn_training_[I];
                const T mean_dz = training ? sum_dz / count : T(0);
                const T mean_dz_xhat = training ? sum_dz_xhat / count : T(0);
                for (std::size_t b = 0; b < batch_; ++b) {
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
        if constexpr (I > 0) std::swap(d, other);
    }

    /// Mean and 1/sqrt(var + eps) of one sample's n values (accumulated in double).
    template <class A>
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

    /// LayerNorm forward: each sample normalized by its own mean and variance, then scaled and
    /// shifted elementwise.
    template <class S, std::size_t I>
    void layer_norm_forward(const T* params, const T* x) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        const T* w = params + A::param_offset;
        const T* bias = w + n;
        T* z = z_of<I>();
        for (std::size_t b = 0; b < batch_; ++b) {
            const T* r = x + b * n;
            const auto [mu, is] = sample_stats<A>(r, n);
            T* zr = z + b * n;
            for (std::size_t j = 0; j < n; ++j) zr[j] = (r[j] - mu) * is * w[j] + bias[j];
        }
    }

    /// LayerNorm backward, statistics recomputed from the stage input: dW = sum dZ xhat,
    /// dB = sum dZ, dX = invstd (g - mean(g) - xhat mean(g xhat)) with g = dZ W, per sample.
    template <class S, std::size_t I>
    void layer_norm_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        const T* w = params + A::param_offset;
        T* dw = grads + A::param_offset;
        T* db = dw + n;
        std::fill(dw, dw + 2 * n, T(0));
        const T* x = x_of<I>();
        for (std::size_t b = 0; b < batch_; ++b) {
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
            if constexpr (I > 0) {
                mean_g /= static_cast<T>(n);
                mean_g_xhat /= static_cast<T>(n);
                T* dx = other + b * n;
                for (std::size_t j = 0; j < n; ++j) {
                    const T xhat = (r[j] - mu) * is;
                    dx[j] = is * (dz[j] * w[j] - mean_g - xhat * mean_g_xhat);
                }
            }
        }
        if constexpr (I > 0) std::swap(d, other);
    }

    static Eigen::Index idx(std::size_t v) { return static_cast<Eigen::Index>(v); }

    std::vector<T> act_, grad_a_, grad_b_, scratch_, stats_, skip_grad_;
    T* buffers_ = nullptr;
    std::array<bool, stage_count> bn_training_{}; ///< mode of each BatchNorm stage's last forward
    std::size_t capacity_ = 0, batch_ = 0;
    const T* input_ = nullptr;
    ElemCtx ctx_{};
};

} // namespace ctnn::eigen
