// ctnn/backend/cpu/eigen/eval/mixed.hpp — a mixed precision on the CPU: the operands of the Dense
// and Conv2D GEMMs rounded to the model's format (bf16 or fp16) before fp32 GEMMs.
//
// A product of two bf16 (or fp16) values is exact in fp32, so an fp32 GEMM over rounded operands
// computes what a tensor core does (the CUDA path's gemm_mma) up to the order of the fp32 sums:
// the same arithmetic on a CPU without bf16 instructions (AVX512-BF16 and AMX kernels are not
// built yet). The rounded copies live in the executor's `rounded_` buffer: per stage a weight's
// (Dense [in x out], Conv2D [taps x out]) and, for a Dense stage, its input and dZ for the batch
// (a convolution rounds its im2col chunk and its dZ copy in the shared scratch in place).
#pragma once
#include "../../../../core/precision.hpp"
#include "../../../../core/type_list.hpp"
#include "../../../../graph/lowering.hpp"

#include <algorithm>
#include <cstddef>

namespace ctnn::eigen::detail {

/// The rounded-operand floats a stage needs: `fixed` (its weight) and `per_sample` (a Dense stage's
/// input and dZ, for every step of a sequence).
struct RoundedFloats {
    std::size_t per_sample = 0, fixed = 0;
};

template <class S>
constexpr RoundedFloats stage_rounded_floats() {
    if constexpr (S::kind == LayerKind::dense) {
        using A = typename S::anchor;
        constexpr std::size_t n_in = A::bound::in_features, n_out = A::layer::units;
        return {A::bound::steps * (n_in + n_out), n_in * n_out};
    } else if constexpr (S::kind == LayerKind::conv) {
        using A = typename S::anchor;
        return {0, A::bound::taps_per_group * A::bound::out_channels};
    } else {
        return {};
    }
}

template <class Stages>
struct rounded_floats_of;
template <class... S>
struct rounded_floats_of<type_list<S...>> {
    static constexpr RoundedFloats value{
        std::max({std::size_t{0}, stage_rounded_floats<S>().per_sample...}),
        std::max({std::size_t{0}, stage_rounded_floats<S>().fixed...})};
};

/// The executor's rounded-operand buffer for Stages in format G: none in fp32 (G scalar) and in
/// int8, whose operands are integers (eval/int8.hpp).
template <class Stages, GemmOperands G>
inline constexpr RoundedFloats rounded_floats =
    G == GemmOperands::scalar || G == GemmOperands::int8 ? RoundedFloats{}
                                                         : rounded_floats_of<Stages>::value;

/// Whether executor Ex's GEMMs read rounded copies of their float operands (bf16, fp16).
template <class Ex>
inline constexpr bool rounds_operands =
    Ex::gemm_operands == GemmOperands::bf16 || Ex::gemm_operands == GemmOperands::fp16;

/// The n values at src as a float GEMM of executor Ex reads them: src itself in fp32 (and in
/// int8, whose float stages are fp32), else rounded into the executor's rounded-operand buffer
/// `rounded` at offset `at` (returned).
template <class Ex, class T>
const T* gemm_operand(const T* src, T* rounded, std::size_t at, std::size_t n) {
    if constexpr (!rounds_operands<Ex>) {
        (void)rounded, (void)at, (void)n;
        return src;
    } else {
        return round_to_format(src, rounded + at, n, Ex::gemm_operands);
    }
}

/// The n values at p rounded in place to executor Ex's operand format (none in fp32): scratch that
/// only the GEMMs read (a convolution's im2col chunk, its dZ copy).
template <class Ex, class T>
void round_operand_in_place(T* p, std::size_t n) {
    if constexpr (rounds_operands<Ex>) round_to_format(p, p, n, Ex::gemm_operands);
    else (void)p, (void)n;
}

} // namespace ctnn::eigen::detail
