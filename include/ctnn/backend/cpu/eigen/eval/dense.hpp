// ctnn/backend/cpu/eigen/eval/dense.hpp — Dense stages: Z = W^T X, one GEMM for the batch (for
// a Dense applied at every step of a sequence [T, F], one GEMM for the batch's B T steps).
//
// A batch tensor of B samples of n values is stored sample-major (PyTorch's [B, n] row-major),
// which Eigen sees as a column-major n x B matrix; a Dense weight [out, in] row-major is a
// column-major in x out matrix W. Backward: dW = X dZ^T, db = the row sums of dZ, dX = W dZ.
// In a mixed precision (Ex::gemm_operands bf16 or fp16) the GEMMs read rounded copies of W, X and
// dZ (eval/mixed.hpp): the CUDA path's tensor-core arithmetic. In a quantized model (int8) the
// forward GEMM is an int8 one with dequantized sums (eval/int8.hpp).
#pragma once
#include "../../../../graph/fold.hpp"
#include "../../threads.hpp"
#include "common.hpp"
#include "epilogue.hpp"
#include "int8.hpp"
#include "mixed.hpp"
#include "norm.hpp"

#include <cstddef>
#include <utility>

namespace ctnn::eigen::detail {

template <>
struct Eval<LayerKind::dense> {
    /// Z = W^T X in float. A batch too small to split: ctnn's threads share the output rows (at
    /// batch 1 a GEMV that streams the weight, so each thread streams its part).
    template <class Ex, class T>
    static void float_gemm(Ex& ex, const MapConstMat<T>& W, const MapConstMat<T>& X, MapMat<T>& Z,
                           std::size_t n_out) {
        const unsigned nt = ex.intra_threads();
        if (nt > 1 && n_out >= 64) {
            ctnn::detail::ThreadPool::instance().run(nt, [&](unsigned t) {
                const std::size_t r0 = n_out * t / nt, r1 = n_out * (t + 1) / nt;
                Z.middleRows(idx(r0), idx(r1 - r0)).noalias() =
                    W.middleCols(idx(r0), idx(r1 - r0)).transpose() * X;
            });
        } else {
            Z.noalias() = W.transpose() * X;
        }
    }

    template <class S, std::size_t I, class Ex, class T>
    static void forward(Ex& ex, const T* params) {
        using A = typename S::anchor;
        using Epi = typename S::epilogue;
        constexpr std::size_t n_in = A::bound::in_features, n_out = A::layer::units;
        constexpr std::size_t steps = A::bound::steps; // > 1: applied at every step
        const std::size_t cols = ex.batch_ * steps;
        const T* w = params + A::param_offset;
        MapMat<T> Z(ex.z_of(I), n_out, idx(cols));
        if constexpr (Ex::gemm_operands == GemmOperands::int8 && int8_stage<S>()) {
            Int8Eval::dense<S, I>(ex, ex.x_of(I), ex.z_of(I)); // Z dequantized (eval/int8.hpp)
        } else {
            // The GEMM's operands: in a mixed precision rounded copies (eval/mixed.hpp).
            MapConstMat<T> W(gemm_operand<Ex>(w, ex.rounded_.data(), 0, n_in * n_out), n_in, n_out);
            MapConstMat<T> X(
                gemm_operand<Ex>(ex.x_of(I), ex.rounded_.data(), n_in * n_out, n_in * cols), n_in,
                idx(cols));
            float_gemm(ex, W, X, Z, n_out);
        }
        const T* bias = A::layer::has_bias ? w + n_in * n_out : nullptr;
        if constexpr (steps > 1) {
            // The bias is per feature, not per value of the sample: added here, then the
            // epilogue (if any) reads Z as it is.
            if (bias)
                Z.colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(bias, n_out);
            if constexpr (Epi::size > 0)
                epilogue<S>(ex.batch_, ex.ctx_, ex.z_of(I), nullptr, ex.y_of(I), nullptr);
            return;
        } else {
            T* zs = bias ? ex.z_of(I) : nullptr;
            // A BatchNorm right after, folded into this sweep in inference (folds_into_previous).
            if constexpr (folds_into_previous<typename Ex::stages, I + 1>) {
                if (!ex.ctx_.training) {
                    epilogue<S>(ex.batch_, ex.ctx_, ex.z_of(I), zs, ex.y_of(I), bias,
                                Eval<LayerKind::batch_norm>::fold<I + 1>(ex, params));
                    return;
                }
            }
            if (bias || Epi::size > 0)
                epilogue<S>(ex.batch_, ex.ctx_, ex.z_of(I), zs, ex.y_of(I), bias);
        }
    }

    template <class S, std::size_t I, class Ex, class T>
    static void backward(Ex& ex, const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n_in = A::bound::in_features, n_out = A::layer::units;
        const auto B = idx(ex.batch_ * A::bound::steps); // columns: samples times steps
        const T* w = params + A::param_offset;
        T* gw = grads + A::param_offset;
        // The GEMMs' operands: in a mixed precision rounded copies (eval/mixed.hpp), the bias
        // gradient the sum of the rounded dZ (the CUDA path's ones column).
        const std::size_t cols = static_cast<std::size_t>(B);
        MapConstMat<T> dZ(
            gemm_operand<Ex>(d, ex.rounded_.data(), n_in * n_out + n_in * cols, n_out * cols),
            n_out, B);
        MapConstMat<T> X(
            gemm_operand<Ex>(ex.x_of(I), ex.rounded_.data(), n_in * n_out, n_in * cols), n_in, B);
        MapMat<T>(gw, n_in, n_out).noalias() = X * dZ.transpose();
        if constexpr (A::layer::has_bias) MapVec<T>(gw + n_in * n_out, n_out) = dZ.rowwise().sum();
        if constexpr (Ex::flow::input_grad[I]) {
            MapMat<T>(other, n_in, B).noalias() =
                MapConstMat<T>(gemm_operand<Ex>(w, ex.rounded_.data(), 0, n_in * n_out), n_in,
                               n_out) *
                dZ;
            std::swap(d, other);
        }
    }
};

} // namespace ctnn::eigen::detail
