// ctnn/graph/describe.hpp — describe_stages<Net, Notes>(): a model's layers, parameters and the
// stages it lowers to, forward and backward.
//
// Backend-neutral: what a backend chooses for a stage (how the CPU computes a convolution) comes
// from Notes (backend/cpu/describe.hpp), and the CUDA kernel listing is backend/cuda/describe.hpp.
// The public describe<Net>() (model/describe.hpp) puts them together.
#pragma once
#include "../config.hpp"
#include "../layers/pool.hpp"
#include "../layers/sequence.hpp"
#include "fold.hpp"
#include "lowering.hpp"
#include "sequential.hpp"

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace ctnn {

/// What describe_stages says about how a backend evaluates a convolution stage S: the method
/// after its forward line (" (im2col gemm)"), its weight gradient and its input gradient. This
/// default names the operations alone; backend/cpu/describe.hpp names the CPU's choices.
struct StageNotes {
    template <class S>
    static std::string conv_method() {
        return "";
    }
    template <class S>
    static std::string conv_weight_grad() {
        return "dW = patches(X)^T dZ";
    }
    template <class S>
    static std::string conv_input_grad() {
        return "dX = conv^T(dZ, W)";
    }
};

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
/// " inference: folded into stage I - 1" on a BatchNorm stage that folds, and on the stage it
/// folds into, " inference: + BatchNorm[, its epilogue] folded in (stage I + 1)".
/// `first` (may be empty), then the names of stage S's epilogue ops, comma-separated: "bias,
/// ReLU", "BatchNorm, ReLU".
template <class S>
std::string epilogue_names(std::string first) {
    for_each_type(typename S::epilogue::ops{}, [&]<class N, std::size_t>() {
        if (!first.empty()) first += ", ";
        first += N::layer::name();
    });
    return first;
}

template <class Stages, std::size_t I>
std::string fold_note() {
    if constexpr (folds_into_previous<Stages, I>) {
        return std::string("   (inference: folded into stage ") + std::to_string(I - 1) + ")";
    } else if constexpr (folds_into_previous<Stages, I + 1>) {
        using Bn = stage_at<Stages, I + 1>;
        return std::string("   inference: + ") + epilogue_names<Bn>(Bn::anchor::layer::name()) +
               " (stage " + std::to_string(I + 1) + " folded in)";
    } else {
        return "";
    }
}

/// "skip from stage K" or "skip from the input": a join's source, which identity branches read.
template <class A>
std::string join_skip() {
    return A::from_input ? std::string("skip from the input")
                         : std::string("skip from stage ") + std::to_string(A::source);
}
/// What a join stage adds or concatenates: "add      skip from stage 0 + stage 2" (identity
/// branches first; a sum's order is immaterial), "concat   stage 2 | stage 4 | skip from stage 0"
/// (branch order).
template <class S>
std::string join_sources() {
    using A = typename S::anchor;
    std::string s;
    if constexpr (A::op == JoinOp::sum) {
        for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() {
            if (Br::identity) s += std::string(s.empty() ? "" : " + ") + join_skip<A>();
        });
        for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() {
            if (!Br::identity)
                s += std::string(s.empty() ? "" : " + ") + "stage " + std::to_string(Br::last);
        });
        return "add      " + s;
    } else {
        for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() {
            s += std::string(s.empty() ? "" : " | ") +
                 (Br::identity ? join_skip<A>() : "stage " + std::to_string(Br::last));
        });
        return "concat   " + s;
    }
}
/// The backward pass of a join: where each branch's gradient goes.
template <class S>
std::string join_backward_text() {
    using A = typename S::anchor;
    const std::string part = A::op == JoinOp::sum ? "dZ" : "its slice of dZ";
    std::string s, kept;
    for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
        if constexpr (!Br::identity) {
            if (K == A::last_computed)
                s = part + " into stage " + std::to_string(Br::last) + " (branch " +
                    std::to_string(K) + ")";
            else
                kept += std::string(kept.empty() ? "" : ", ") + "stage " +
                        std::to_string(Br::last) + " (branch " + std::to_string(K) + ")";
        }
    });
    if (!kept.empty()) s += std::string(s.empty() ? "" : ", ") + part + " kept for " + kept;
    bool skip = false;
    for_each_type(typename A::branches{}, [&]<class Br, std::size_t>() { skip |= Br::identity; });
    if (skip && !A::from_input) {
        s += std::string(s.empty() ? "" : ", ") + part;
        s += A::computed > 0
                 ? " kept for the skip (added after stage " + std::to_string(A::body_first) + ")"
                 : " into stage " + std::to_string(A::source) + " (the skip)";
    }
    return s.empty() ? std::string("nothing to propagate") : s;
}
/// On the backward line of the first stage J of a branch: where the gradient of the block's
/// input goes (into an accumulator, or, for the first branch, on with the accumulator added).
template <class Stages, std::size_t J>
std::string branch_note() {
    std::string s;
    for_each_type(Stages{}, [&]<class S, std::size_t K>() {
        if constexpr (S::kind == LayerKind::add) {
            using A = typename S::anchor;
            if constexpr (!A::from_input) {
                for_each_type(typename A::branches{}, [&]<class Br, std::size_t B>() {
                    if constexpr (!Br::identity && Br::first == J)
                        s += B == A::first_computed
                                 ? std::string("; + the gradients kept for stage ") +
                                       std::to_string(A::source) + " (join at stage " +
                                       std::to_string(K) + ")"
                                 : std::string("; dX kept for stage ") + std::to_string(A::source) +
                                       " (join at stage " + std::to_string(K) + ")";
                });
            }
        }
    });
    return s;
}

template <class S, class Notes>
std::string stage_line(std::size_t i, const std::string& note = "") {
    std::string anchor;
    if constexpr (S::kind == LayerKind::dense)
        anchor = std::string("gemm     ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::rowwise)
        anchor = std::string("rowwise  ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::conv)
        anchor =
            std::string("conv2d   ") + S::anchor::layer::name() + Notes::template conv_method<S>();
    else if constexpr (S::kind == LayerKind::pool)
        anchor = std::string(S::anchor::layer::op == PoolOp::max ? "maxpool  " : "avgpool  ") +
                 S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::resample)
        anchor = std::string("upsample ") + S::anchor::layer::name() + " (nearest)";
    else if constexpr (S::kind == LayerKind::batch_norm)
        anchor = std::string("batchnorm ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::layer_norm)
        anchor = std::string("layernorm ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::add) anchor = join_sources<S>();
    else if constexpr (S::kind == LayerKind::recurrent)
        anchor = std::string("recurrent ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::step_pool)
        anchor = std::string("steps    ") + S::anchor::layer::name();
    else if constexpr (S::kind == LayerKind::embedding)
        anchor = std::string("gather   ") + S::anchor::layer::name();
    else anchor = "map";
    bool bias = false;
    if constexpr (S::kind == LayerKind::dense || S::kind == LayerKind::conv)
        bias = S::anchor::layer::has_bias;
    const std::string epi = epilogue_names<S>(bias ? "bias" : "");
    return std::string("  stage ") + std::to_string(i) + ": " + pad(anchor, 25) +
           S::anchor::in_shape::str() + " -> " + S::anchor::out_shape::str() +
           (epi.empty() ? "" : std::string("   epilogue: ") + epi) + note + "\n";
}
template <class S, class Notes>
std::string backward_line(std::size_t i, const std::string& note = "") {
    std::string what = S::epilogue::size > 0 ? "dZ = dY * epilogue'(Z); " : "";
    if constexpr (S::kind == LayerKind::dense) {
        what += "dW = dZ^T X (gemm)";
        if (S::anchor::layer::has_bias) what += ", db = sum(dZ)";
        if (!S::from_input) what += ", dX = dZ W (gemm)";
    } else if constexpr (S::kind == LayerKind::rowwise) {
        what += !S::from_input ? S::anchor::layer::name() + " backward (rowwise)"
                               : "nothing to propagate";
    } else if constexpr (S::kind == LayerKind::conv) {
        what += Notes::template conv_weight_grad<S>();
        if (S::anchor::layer::has_bias) what += ", db = sum(dZ)";
        if (!S::from_input) what += ", " + Notes::template conv_input_grad<S>();
    } else if constexpr (S::kind == LayerKind::add) {
        what += join_backward_text<S>();
    } else if constexpr (S::kind == LayerKind::batch_norm || S::kind == LayerKind::layer_norm) {
        what += "dgamma = sum(dZ xhat), dbeta = sum(dZ)";
        if (i > 0) what += ", dX (normalization backward)";
    } else if constexpr (S::kind == LayerKind::pool) {
        what += !S::from_input
                    ? std::string(S::anchor::layer::op == PoolOp::max
                                      ? "dX = dZ routed to each window's argmax (recomputed)"
                                      : "dX = dZ spread evenly over each window")
                    : std::string("nothing to propagate");
    } else if constexpr (S::kind == LayerKind::resample) {
        what += !S::from_input ? std::string("dX = sum of dZ over each ") +
                                     std::to_string(S::anchor::bound::scale) + " x " +
                                     std::to_string(S::anchor::bound::scale) + " block"
                               : std::string("nothing to propagate");
    } else if constexpr (S::kind == LayerKind::step_pool) {
        what += !S::from_input ? std::string(S::anchor::layer::op == StepPool::last
                                                 ? "dX = dZ at the last step, 0 before"
                                                 : "dX = dZ / T at every step")
                               : std::string("nothing to propagate");
    } else if constexpr (S::kind == LayerKind::embedding) {
        what += "dW = the rows of dZ added at their token ids (scatter-add)";
    } else if constexpr (S::kind == LayerKind::recurrent) {
        what += "backward through time; dW_ih, dW_hh (gemm over all steps), db";
        if (!S::from_input) what += ", dX (gemm per step)";
    } else {
        what += !S::from_input ? "dX = dZ" : "nothing to propagate";
    }
    return std::string("  stage ") + std::to_string(i) + ": " + what + note + "\n";
}
} // namespace detail

/// A human-readable description of Net: layers with output shapes, parameters with their PyTorch
/// names, and the schedule of stages a forward and a backward pass run, with their fused epilogues
/// and what Notes (StageNotes' members) says of each convolution.
template <class Net, class Notes = StageNotes>
std::string describe_stages() {
    std::ostringstream os;
    os << "model: " << Net::in_shape::str() << " -> " << Net::out_shape::str() << ", "
       << detail::group_digits(Net::param_count) << " parameters\n";
    os << "layers:\n";
    detail::for_each_type(typename Net::nodes{}, [&]<class N, std::size_t>() {
        if constexpr (requires { N::layer::listed; })
            if (!N::layer::listed) return; // a branch start: shown only for an identity branch
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
    detail::for_each_type(stages{}, [&]<class S, std::size_t I>() {
        os << detail::stage_line<S, Notes>(I, detail::fold_note<stages, I>());
    });
    if constexpr (folded_stage_count < stages >> 0)
        os << "inference forward: " << inference_stage_count<Net>
           << " stage(s), each BatchNorm marked 'folded' evaluated in the previous stage's "
              "epilogue\n";
    os << "backward: " << stages::size << " stage(s), last to first\n";
    std::vector<std::string> lines;
    detail::for_each_type(stages{}, [&]<class S, std::size_t I>() {
        lines.push_back(detail::backward_line<S, Notes>(I, detail::branch_note<stages, I>()));
    });
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) os << *it;
    os << "workspace per sample: "
       << activation_floats_per_sample<Net> << " floats of activations kept for backward, 2 x "
       << gradient_floats_per_sample<Net> << " floats of gradients\n";
    return os.str();
}

} // namespace ctnn
