// ctnn/backend/cpu/describe.hpp — the CPU's part of describe<Net>(): how each convolution stage is
// computed (im2col GEMM, a direct kernel or Winograd; conv_plan.hpp), forward and backward.
#pragma once
#include "../../config.hpp"
#include "../../graph/describe.hpp"
#include "conv_plan.hpp"

#include <string>

namespace ctnn::cpu {

/// describe_stages' notes for the CPU backend (graph/describe.hpp's StageNotes): the kernel
/// conv_lowering picks for each convolution, where CTNN_CPU_FUSED compiles the direct kernels in.
struct StageNotes {
    template <class S>
    static std::string conv_method() {
        using L = conv_lowering<S>;
        return !(L::direct && CTNN_CPU_FUSED) ? " (im2col gemm)"
               : L::winograd                  ? " (winograd 2x2)"
                                              : " (direct)";
    }
    template <class S>
    static std::string conv_weight_grad() {
        using L = conv_lowering<S>;
        // Winograd's weight gradient needs its input gradient direct too (or none).
        constexpr bool wdw = L::winograd && CTNN_CPU_FUSED && (S::from_input || L::direct_dx);
        return wdw ? "dW = winograd (dU = sum V^T (A dZ A^T), dW = G^T dU G)"
                   : "dW = im2col(X)^T dZ (gemm)";
    }
    template <class S>
    static std::string conv_input_grad() {
        using L = conv_lowering<S>;
        return !(L::direct_dx && CTNN_CPU_FUSED) ? "dX = col2im(dZ W) (gemm)"
               : L::winograd_dx                  ? "dX = winograd conv of dZ (flipped kernel)"
                                                 : "dX = direct conv of dZ (flipped kernel)";
    }
};

} // namespace ctnn::cpu
