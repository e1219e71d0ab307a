// ctnn/backend/cpu/executor.hpp — which CPU executor a model runs on (cpu::executor_for).
//
// A chain of Dense stages (with their epilogues) of moderate width in float runs on the fused
// executor (fused/executor.hpp: the whole network slice by slice, weights in its own layout);
// any other model on eigen::Executor (eigen/executor.hpp), split by batch between ctnn's threads
// (BatchParallel, parallel.hpp) unless a stage couples the samples of a batch (BatchNorm).
#pragma once
#include "../../config.hpp"
#include "../../core/precision.hpp"
#include "../../graph/lowering.hpp"
#include "eigen/executor.hpp"
#include "fused/blocks.hpp"
#include "fused/executor.hpp"
#include "parallel.hpp"

#include <type_traits>

namespace ctnn::cpu {

/// True when Model<Net, T> runs on cpu::FusedExecutor: T is float, every stage of Net is a Dense
/// layer with its epilogue (any elementwise layers: activations, Dropout), every width is at most
/// fused_max_width (which depends on the instruction set), and the fused kernels are compiled in
/// (GCC or Clang; not in a CUDA-backend translation unit). Any other model (convolutions, pooling,
/// Softmax layers, a leading activation, wider layers, double precision) runs on
/// general_executor_for<Net, T> (eigen::Executor, split by batch between threads: BatchParallel).
template <class Net, class T>
inline constexpr bool fused_eligible =
    CTNN_CPU_FUSED&& std::is_same_v<T, float>&& detail::all_dense<stages_of<Net>>::value;

/// Tells an executor that the parameters it reads may have changed (a no-op for executors that
/// do not cache anything derived from them).
template <class E>
void parameters_changed(E& exec) noexcept {
    if constexpr (requires { exec.parameters_changed(); }) exec.parameters_changed();
}

/// The executor of a model the fused executor does not take: BatchParallel (eigen::Executor on
/// ctnn's threads, one batch part each) unless a stage needs the whole batch (BatchNorm). G: the
/// GEMM operand format (a mixed precision: eigen/eval/mixed.hpp).
template <class Net, class T, GemmOperands G = GemmOperands::scalar>
using general_executor_for = std::conditional_t<batch_splittable<Net>, BatchParallel<Net, T, G>,
                                                eigen::Executor<Net, T, false, G>>;

/// The executor Model<Net, P> runs on the CPU (T = scalar_of<P>, G = gemm_operands_of<P>):
/// FusedExecutor when fused_eligible<Net, T> and G is fp32, otherwise general_executor_for.
#if CTNN_CPU_FUSED
template <class Net, class T, GemmOperands G = GemmOperands::scalar>
using executor_for = std::conditional_t<fused_eligible<Net, T> && G == GemmOperands::scalar,
                                        FusedExecutor<Net>, general_executor_for<Net, T, G>>;
#else
template <class Net, class T, GemmOperands G = GemmOperands::scalar>
using executor_for = general_executor_for<Net, T, G>;
#endif

} // namespace ctnn::cpu
