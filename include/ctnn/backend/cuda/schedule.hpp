// ctnn/backend/cuda/schedule.hpp — the CUDA kernels of a forward pass and of a training step, at
// compile time.
//
// The CUDA backend runs each stage of graph/lowering.hpp as kernels it can count from the type:
//   forward   one kernel per stage: a GEMM with the stage's epilogue fused into its store (dense,
//             also at every step of a sequence), a row-reduction kernel with the epilogue fused
//             (rowwise), a gather or a step pooling with the epilogue fused (embedding,
//             step_pool), or one elementwise kernel (a stage without anchor); three per direction
//             for a recurrent stage (W_hh^T, the input projection GEMM, the time loop) and one
//             more for its epilogue; none for a two-branch Add join evaluated in the GEMM store
//             of its branch's last stage (join_fuses_into_previous) or a 2 x 2 pooling evaluated
//             in the store of the convolution before it (pool_fuses_into_previous) and, in
//             inference, none for a BatchNorm folded into the GEMM before it (folds_into_previous)
//             or a join or a 2 x 2 pooling after such a BatchNorm (join_fuses_through_fold,
//             pool_fuses_through_fold);
//   loss      one kernel: loss value, dL/dY, and the derivative of the last stage's epilogue;
//   backward  per stage, last to first:
//               dense:   one GEMM for the weight gradient, the bias gradient riding along as an
//                        extra column of ones; one GEMM for the input gradient, with the previous
//                        stage's epilogue derivative fused into its store;
//               rowwise: one kernel for the input gradient, previous epilogue derivative fused;
//               pool, resample (Upsample): one kernel for the input gradient, likewise;
//               batch_norm: one kernel (one block per channel): dgamma, dbeta and the input
//                        gradient, previous epilogue derivative fused;
//               layer_norm: two kernels: per row, the statistics and the input gradient (previous
//                        epilogue derivative fused); per feature, dweight and dbias (a reduction
//                        over the other axis);
//               recurrent: per direction, the time loop backward (the gate gradients), a GEMM
//                        for dW_ih and db_ih, one for dW_hh and db_hh, and one for the input
//                        gradient (previous epilogue derivative fused);
//               embedding: one kernel for the weight gradient (ids have none);
//               step_pool: one kernel for the input gradient, previous epilogue' fused;
//             and no kernel at all where no gradient is needed (an input gradient that no earlier
//             stage with parameters consumes);
//   optimizer one kernel over the whole flat parameter buffer.
// The fusions here are CUDA policy (which stages share a kernel); the facts every backend shares
// are graph-level: the gradient flow (graph/liveness.hpp) and BatchNorm folding (graph/fold.hpp).
// describe<Net>() prints this schedule (backend/cuda/describe.hpp); the CUDA tests assert the
// launch counts against it.
#pragma once
#include "../../config.hpp"
#include "../../core/type_list.hpp"
#include "../../graph/fold.hpp"
#include "../../graph/liveness.hpp"
#include "../../graph/lowering.hpp"

#include <array>
#include <cstddef>
#include <utility>

namespace ctnn {

namespace detail {
/// A recurrent stage's time loop keeps two steps' gate gradients of at least one sample in 48 KiB
/// of shared memory (kernels/recurrent.hpp, RecurrentTile::batch > 0, in float).
template <class S>
constexpr bool recurrent_fits() {
    if constexpr (S::kind == LayerKind::recurrent)
        return 2 * S::anchor::bound::gate_rows * sizeof(float) <= 48u * 1024u;
    else return true;
}
template <class S>
inline constexpr bool cuda_stage_supported =
    S::kind == LayerKind::dense || S::kind == LayerKind::rowwise ||
    S::kind == LayerKind::batch_norm || S::kind == LayerKind::layer_norm ||
    S::kind == LayerKind::elementwise || S::kind == LayerKind::conv || S::kind == LayerKind::pool ||
    S::kind == LayerKind::resample || S::kind == LayerKind::add ||
    (S::kind == LayerKind::recurrent && recurrent_fits<S>()) || S::kind == LayerKind::embedding
    || S::kind == LayerKind::step_pool;
/// The anchor computes a weight gradient with one GEMM (Dense, Conv2D).
template <class S>
inline constexpr bool gemm_anchor = S::kind == LayerKind::dense || S::kind == LayerKind::conv;
/// Kernels of the forward pass of stage S when it runs (not fused into another's store): one,
/// but a recurrent stage's three per direction (W_hh^T, the input projection GEMM, the time
/// loop) and its epilogue's elementwise kernel.
template <class S>
constexpr std::size_t forward_kernel_count() {
    if constexpr (S::kind == LayerKind::recurrent)
        return 3 * S::anchor::layer::directions + (S::epilogue::size > 0 ? 1 : 0);
    else if constexpr (S::kind == LayerKind::embedding)
        return S::anchor::layer::masks ? 2 : 1; // the gather; the sample lengths (MaskZero)
    else return 1;
}
/// Kernels of the backward pass of stage S, given whether it computes its input gradient.
template <class S>
constexpr std::size_t backward_kernel_count(bool input_grad) {
    if constexpr (S::kind == LayerKind::batch_norm) return 1;       // dgamma, dbeta (and dX)
    else if constexpr (S::kind == LayerKind::layer_norm) return 2;  // rows (dX); dweight, dbias
    else if constexpr (S::kind == LayerKind::embedding) return 1;   // dW (ids: no gradient)
    else if constexpr (S::kind == LayerKind::recurrent)             // per direction: the time
        return S::anchor::layer::directions * (input_grad ? 4 : 3); // loop, dW_ih, dW_hh, (dX)
    else
        return (gemm_anchor<S> && S::anchor::param_count > 0 ? 1u : 0u) +
               (S::has_anchor && input_grad ? 1u : 0u);
}
} // namespace detail

namespace detail {
/// Stage J is an Add join of exactly two branches, the last computed of which ends at stage
/// J - 1, and no stage but J reads stage J - 1's output (so the join may be evaluated in stage
/// J - 1's store, where the other branch's output, computed earlier, is ready).
template <class Stages, std::size_t J>
constexpr bool two_branch_add_after() {
    if constexpr (J == 0 || J >= Stages::size) {
        return false;
    } else {
        using S = stage_at<Stages, J>;
        if constexpr (S::kind != LayerKind::add) {
            return false;
        } else {
            using A = typename S::anchor;
            if constexpr (A::op != JoinOp::sum || A::branch_count != 2 || A::computed == 0) {
                return false;
            } else {
                using Last = stage_at<typename A::branches, A::last_computed>;
                const bool shared = []<std::size_t... K>(std::index_sequence<K...>) {
                    return ((K != J && reads_output_of<stage_at<Stages, K>, J - 1>()) || ...);
                }
                (std::make_index_sequence<Stages::size>{});
                return Last::last == J - 1 && !shared;
            }
        }
    }
}
} // namespace detail

/// Join fusion on CUDA, in every pass: stage J is an Add join of two branches (a Residual, or
/// Add<B1, B2>) whose last computed branch ends in a Conv2D or Dense stage J - 1 that only the
/// join reads. That stage's GEMM store adds the other branch's output (the skip: the block's
/// source, or the other branch's last stage output, both computed before) to its epilogue output
/// and applies the join's epilogue: it writes the branch's Z, the join's Z and the join's Y, which
/// is everything a backward pass reads (the branch's own Y, read only by the join, is not
/// stored). Stage J launches no forward kernel; its backward kernel is unchanged.
template <class Stages, std::size_t J>
inline constexpr bool join_fuses_into_previous = [] {
    if constexpr (detail::two_branch_add_after<Stages, J>())
        return detail::gemm_anchor<detail::stage_at<Stages, J - 1>>;
    else return false;
}();

/// Join fusion on CUDA, in inference only: as join_fuses_into_previous, but stage J - 1 is a
/// BatchNorm folded into the Conv2D or Dense stage J - 2 (folds_into_previous): the GEMM store of
/// stage J - 2 evaluates the BatchNorm and then the join (a ResNet block's
/// `Conv2D, BatchNorm` body and the `ReLU` after it). In training, BatchNorm needs the batch
/// statistics first, so the join keeps its kernel.
template <class Stages, std::size_t J>
inline constexpr bool join_fuses_through_fold = [] {
    if constexpr (detail::two_branch_add_after<Stages, J>())
        return folds_into_previous<Stages, J - 1>;
    else return false;
}();

namespace detail {
template <class Stages, std::size_t I>
constexpr bool pool_fuses_impl() {
    if constexpr (I == 0 || I >= Stages::size) {
        return false;
    } else {
        using P = stage_at<Stages, I>;
        if constexpr (P::kind != LayerKind::pool ||
                      stage_at<Stages, I - 1>::kind != LayerKind::conv) {
            return false;
        } else {
            constexpr auto g = P::anchor::bound::window;
            return !P::from_input && P::source == I - 1 && g.kh == 2 && g.kw == 2 && g.sh == 2 &&
                   g.sw == 2 && g.dh == 1 && g.dw == 1 && g.pt == 0 && g.pb == 0 && g.pl == 0 &&
                   g.pr == 0 && g.h == 2 * g.oh && g.w == 2 * g.ow;
        }
    }
}
} // namespace detail

/// Pooling fusion on CUDA, in every pass: stage I is a MaxPool2D<2> or AvgPool2D<2> (2 x 2
/// windows, stride 2, no padding or dilation) reading the output of the Conv2D stage I - 1, whose
/// height and width are even (the windows tile it exactly). The convolution's GEMM orders its
/// rows so that one thread holds the four outputs of a window (kernels/conv.hpp, PooledRows) and
/// its store writes the convolution's Z and Y and the pooling's Z and Y: everything a backward
/// pass reads (max pooling's backward recomputes the argmax from the convolution's Y). Stage I
/// launches no forward kernel; its backward kernel is unchanged. Overlapping or padded windows,
/// odd sizes, and pooling after anything but a convolution keep their kernel.
template <class Stages, std::size_t I>
inline constexpr bool pool_fuses_into_previous = detail::pool_fuses_impl<Stages, I>();

/// Pooling fusion on CUDA, in inference only: as pool_fuses_into_previous, but the pooling stage
/// I reads a BatchNorm stage I - 1 folded into the Conv2D stage I - 2 (folds_into_previous; the
/// `Conv2D, BatchNorm, ReLU, MaxPool2D<2>` of a VGG-style block): one kernel for all three. In
/// training, BatchNorm needs its batch statistics first, so the pooling keeps its kernel.
template <class Stages, std::size_t I>
inline constexpr bool pool_fuses_through_fold = [] {
    if constexpr (I >= 2 && I < Stages::size) {
        using P = detail::stage_at<Stages, I>;
        if constexpr (P::kind == LayerKind::pool && folds_into_previous<Stages, I - 1> &&
                      detail::stage_at<Stages, I - 2>::kind == LayerKind::conv) {
            constexpr auto g = P::anchor::bound::window;
            return !P::from_input && P::source == I - 1 && g.kh == 2 && g.kw == 2 && g.sh == 2 &&
                   g.sw == 2 && g.dh == 1 && g.dw == 1 && g.pt == 0 && g.pb == 0 && g.pl == 0 &&
                   g.pr == 0 && g.h == 2 * g.oh && g.w == 2 * g.ow;
        } else {
            return false;
        }
    } else {
        return false;
    }
}();

/// Joins of Stages fused into a GEMM store in every pass (join_fuses_into_previous), and in
/// inference only (join_fuses_through_fold); pooling stages fused into a convolution's store
/// (pool_fuses_into_previous).
template <class Stages>
inline constexpr std::size_t fused_join_count = [] {
    std::size_t n = 0;
    detail::for_each_type(Stages{}, [&]<class, std::size_t I>() {
        n += join_fuses_into_previous<Stages, I> ? 1u : 0u;
    });
    return n;
}();
template <class Stages>
inline constexpr std::size_t fused_join_inference_count = [] {
    std::size_t n = 0;
    detail::for_each_type(Stages{}, [&]<class, std::size_t I>() {
        n += join_fuses_through_fold<Stages, I> ? 1u : 0u;
    });
    return n;
}();
template <class Stages>
inline constexpr std::size_t fused_pool_inference_count = [] {
    std::size_t n = 0;
    detail::for_each_type(Stages{}, [&]<class, std::size_t I>() {
        n += pool_fuses_through_fold<Stages, I> ? 1u : 0u;
    });
    return n;
}();
template <class Stages>
inline constexpr std::size_t fused_pool_count = [] {
    std::size_t n = 0;
    detail::for_each_type(Stages{}, [&]<class, std::size_t I>() {
        n += pool_fuses_into_previous<Stages, I> ? 1u : 0u;
    });
    return n;
}();

namespace detail {
/// Backward kernels that graph forms add to stage S (at position j of Stages): an anchor-less
/// stage that propagates (the first stage of a branch) multiplies by its source's epilogue' (one
/// kernel, none if that epilogue is empty); the first stage of a branch adds its gradient of the
/// block's source to the others (one accumulate kernel per block it starts a branch of).
template <class Stages, class S>
constexpr std::size_t graph_backward_kernels(std::size_t j, bool input_grad) {
    std::size_t k = 0;
    if constexpr (S::kind == LayerKind::elementwise)
        if (input_grad && stage_at<Stages, S::source>::epilogue::size > 0) ++k;
    if (input_grad && S::kind != LayerKind::add)
        for_each_type(Stages{}, [&]<class J, std::size_t>() {
            if constexpr (J::kind == LayerKind::add) {
                if (!J::anchor::from_input)
                    for_each_type(typename J::anchor::branches{}, [&]<class Br, std::size_t>() {
                        if (!Br::identity && Br::first == j) ++k;
                    });
            }
        });
    return k;
}
} // namespace detail

/// The kernel schedule of Net on the CUDA backend (see the file comment).
template <class Net>
struct kernel_schedule {
    using stages = stages_of<Net>;
    static constexpr std::size_t stage_count = stages::size;

    /// Whether the CUDA backend has kernels for every stage of Net.
    static constexpr bool cuda_supported = []<class... S>(type_list<S...>) {
        return (detail::cuda_stage_supported<S> && ...);
    }(stages{});

    /// The gradient flow (graph/liveness.hpp): grad_needed[i], input_grad[i].
    static constexpr const auto& grad_needed = gradient_flow<stages>::grad_needed;
    static constexpr const auto& input_grad = gradient_flow<stages>::input_grad;

    /// backward_kernels[i]: kernels the backward pass of stage i launches.
    static constexpr std::array<std::size_t, stage_count> backward_kernels =
        []<class... S>(type_list<S...>) {
            std::array<std::size_t, stage_count> k{};
            std::size_t i = 0;
            ((k[i] = detail::backward_kernel_count<S>(input_grad[i]) +
                     detail::graph_backward_kernels<stages, S>(i, input_grad[i]),
              ++i),
             ...);
            return k;
        }(stages{});

    /// Kernels of a training-mode forward pass: forward_kernel_count per stage (one for most), but
    /// none for a join evaluated in
    /// the GEMM store of its branch's last stage (join_fuses_into_previous) or a pooling stage
    /// evaluated in the store of the convolution before it (pool_fuses_into_previous).
    static constexpr std::size_t forward =
        []<class... S>(type_list<S...>) {
            return (detail::forward_kernel_count<S>() + ... + 0);
        }(stages{}) -
        fused_join_count<stages> - fused_pool_count<stages>;
    /// Kernels of an inference-mode forward pass: moreover, BatchNorm stages folded into the GEMM
    /// store of the stage before them (folds_into_previous) and joins evaluated after such a
    /// BatchNorm in the same store (join_fuses_through_fold) or pooling after such a BatchNorm
    /// (pool_fuses_through_fold) launch nothing.
    static constexpr std::size_t forward_inference = forward - folded_stage_count<stages> -
                                                     fused_join_inference_count<stages> -
                                                     fused_pool_inference_count<stages>;
    static constexpr std::size_t loss = 1;
    static constexpr std::size_t backward = [] {
        std::size_t s = 0;
        for (std::size_t k : backward_kernels) s += k;
        return s;
    }();
    static constexpr std::size_t optimizer = Net::param_count > 0 ? 1 : 0;
    /// Kernels of one training step: forward, loss, backward, optimizer update.
    static constexpr std::size_t training_step = forward + loss + backward + optimizer;
};

} // namespace ctnn
