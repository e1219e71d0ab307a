// ctnn/layers/activation.hpp — elementwise activations, built-in and user-defined.
//
// Every activation is an expression over `ctnn::expr::x`; its derivative is derived at compile time
// by evaluating the expression on dual numbers. A user activation is one line:
//
//     using Swish = ctnn::Activation<ctnn::expr::x * ctnn::expr::sigmoid(ctnn::expr::x)>;
#pragma once
#include "../expr/context.hpp"
#include "../expr/expr.hpp"
#include "layer.hpp"

namespace ctnn {

/// An elementwise layer y = E(x) for an expression E over ctnn::expr::x. Any input shape.
template <auto E>
    requires expr::Expression<std::remove_cvref_t<decltype(E)>>
struct Activation {
    using ctnn_layer = void;
    static constexpr LayerKind kind = LayerKind::elementwise;
    static constexpr auto expression = E;
    static std::string name() { return std::string("Activation(") + E.str() + ")"; }

    template <class In>
    struct bind : no_params {
        using out_shape = In;
    };

    /// y = E(v); on a Dual, also the derivative.
    template <class S>
    CTNN_HOST_DEVICE static S apply(S v, const ElemCtx&) {
        return E(v);
    }
};

namespace act {
using expr::x;
// NaN propagates through every activation, forward and backward, as in PyTorch: the branch
// conditions are written so that a NaN takes the branch PyTorch's kernels take (relu: x <= 0 is
// false for NaN, so y = NaN and dL/dx = dL/dy, PyTorch's threshold_backward).
inline constexpr auto relu = where(x <= 0.0f, 0.0f, x);
template <float Slope>
inline constexpr auto leaky_relu = where(x > 0.0f, x, Slope* x);
template <float Alpha>
inline constexpr auto elu = where(x <= 0.0f, Alpha* expm1(x), x);
inline constexpr auto sigmoid = expr::sigmoid(x);
inline constexpr auto tanh = expr::tanh(x);
inline constexpr auto gelu = 0.5f * x * (1.0f + expr::erf(x * 0.70710678118654752f));
inline constexpr auto gelu_tanh =
    0.5f * x * (1.0f + expr::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
inline constexpr auto silu = x * expr::sigmoid(x);
template <float Beta, float Threshold>
inline constexpr auto softplus = where(Beta* x > Threshold, x, expr::softplus(Beta* x) / Beta);
inline constexpr auto identity = x;
} // namespace act

#define CTNN_NAMED_ACTIVATION(NAME, EXPR, LABEL)                                                   \
    struct NAME : Activation<EXPR> {                                                               \
        static std::string name() { return LABEL; }                                                \
    };

/// max(x, 0); NaN for NaN (PyTorch's relu)
CTNN_NAMED_ACTIVATION(ReLU, act::relu, "ReLU")
/// logistic sigmoid 1 / (1 + exp(-x))
CTNN_NAMED_ACTIVATION(Sigmoid, act::sigmoid, "Sigmoid")
/// tanh(x)
CTNN_NAMED_ACTIVATION(Tanh, act::tanh, "Tanh")
/// x * Phi(x), exact (erf) form — PyTorch's GELU(approximate='none')
CTNN_NAMED_ACTIVATION(GELU, act::gelu, "GELU")
/// tanh approximation of GELU — PyTorch's GELU(approximate='tanh')
CTNN_NAMED_ACTIVATION(GELUTanh, act::gelu_tanh, "GELU(tanh)")
/// x * sigmoid(x) (a.k.a. Swish)
CTNN_NAMED_ACTIVATION(SiLU, act::silu, "SiLU")
/// y = x
CTNN_NAMED_ACTIVATION(Identity, act::identity, "Identity")
#undef CTNN_NAMED_ACTIVATION

/// x if x > 0 else Slope * x (PyTorch default slope 0.01)
template <float Slope = 0.01f>
struct LeakyReLU : Activation<act::leaky_relu<Slope>> {
    static std::string name() {
        return std::string("LeakyReLU(") + detail::format_real(Slope) + ")";
    }
};
/// x if x > 0 else Alpha * (exp(x) - 1)
template <float Alpha = 1.0f>
struct ELU : Activation<act::elu<Alpha>> {
    static std::string name() { return std::string("ELU(") + detail::format_real(Alpha) + ")"; }
};
/// log(1 + exp(Beta x)) / Beta, linear above Threshold (PyTorch's Softplus)
template <float Beta = 1.0f, float Threshold = 20.0f>
struct Softplus : Activation<act::softplus<Beta, Threshold>> {
    static_assert(Beta > 0.0f, "Softplus needs Beta > 0");
    static std::string name() { return std::string("Softplus(") + detail::format_real(Beta) + ")"; }
};

} // namespace ctnn
