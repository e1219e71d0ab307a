// ctnn/backend/cpu/eigen/eval/common.hpp — what every evaluator of eigen::Executor shares.
//
// eigen::Executor (../executor.hpp) walks the stages with the runner and hands each one to
// Eval<S::kind>, one specialization per stage kind in this folder (dense.hpp, conv.hpp, ...), as
// Eigen's evaluator<> splits expression nodes from their evaluation. An evaluator has two static
// members, called with the executor (whose friend it is: it reads the pass's views and scratch):
//     template <class S, std::size_t I, class Ex> static void forward(Ex&, const T* params);
//     template <class S, std::size_t I, class Ex>
//     static void backward(Ex&, const T* params, T* grads, T*& d, T*& other);
// backward receives dL/dZ in d (the executor has applied the epilogue's derivative) and leaves
// the stage input's gradient in d when gradient_flow::input_grad[I], swapping d and other when
// it wrote it to other (backend/runner.hpp).
#pragma once
#include "../../../../config.hpp"
#include "../../../../layers/layer.hpp"

// ctnn runs Eigen on the host only. Under nvcc, keep Eigen from annotating itself for the device
// (its defaulted members annotated for host and device draw nvcc warnings and cost compile time).
#if CTNN_DEVICE_COMPILE && !defined(EIGEN_NO_CUDA)
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Core>

#include <cstddef>

namespace ctnn::eigen::detail {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using MapMat = Eigen::Map<Mat<T>>;
template <class T>
using MapConstMat = Eigen::Map<const Mat<T>>;
template <class T>
using MapVec = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;

inline Eigen::Index idx(std::size_t v) { return static_cast<Eigen::Index>(v); }

/// The evaluator of stages of kind K (one specialization per kind, in this folder).
template <LayerKind K>
struct Eval;

} // namespace ctnn::eigen::detail
