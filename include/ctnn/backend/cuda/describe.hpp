// ctnn/backend/cuda/describe.hpp — the CUDA part of describe<Net>(): the kernels of a forward and
// a backward pass, one line each, as the schedule (backend/cuda/schedule.hpp) counts them.
#pragma once
#include "../../config.hpp"
#include "../../core/precision.hpp"
#include "../../core/type_list.hpp"
#include "../../graph/describe.hpp"
#include "../../graph/fold.hpp"
#include "../../graph/lowering.hpp"
#include "schedule.hpp"

#include <array>
#include <cstddef>
#include <string>

namespace ctnn {

namespace detail {

template <class S>
constexpr bool stage_bias() {
    if constexpr (gemm_anchor<S>) return S::anchor::layer::has_bias;
    else return false;
}

/// The fold of a CUDA kernel line: "; inference: + BatchNorm[, epilogue] folded in (stage I + 1)"
/// on the stage a BatchNorm folds into, "; inference: folded into k(I - 1)" on the BatchNorm.
template <class Stages, std::size_t I>
std::string fold_kernel_note() {
    if constexpr (folds_into_previous<Stages, I>) {
        return std::string("; inference: folded into k") + std::to_string(I - 1);
    } else if constexpr (folds_into_previous<Stages, I + 1>) {
        using Bn = stage_at<Stages, I + 1>;
        return std::string("; inference: + ") + epilogue_names<Bn>(Bn::anchor::layer::name()) +
               " (stage " + std::to_string(I + 1) + " folded in)" +
               (join_fuses_through_fold<Stages, I + 2>
                    ? " + join (stage " + std::to_string(I + 2) + ")"
                    : std::string()) +
               [] {
                   if constexpr (pool_fuses_through_fold<Stages, I + 2>)
                       return std::string(" + ") + stage_at<Stages, I + 2>::anchor::layer::name() +
                              " (stage " + std::to_string(I + 2) + ")";
                   else return std::string();
               }();
    } else {
        return "";
    }
}

/// The store fusions of a CUDA kernel line: "; + join (stage J)" on the stage whose store evaluates
/// join J in every pass; on the join, "; inference: in k(J - 2)'s store" (through a folded
/// BatchNorm; the "no kernel" of join_fuses_into_previous is its line's prefix). Likewise for a
/// pooling stage in a convolution's store.
template <class Stages, std::size_t I>
std::string store_fusion_note() {
    if constexpr (pool_fuses_into_previous<Stages, I>)
        return std::string("; no kernel: in k") + std::to_string(I - 1) + "'s store";
    else if constexpr (pool_fuses_into_previous<Stages, I + 1>)
        return std::string("; + ") + stage_at<Stages, I + 1>::anchor::layer::name() + " (stage " +
               std::to_string(I + 1) + ")";
    else if constexpr (join_fuses_into_previous<Stages, I>)
        return std::string("; no kernel: in k") + std::to_string(I - 1) + "'s store";
    else if constexpr (join_fuses_through_fold<Stages, I> || pool_fuses_through_fold<Stages, I>)
        return std::string("; inference: in k") + std::to_string(I - 2) + "'s store";
    else if constexpr (join_fuses_into_previous<Stages, I + 1>)
        return std::string("; + join (stage ") + std::to_string(I + 1) + ")";
    else return "";
}

/// The forward kernel of a join: "join      concat stage 2 | stage 4 | the input".
template <class S>
std::string join_kernel_text() {
    using A = typename S::anchor;
    std::string s;
    for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() {
        s += std::string(s.empty()              ? ""
                         : A::op == JoinOp::sum ? " + "
                                                : " | ") +
             (!Br::identity   ? "stage " + std::to_string(Br::last)
              : A::from_input ? std::string("the input")
                              : "stage " + std::to_string(A::source));
    });
    return std::string(A::op == JoinOp::sum ? "join      add " : "join      concat ") + s;
}
/// The backward kernel of a join: which branches receive their dL/dZ from it.
template <class S>
std::string join_backward_kernel_text() {
    using A = typename S::anchor;
    std::string s;
    for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() {
        if (!Br::identity)
            s += std::string(s.empty() ? "" : ", ") + "dZ x epilogue'(stage " +
                 std::to_string(Br::last) + ")";
    });
    bool skip = false;
    for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() { skip |= Br::identity; });
    if (!A::from_input)
        s += std::string(s.empty() ? "" : "; ") + "stage " + std::to_string(A::source) +
             "'s gradient " +
             (skip ? "started with the skip's dZ x epilogue'(stage " + std::to_string(A::source) +
                         ")"
                   : std::string("zeroed"));
    return "join backward: " + s;
}
/// " | accumulate into stage K's gradient" per block that stage j starts a branch of.
template <class Stages>
std::string accumulate_text(std::size_t j, bool input_grad) {
    std::string s;
    if (!input_grad) return s;
    for_each_type(Stages{}, [&]<class J, std::size_t>() {
        if constexpr (J::kind == LayerKind::add) {
            using A = typename J::anchor;
            if constexpr (!A::from_input)
                for_each_type(typename A::branches{}, [&]<class Br, std::size_t B>() {
                    if (!Br::identity && Br::first == j)
                        s +=
                            std::string(" | accumulate ") +
                            (B == A::first_computed ? "the kept gradients of stage " +
                                                          std::to_string(A::source) + " into dX"
                                                    : "dX into stage " + std::to_string(A::source) +
                                                          "'s kept gradient");
                });
        }
    });
    return s;
}

/// The CUDA kernels of Net, forward and backward, one line each.
template <class Net>
std::string kernel_lines() {
    using K = kernel_schedule<Net>;
    using stages = typename K::stages;
    std::string s;
    if constexpr (!K::cuda_supported) {
        s += "cuda kernels: not available (a stage of this model has no CUDA kernel yet)\n";
    } else {
        s += "cuda kernels, forward: " + std::to_string(K::forward) + "\n";
        for_each_type(stages{}, [&]<class St, std::size_t I>() {
            const std::string epi = epilogue_names<St>(stage_bias<St>() ? "bias" : "");
            std::string what;
            if constexpr (St::kind == LayerKind::dense && per_step_dense<St>)
                what = std::string("gemm      Z = X W^T at every step [") +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str() + "]";
            else if constexpr (St::kind == LayerKind::dense)
                what = std::string("gemm      Z = X W^T [") + std::to_string(St::in_size) + " -> " +
                       std::to_string(St::out_size) + "]";
            else if constexpr (St::kind == LayerKind::recurrent)
                what = std::string("recurrent ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str() +
                       (St::anchor::layer::directions == 2 ? ", per direction:" : ":") +
                       " transpose W_hh | gemm G = X W_ih^T + b | time loop (" +
                       std::to_string(St::anchor::bound::steps) + " steps in one kernel)" +
                       (St::epilogue::size > 0 ? " | map" : "");
            else if constexpr (St::kind == LayerKind::embedding)
                what = std::string("gather    ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else if constexpr (St::kind == LayerKind::step_pool)
                what = std::string("steps     ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else if constexpr (St::kind == LayerKind::rowwise)
                what = std::string("rowwise   ") + St::anchor::layer::name();
            else if constexpr (St::kind == LayerKind::conv)
                what = std::string("conv      ") + St::anchor::layer::name() + " (implicit gemm) " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else if constexpr (St::kind == LayerKind::pool)
                what = std::string("pool      ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else if constexpr (St::kind == LayerKind::resample)
                what = std::string("resample  ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else if constexpr (St::kind == LayerKind::batch_norm)
                what = std::string("batchnorm ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() +
                       " per channel (training: batch statistics; inference: running)";
            else if constexpr (St::kind == LayerKind::layer_norm)
                what = std::string("layernorm ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " per sample";
            else if constexpr (St::kind == LayerKind::add) what = join_kernel_text<St>();
            else what = "map";
            // A stage evaluated in a GEMM's store in every pass is listed without a kernel
            // number ("--").
            constexpr bool no_kernel =
                join_fuses_into_previous<stages, I> || pool_fuses_into_previous<stages, I>;
            s += std::string(no_kernel ? "  --" : "  k") +
                 (no_kernel ? std::string() : std::to_string(I)) + " stage " + std::to_string(I) +
                 ": " + what + (epi.empty() ? std::string() : std::string(", fused: ") + epi) +
                 fold_kernel_note<stages, I>() + store_fusion_note<stages, I>() + "\n";
        });
        if constexpr (K::forward_inference != K::forward)
            s += std::string("cuda kernels, inference forward: ") +
                 std::to_string(K::forward_inference) +
                 " (stages marked 'folded' or 'inference: in k..' run in that kernel's store)\n";
        s += "cuda kernels, backward: " + std::to_string(K::backward) + "\n";
        // One line per stage, printed last to first. A for_each_type rather than a fold over a
        // lambda: GCC 11 crashes on a lambda inside a pack expansion in a generic lambda.
        std::array<std::string, stages::size> per{};
        for_each_type(stages{}, [&]<class St, std::size_t i>() {
            per[i] = [&] {
                std::string out;
                const std::string prev = !St::from_input ? std::string(" x epilogue'(stage ") +
                                                               std::to_string(St::source) + ")"
                                                         : std::string();
                if constexpr (St::kind == LayerKind::batch_norm) {
                    return St::anchor::layer::name() +
                           std::string(" backward: dgamma, dbeta (per-channel sums)") +
                           (K::input_grad[i] ? std::string(", dX") + prev : std::string());
                } else if constexpr (St::kind == LayerKind::layer_norm) {
                    return St::anchor::layer::name() + std::string(" backward rows: statistics") +
                           (K::input_grad[i] ? std::string(", dX") + prev : std::string()) + " | " +
                           St::anchor::layer::name() + " backward columns: dweight, dbias";
                }
                if constexpr (St::kind == LayerKind::recurrent) {
                    return St::anchor::layer::name() +
                           std::string(St::anchor::layer::directions == 2 ? ", per direction:"
                                                                          : ":") +
                           " time loop backward (dG) | gemm dW_ih = dG^T X, db_ih | gemm dW_hh = "
                           "dG^T H_prev, db_hh" +
                           (K::input_grad[i] ? std::string(" | gemm dX = dG W_ih") + prev
                                             : std::string());
                } else if constexpr (St::kind == LayerKind::embedding) {
                    return St::anchor::layer::name() +
                           std::string(" backward: dW rows by token id (no atomics)");
                }
                if constexpr (gemm_anchor<St>) {
                    if (St::anchor::param_count > 0)
                        out += std::string(St::kind == LayerKind::conv
                                               ? "implicit gemm dW = dZ^T patches(X)"
                                               : "gemm dW = dZ^T X") +
                               (stage_bias<St>() ? ", db = sum(dZ) as a ones column" : "");
                }
                if constexpr (St::kind == LayerKind::add) {
                    return K::input_grad[i] ? join_backward_kernel_text<St>() : std::string();
                } else if constexpr (St::kind == LayerKind::elementwise) {
                    if (K::input_grad[i] && stage_at<stages, St::source>::epilogue::size > 0)
                        out += std::string("map dX = dZ") + prev;
                }
                if constexpr (St::has_anchor) {
                    if (K::input_grad[i]) {
                        if (!out.empty()) out += " | ";
                        if constexpr (St::kind == LayerKind::dense)
                            out += std::string("gemm dX = dZ W") + prev;
                        else if constexpr (St::kind == LayerKind::conv)
                            out += std::string("implicit gemm dX = conv^T(dZ, W)") + prev;
                        else out += St::anchor::layer::name() + std::string(" backward") + prev;
                    }
                }
                const std::string acc = accumulate_text<stages>(i, K::input_grad[i]);
                out += out.empty() && !acc.empty() ? acc.substr(3) : acc;
                return out;
            }();
        });
        for (std::size_t j = stages::size; j-- > 0;) {
            if (per[j].empty()) continue;
            s += std::string("  stage ") + std::to_string(j) + ": " + per[j] + "\n";
        }
    }
    return s;
}

/// The kernels of one training step with the loss named `loss` ("cuda kernels, training step: ..."
/// and the sum's terms); empty where Net has no CUDA kernels.
template <class Net>
std::string training_step_line(const std::string& loss) {
    using K = kernel_schedule<Net>;
    if constexpr (K::cuda_supported)
        return std::string("cuda kernels, training step: ") + std::to_string(K::training_step) +
               " = forward " + std::to_string(K::forward) + " + loss " + std::to_string(K::loss) +
               " (" + loss + " value, dL/dY and the last epilogue') + backward " +
               std::to_string(K::backward) + " + optimizer " + std::to_string(K::optimizer) + "\n";
    else return "";
}

/// The CUDA lines of a mixed-precision model's describe() (operand format g: bf16 or fp16): the
/// stages whose GEMMs read g operands on tensor cores (Dense and Conv2D: eval/dense.hpp,
/// eval/conv.hpp) and those that stay fp32; a convolution with a pooling in its forward store
/// computes that forward in fp32 (conv_pool_forward). Empty where Net has no CUDA kernels.
template <class Net>
std::string cuda_precision_lines(GemmOperands g) {
    using St = stages_of<Net>;
    if constexpr (!kernel_schedule<Net>::cuda_supported) {
        return "";
    } else {
        const std::string name = operands_name<float>(g);
        std::string reduced, full;
        for_each_type(St{}, [&]<class S, std::size_t I>() {
            constexpr bool gemm = S::kind == LayerKind::dense || S::kind == LayerKind::conv;
            std::string& list = gemm ? reduced : full;
            std::string what = "join";
            if constexpr (requires { S::anchor::layer::name(); }) what = S::anchor::layer::name();
            if constexpr (S::kind == LayerKind::conv) {
                if constexpr (pool_fuses_into_previous<St, I + 1>)
                    what += " (forward in fp32: a pooling runs in its store)";
                else if constexpr (pool_fuses_through_fold<St, I + 2>)
                    what += " (inference forward in fp32: a pooling runs in its store)";
            }
            list += std::string(list.empty() ? "" : ", ") + std::to_string(I) + " " + what;
        });
        std::string s = "  cuda, " + name +
                        " operands on tensor cores (mma.sync m16n8k16, fp32 sums; forward, dX and "
                        "dW): " +
                        (reduced.empty() ? std::string("no stage") : "stage " + reduced) + "\n";
        if (!full.empty()) s += "  cuda, fp32 (no " + name + " kernels yet): stage " + full + "\n";
        if (g == GemmOperands::fp16)
            s += "  cuda, loss scaling: the scale in the loss kernel, + 1 kernel per backward "
                 "(unscale_gradients; its finiteness flag read back)\n";
        return s;
    }
}

} // namespace detail

} // namespace ctnn
