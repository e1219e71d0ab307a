// ctnn/graph/describe.hpp — describe<Net>(): a model's layers, parameters and lowered schedule.
#pragma once
#include "../config.hpp"
#include "../layers/pool.hpp"
#include "../loss/loss.hpp"
#include "lowering.hpp"
#include "schedule.hpp"
#include "sequential.hpp"

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace ctnn {

namespace detail {
inline std::string group_digits(std::size_t v) {
    const std::string digits = std::to_string(v);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}
inline std::string pad(std::string s, std::size_t w) {
    s.append(s.size() < w ? w - s.size() : 1, ' '); // at least one space between columns
    return s;
}
template <class S>
std::string stage_line(std::size_t i) {
    std::string anchor;
    if constexpr (S::kind == LayerKind::dense)
        anchor = std::string("gemm     ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::rowwise)
        anchor = std::string("rowwise  ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::conv)
        anchor = std::string("conv2d   ") + S::anchor::layer::name() + " (im2col gemm)";
    else if constexpr (S::kind == LayerKind::pool)
        anchor = std::string(S::anchor::layer::op == PoolOp::max ? "maxpool  " : "avgpool  ") +
                 S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::batch_norm)
        anchor = std::string("batchnorm ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::layer_norm)
        anchor = std::string("layernorm ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::add)
        anchor = std::string("add      skip from ") +
                 (S::anchor::skip_is_input ? std::string("the input")
                                           : "stage " + std::to_string(S::anchor::skip_stage));
    else anchor = "map";
    std::string epi;
    if constexpr (S::kind == LayerKind::dense || S::kind == LayerKind::conv)
        if (S::anchor::layer::has_bias) epi = "bias";
    for_each_type(typename S::epilogue::ops{}, [&]<class N, std::size_t>() {
        epi += std::string(epi.empty() ? "" : ", ") + N::layer::name();
    });
    return std::string("  stage ") + std::to_string(i) + ": " + pad(anchor, 25) +
           S::anchor::in_shape::str() + " -> " + S::anchor::out_shape::str() +
           (epi.empty() ? "" : std::string("   epilogue: ") + epi) + "\n";
}
template <class S>
std::string backward_line(std::size_t i) {
    std::string what = S::epilogue::size > 0 ? "dZ = dY * epilogue'(Z); " : "";
    if constexpr (S::kind == LayerKind::dense) {
        what += "dW = dZ^T X (gemm)";
        if (S::anchor::layer::has_bias) what += ", db = sum(dZ)";
        if (i > 0) what += ", dX = dZ W (gemm)";
    } else if constexpr (S::kind == LayerKind::rowwise) {
        what += i > 0 ? S::anchor::layer::name() + " backward (rowwise)" : "nothing to propagate";
    } else if constexpr (S::kind == LayerKind::conv) {
        what += "dW = im2col(X)^T dZ (gemm)";
        if (S::anchor::layer::has_bias) what += ", db = sum(dZ)";
        if (i > 0) what += ", dX = col2im(dZ W) (gemm)";
    } else if constexpr (S::kind == LayerKind::add) {
        what += "dX = dZ into the body";
        if (!S::anchor::skip_is_input)
            what += ", dZ kept for the skip (added after stage " +
                    std::to_string(S::anchor::body_first) + ")";
    } else if constexpr (S::kind == LayerKind::batch_norm || S::kind == LayerKind::layer_norm) {
        what += "dgamma = sum(dZ xhat), dbeta = sum(dZ)";
        if (i > 0) what += ", dX (normalization backward)";
    } else if constexpr (S::kind == LayerKind::pool) {
        what += i > 0 ? std::string(S::anchor::layer::op == PoolOp::max
                                        ? "dX = dZ routed to each window's argmax (recomputed)"
                                        : "dX = dZ spread evenly over each window")
                      : std::string("nothing to propagate");
    } else {
        what += i > 0 ? "dX = dZ" : "nothing to propagate";
    }
    return std::string("  stage ") + std::to_string(i) + ": " + what + "\n";
}
} // namespace detail

/// A human-readable description of Net: layers with output shapes, parameters with their PyTorch
/// names, and the schedule of stages a forward and a backward pass run, with their fused epilogues.
template <class Net>
std::string describe() {
    std::ostringstream os;
    os << "model: " << Net::in_shape::str() << " -> " << Net::out_shape::str() << ", "
       << detail::group_digits(Net::param_count) << " parameters\n";
    os << "layers:\n";
    detail::for_each_type(typename Net::nodes{}, [&]<class N, std::size_t>() {
        os << "  " << detail::pad(N::path(), 4) << detail::pad(N::layer::name(), 22)
           << detail::pad(N::out_shape::str(), 16);
        std::string ps;
        for (const ParamSpec& p : N::bound::params) {
            ps += std::string(ps.empty() ? "" : ", ") + N::path() + "." + p.name + " " +
                  detail::dims_str(p.shape());
        }
        for (const BufferSpec& b : N::buffers) // non-trainable state, e.g. BatchNorm statistics
            ps += std::string("; buffer ") + N::path() + "." + b.name + " " +
                  detail::dims_str(b.shape());
        os << ps << "\n";
    });
    using stages = stages_of<Net>;
    os << "forward: " << stages::size << " stage(s)\n";
    detail::for_each_type(stages{},
                          [&]<class S, std::size_t I>() { os << detail::stage_line<S>(I); });
    os << "backward: " << stages::size << " stage(s), last to first\n";
    std::vector<std::string> lines;
    detail::for_each_type(
        stages{}, [&]<class S, std::size_t I>() { lines.push_back(detail::backward_line<S>(I)); });
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) os << *it;
    os << "workspace per sample: "
       << activation_floats_per_sample<Net> << " floats of activations kept for backward, 2 x "
       << gradient_floats_per_sample<Net> << " floats of gradients\n";
    os << detail::kernel_lines<Net>();
    return os.str();
}

/// describe<Net>() followed by the loss and optimizer stages of a training step.
template <class Net, Loss L>
std::string describe(const L&) {
    using K = kernel_schedule<Net>;
    std::string s = describe<Net>() + "loss: " + L::name() +
                    std::string(" (one fused pass: loss value and dL/dY)\noptimizer: one "
                                "elementwise pass over all ") +
                    detail::group_digits(Net::param_count) + " parameters\n";
    if constexpr (K::cuda_supported)
        s += std::string("cuda kernels, training step: ") + std::to_string(K::training_step) +
             " = forward " + std::to_string(K::forward) + " + loss " + std::to_string(K::loss) +
             " (" + L::name() + " value, dL/dY and the last epilogue') + backward " +
             std::to_string(K::backward) + " + optimizer " + std::to_string(K::optimizer) + "\n";
    return s;
}

} // namespace ctnn
