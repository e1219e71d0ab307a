// ctnn/graph/schedule.hpp — the kernels of a forward pass and of a training step, at compile time.
//
// The CUDA backend runs each stage of graph/lowering.hpp as kernels it can count from the type:
//   forward   one kernel per stage: a GEMM with the stage's epilogue fused into its store (dense),
//             a row-reduction kernel with the epilogue fused (rowwise), or one elementwise kernel
//             (a stage without anchor);
//   loss      one kernel: loss value, dL/dY, and the derivative of the last stage's epilogue;
//   backward  per stage, last to first:
//               dense:   one GEMM for the weight gradient, the bias gradient riding along as an
//                        extra column of ones; one GEMM for the input gradient, with the previous
//                        stage's epilogue derivative fused into its store;
//               rowwise: one kernel for the input gradient, previous epilogue derivative fused;
//             and no kernel at all where no gradient is needed (an input gradient that no earlier
//             stage with parameters consumes);
//   optimizer one kernel over the whole flat parameter buffer.
// describe<Net>() prints this schedule; the CUDA tests assert the launch counts against it.
#pragma once
#include "../config.hpp"
#include "../core/type_list.hpp"
#include "lowering.hpp"

#include <array>
#include <cstddef>
#include <string>

namespace ctnn {

namespace detail {
template <class S>
inline constexpr bool stage_has_params = S::anchor::param_count > 0;
template <class S>
inline constexpr bool cuda_stage_supported =
    S::kind == LayerKind::dense || S::kind == LayerKind::rowwise ||
    S::kind == LayerKind::elementwise || S::kind == LayerKind::conv || S::kind == LayerKind::pool;
/// The anchor computes a weight gradient with one GEMM (Dense, Conv2D).
template <class S>
inline constexpr bool gemm_anchor = S::kind == LayerKind::dense || S::kind == LayerKind::conv;
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

    /// grad_needed[i]: the backward pass needs dL/d(output of stage i), because stage i or an
    /// earlier stage has parameters.
    static constexpr std::array<bool, stage_count> grad_needed = []<class... S>(type_list<S...>) {
        std::array<bool, stage_count> g{};
        bool any = false;
        std::size_t i = 0;
        ((any = any || detail::stage_has_params<S>, g[i++] = any), ...);
        return g;
    }(stages{});

    /// input_grad[i]: stage i computes the gradient of its input (for stage i - 1).
    static constexpr std::array<bool, stage_count> input_grad = [] {
        std::array<bool, stage_count> g{};
        for (std::size_t i = 1; i < stage_count; ++i) g[i] = grad_needed[i - 1];
        return g;
    }();

    /// backward_kernels[i]: kernels the backward pass of stage i launches.
    static constexpr std::array<std::size_t, stage_count> backward_kernels =
        []<class... S>(type_list<S...>) {
            std::array<std::size_t, stage_count> k{};
            std::size_t i = 0;
            ((k[i] = (detail::gemm_anchor<S> && S::anchor::param_count > 0 ? 1u : 0u) +
                     (S::has_anchor && input_grad[i] ? 1u : 0u),
              ++i),
             ...);
            return k;
        }(stages{});

    static constexpr std::size_t forward = stage_count;
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

namespace detail {

template <class S>
std::string epilogue_names(bool with_bias) {
    std::string epi = with_bias ? "bias" : "";
    for_each_type(typename S::epilogue::ops{}, [&]<class N, std::size_t>() {
        if (!epi.empty()) epi += ", ";
        epi += N::layer::name();
    });
    return epi;
}

template <class S>
constexpr bool stage_bias() {
    if constexpr (gemm_anchor<S>) return S::anchor::layer::has_bias;
    else return false;
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
            const std::string epi = epilogue_names<St>(stage_bias<St>());
            std::string what;
            if constexpr (St::kind == LayerKind::dense)
                what = std::string("gemm      Z = X W^T [") + std::to_string(St::in_size) + " -> " +
                       std::to_string(St::out_size) + "]";
            else if constexpr (St::kind == LayerKind::rowwise)
                what = std::string("rowwise   ") + St::anchor::layer::name();
            else if constexpr (St::kind == LayerKind::conv)
                what = std::string("conv      ") + St::anchor::layer::name() + " (implicit gemm) " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else if constexpr (St::kind == LayerKind::pool)
                what = std::string("pool      ") + St::anchor::layer::name() + " " +
                       St::anchor::in_shape::str() + " -> " + St::anchor::out_shape::str();
            else what = "map";
            s += std::string("  k") + std::to_string(I) + " stage " + std::to_string(I) + ": " +
                 what + (epi.empty() ? std::string() : std::string(", fused: ") + epi) + "\n";
        });
        s += "cuda kernels, backward: " + std::to_string(K::backward) + "\n";
        std::string lines;
        [&]<class... St>(type_list<St...>) {
            constexpr std::size_t n = sizeof...(St);
            std::array<std::string, n> per{};
            std::size_t i = 0;
            ((
                 per[i] =
                     [&] {
                         std::string out;
                         const std::string prev = i > 0 ? std::string(" x epilogue'(stage ") +
                                                              std::to_string(i - 1) + ")"
                                                        : std::string();
                         if constexpr (gemm_anchor<St>) {
                             if (St::anchor::param_count > 0)
                                 out += std::string(St::kind == LayerKind::conv
                                                        ? "implicit gemm dW = dZ^T patches(X)"
                                                        : "gemm dW = dZ^T X") +
                                        (stage_bias<St>() ? ", db = sum(dZ) as a ones column" : "");
                         }
                         if (St::has_anchor && K::input_grad[i]) {
                             if (!out.empty()) out += " | ";
                             if constexpr (St::kind == LayerKind::dense)
                                 out += std::string("gemm dX = dZ W") + prev;
                             else if constexpr (St::kind == LayerKind::conv)
                                 out += std::string("implicit gemm dX = conv^T(dZ, W)") + prev;
                             else
                                 out += St::anchor::layer::name() + std::string(" backward") + prev;
                         }
                         return out;
                     }(),
                 ++i),
             ...);
            for (std::size_t j = n; j-- > 0;) {
                if (per[j].empty()) continue;
                lines += std::string("  stage ") + std::to_string(j) + ": " + per[j] + "\n";
            }
        }(stages{});
        s += lines;
    }
    return s;
}

} // namespace detail

} // namespace ctnn
