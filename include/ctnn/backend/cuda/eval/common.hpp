// ctnn/backend/cuda/eval/common.hpp — what every evaluator of cuda::Executor shares.
//
// cuda::Executor (../executor.hpp) walks the stages with the runner and hands each one to
// Eval<S::kind>, one specialization per stage kind in this folder, which launches that kind's
// kernels (../kernels/). An evaluator has two static members, called with the executor (whose
// friend it is: it reads the pass's views, stream and scratch):
//     template <class S, std::size_t I, class Ex> static void forward(Ex&, const T* params);
//     template <class S, std::size_t I, class Ex>
//     static void backward(Ex&, const T* params, T* grads, T*& d, T*& other);
// Unlike the CPU evaluators, backward receives dL/dZ of the stage in d and fuses the epilogue
// derivative of the stage it reads (its source) into the store of the input gradient; it leaves
// that gradient in d when the runner's gradient_flow::input_grad[I], swapping d and other
// (backend/runner.hpp). Stages evaluated in an earlier stage's GEMM store (fusion.hpp) launch
// nothing.
#pragma once
#include "../../../config.hpp"
#include "../../../core/type_list.hpp"
#include "../../../graph/lowering.hpp"
#include "../../../layers/layer.hpp"

#include <cstddef>

namespace ctnn::cuda::detail {

/// The evaluator of stages of kind K (one specialization per kind, in this folder).
template <LayerKind K>
struct Eval;

/// The stage whose output stage I of Stages reads (its source).
template <class Stages, std::size_t I>
using source_stage = ctnn::detail::stage_at<Stages, ctnn::detail::stage_at<Stages, I>::source>;

/// The epilogue of stage S as the kernels take it (kernel_epilogue: activations alone are shared
/// by every stage and model that has them).
template <class S>
using epilogue_of = kernel_epilogue<typename S::epilogue>;

/// The epilogue of stage I's source, whose derivative stage I's input gradient store applies
/// (none for a stage reading the model input).
template <class Stages, std::size_t I>
using source_epilogue = std::conditional_t<ctnn::detail::stage_at<Stages, I>::from_input,
                                           KernelEpilogue<>, epilogue_of<source_stage<Stages, I>>>;

} // namespace ctnn::cuda::detail
