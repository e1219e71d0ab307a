// ctnn/graph/fold.hpp — inference-mode BatchNorm folding: which stage pairs of a lowered graph an
// inference pass evaluates as one.
//
// A property of the stage list, the same on every backend: the CPU evaluators (backend/cpu/eigen)
// and the CUDA kernel schedule (backend/cuda/schedule.hpp) both skip a folded BatchNorm stage and
// evaluate it in the epilogue of the GEMM before it; describe() marks it.
#pragma once
#include "../config.hpp"
#include "../core/type_list.hpp"
#include "lowering.hpp"

#include <cstddef>
#include <utility>

namespace ctnn {

namespace detail {
/// Whether stage S reads the output of stage J: as its input (J is its source), or, for a join,
/// as the output of one of its branches.
template <class S, std::size_t J>
constexpr bool reads_output_of() {
    bool reads = !S::from_input && S::source == J;
    if constexpr (S::kind == LayerKind::add)
        for_each_type(typename S::anchor::branches{}, [&]<class Br, std::size_t>() {
            if (!Br::identity && Br::last == J) reads = true;
        });
    return reads;
}

template <class Stages, std::size_t I>
constexpr bool folds_into_previous_impl() {
    if constexpr (I == 0 || I >= Stages::size) {
        return false;
    } else {
        using Prev = stage_at<Stages, I - 1>;
        using Cur = stage_at<Stages, I>;
        // Stage I - 1's output is read by a stage other than I (a second branch from it, a join
        // reading it as a branch output or through an identity branch).
        const bool shared = []<std::size_t... K>(std::index_sequence<K...>) {
            return ((K != I && reads_output_of<stage_at<Stages, K>, I - 1>()) || ...);
        }
        (std::make_index_sequence<Stages::size>{});
        return Cur::kind == LayerKind::batch_norm && !Cur::from_input && Cur::source == I - 1 &&
               (Prev::kind == LayerKind::conv ||
                (Prev::kind == LayerKind::dense && !per_step_dense<Prev>)) &&
               Prev::epilogue::size == 0 && !shared;
    }
}
} // namespace detail

/// Inference-mode BatchNorm folding, a property of a stage pair: stage I (of the stage list
/// Stages) is a BatchNorm whose input is the output of stage I - 1, a Conv2D or Dense stage with
/// an empty epilogue (a bias is fine) whose output no other stage reads (it is no block's source
/// and no branch's output). In an inference pass both backends then evaluate the pair as one:
/// the GEMM, and one epilogue y = epi_bn((z + b) * s_c + t_c) with s_c = gamma_c /
/// sqrt(running_var_c + eps) and t_c = beta_c - running_mean_c s_c computed per pass from the
/// parameters and buffers (C values, nothing cached); stage I is skipped. Training passes are
/// unchanged. The folded pass still stores what a backward pass reads (the GEMM output, which is
/// BatchNorm's input, and BatchNorm's Z), so a backward pass after an inference forward stays
/// exact.
template <class Stages, std::size_t I>
inline constexpr bool folds_into_previous = detail::folds_into_previous_impl<Stages, I>();

/// Number of BatchNorm stages of Stages folded into the previous stage in inference.
template <class Stages>
inline constexpr std::size_t folded_stage_count = []<std::size_t... I>(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + (folds_into_previous<Stages, I> ? 1u : 0u));
}
(std::make_index_sequence<Stages::size>{});

/// Stages (passes over memory, CUDA kernels) of an inference forward pass of Net.
template <class Net>
inline constexpr std::size_t inference_stage_count =
    stages_of<Net>::size - folded_stage_count<stages_of<Net>>;

} // namespace ctnn
