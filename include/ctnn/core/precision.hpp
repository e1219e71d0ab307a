// ctnn/core/precision.hpp — a model's number formats: the second parameter of Model<Net, P>.
//
//   Model<Net>                    P = float: every value fp32
//   Model<Net, double>            every value fp64 (gradient checks, science)
//   Model<Net, precision::bf16>   mixed precision: the operands of the matrix products (weights,
//                                 activations, gradients) rounded to bfloat16 as the products read
//                                 them, sums in fp32; master weights, gradients, optimizer state,
//                                 losses, softmax and normalization statistics stay fp32
//   Model<Net, precision::fp16>   the same with IEEE half operands (needs dynamic loss scaling,
//                                 which is not built yet: refused by Model with a static_assert)
//
// What each backend runs in the reduced format is the backend's: CUDA's Dense GEMMs on tensor
// cores (backend/cuda/eval/dense.hpp); describe() on the model lists it. A mixed model's values in
// memory (parameters(), gradients(), checkpoints) are float, as Model<Net>'s.
#pragma once
#include "../config.hpp"

#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>

namespace ctnn {

/// The number format the matrix products of a model read their operands in.
enum class GemmOperands : std::uint8_t {
    scalar, ///< the model's scalar type (float or double), unrounded
    bf16,   ///< bfloat16: fp32's exponent range, 8 significant bits
    fp16,   ///< IEEE half: 11 significant bits, largest finite 65504
};

/// Mixed precision with GEMM operands in format O and everything else in fp32 (see the file
/// comment); precision::bf16 and precision::fp16 name its two instances.
template <GemmOperands O>
struct Mixed {
    static_assert(O != GemmOperands::scalar, "ctnn::Mixed: the operands of a mixed precision are "
                                             "bf16 or fp16 (Model<Net, float> is fp32)");
    static constexpr GemmOperands operands = O;
    using scalar = float;
};

namespace precision {
using bf16 = Mixed<GemmOperands::bf16>;
using fp16 = Mixed<GemmOperands::fp16>;
} // namespace precision

namespace detail {

template <class P>
struct number_traits {};
template <class T>
    requires std::same_as<T, float> || std::same_as<T, double>
struct number_traits<T> {
    using scalar = T;
    static constexpr GemmOperands operands = GemmOperands::scalar;
};
template <GemmOperands O>
struct number_traits<Mixed<O>> {
    using scalar = float;
    static constexpr GemmOperands operands = O;
};

} // namespace detail

/// What Model<Net, P> takes as P: float, double, precision::bf16 or precision::fp16.
template <class P>
concept ModelNumber = requires {
    typename detail::number_traits<P>::scalar;
};

/// The type of a model's stored values (parameters, activations, gradients): float for a mixed P.
template <ModelNumber P>
using scalar_of = typename detail::number_traits<P>::scalar;

/// The format of a model's GEMM operands.
template <ModelNumber P>
inline constexpr GemmOperands gemm_operands_of = detail::number_traits<P>::operands;

/// "fp32", "fp64", "bf16" or "fp16": the name of a GEMM operand format of scalar type T.
template <class T>
std::string operands_name(GemmOperands o) {
    switch (o) {
    case GemmOperands::bf16: return "bf16";
    case GemmOperands::fp16: return "fp16";
    case GemmOperands::scalar: break;
    }
    return std::is_same_v<T, double> ? "fp64" : "fp32";
}

} // namespace ctnn
