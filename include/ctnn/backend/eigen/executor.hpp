// ctnn/backend/eigen/executor.hpp — evaluates a model's stages on the CPU with Eigen.
//
// Memory layout: a batch tensor of B samples of n values is stored sample-major (PyTorch's [B, n]
// row-major), which Eigen sees as a column-major n x B matrix. A Dense weight [out, in] row-major
// is a column-major in x out matrix W, so a Dense stage is Z = W^T X, one GEMM for the whole batch.
// Each stage's epilogue (bias, activations, dropout) is one fused sweep over the GEMM output.
//
// Workspace: per stage, the anchor output Z (kept for the backward pass) and the epilogue output Y.
// All buffers are sized from the model type times the batch capacity and allocated once by
// reserve(); forward() and backward() never allocate while the batch fits.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../expr/context.hpp"
#include "../../expr/dual.hpp"
#include "../../graph/lowering.hpp"

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
        capacity_ = batch;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Runs the forward pass on `batch` samples x ([batch, in_size] row-major, kept alive by the
    /// caller until backward()). Returns the output, [batch, out_size] row-major.
    const T* forward(const T* params, const T* x, std::size_t batch, ElemCtx ctx) {
        reserve(batch);
        batch_ = batch;
        input_ = x;
        ctx_ = ctx;
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
                             stage_count - 1 - I>(params, grads, d, other)),
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
        }
        // No anchor: dX = dZ, already in d.
    }

    std::vector<T> act_, grad_a_, grad_b_;
    std::size_t capacity_ = 0, batch_ = 0;
    const T* input_ = nullptr;
    ElemCtx ctx_{};
};

} // namespace ctnn::eigen
