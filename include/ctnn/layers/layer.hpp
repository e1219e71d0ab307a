// ctnn/layers/layer.hpp — what a layer is: the Layer concept, layer kinds and parameter specs.
//
// A layer is a stateless type. Bound to the shape of its input (`L::template bind<In>`), it states
// its output shape and its parameters. How a layer is computed is not the layer's business: the
// model is lowered to stages (graph/lowering.hpp) and each backend evaluates stages.
#pragma once
#include "../config.hpp"
#include "../core/param.hpp"
#include "../core/shape.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ctnn {

/// How a layer takes part in lowering.
enum class LayerKind {
    input,       ///< the model input; first element of a Sequential, nothing to compute
    view,        ///< a reinterpretation of the same values (Flatten, Reshape): no computation
    elementwise, ///< y_i = f(x_i): fuses into the epilogue of the preceding stage
    dense,       ///< a GEMM anchor (Dense)
    rowwise,     ///< a per-sample reduction anchor (Softmax, LogSoftmax)
    conv,        ///< a convolution anchor (Conv2D): a GEMM over image patches, per sample [C, H, W]
    pool,        ///< a window reduction anchor per channel (MaxPool2D, AvgPool2D, GlobalAvgPool)
    resample,    ///< a resampling anchor per channel (Upsample): [C, H, W] -> [C, S H, S W]
    batch_norm,  ///< per-channel statistics over the batch (BatchNorm); has buffers
    layer_norm,  ///< per-sample statistics over all its values (LayerNorm)
    residual_begin, ///< a graph block's or branch's start marker: ends the open stage (the source)
    add,            ///< the join of a block's branches (Add, Residual: sum; Concat): an anchor
    recurrent,      ///< a recurrent layer over a sequence [T, F] (RNN, LSTM, GRU): an anchor
    embedding,      ///< token ids [T] to vectors [T, D] (Embedding): a gather anchor
    step_pool,      ///< a sequence [T, F] to [F] (LastStep, MeanOverSteps): an anchor
};

/// Base of every bound layer: no parameters unless the layer says otherwise.
struct no_params {
    static constexpr std::array<ParamSpec, 0> params{};
    static constexpr std::size_t param_count = 0;
};

/// A ctnn layer type: it carries the ctnn_layer tag, a kind and a name.
template <class L>
concept Layer = requires {
    typename L::ctnn_layer;
    { L::kind } -> std::convertible_to<LayerKind>;
    { L::name() } -> std::convertible_to<std::string>;
};

namespace detail {
/// Formats a float template argument for names: 0.2f -> "0.2".
inline std::string format_real(float v) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
    return s;
}
/// Formats a float in the shortest "%g" form: 1e-5f -> "1e-05".
inline std::string format_general(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    return buf;
}
} // namespace detail

} // namespace ctnn
