// ctnn/graph/int8.hpp — which stages of a model run in int8 in a quantized model
// (QuantizedModel, model/quantized.hpp), and their GEMM shapes: the same on every backend.
//
// A Dense on flat features and a Conv2D run in int8; every other stage (pooling, normalization,
// a Dense applied at every step of a sequence, recurrent layers) stays in float. An int8 stage's
// GEMM has `channels` output channels in `groups` groups, each output a dot product of `depth`
// int8 values (a Dense's inputs, a convolution's taps per group).
#pragma once
#include "../config.hpp"
#include "../core/type_list.hpp"
#include "lowering.hpp"

#include <array>
#include <cstddef>
#include <string>

namespace ctnn::detail {

/// Whether stage S runs in int8 in a quantized model.
template <class S>
constexpr bool int8_stage() {
    if constexpr (S::kind == LayerKind::dense) return S::anchor::bound::steps == 1;
    else return S::kind == LayerKind::conv;
}

/// The GEMM of an int8 stage.
struct Int8Gemm {
    std::size_t depth = 0, channels = 0, groups = 1;
};

template <class S>
constexpr Int8Gemm int8_gemm() {
    if constexpr (!int8_stage<S>()) return {};
    else if constexpr (S::kind == LayerKind::dense)
        return {S::anchor::bound::in_features, S::anchor::layer::units, 1};
    else
        return {S::anchor::bound::taps_per_group, S::anchor::bound::out_channels,
                S::anchor::bound::group_count};
}

/// The int8 stages of Stages: index[I] is stage I's rank among them (its input scale's place in
/// QuantizedModel::input_scales()), or none for a float stage; count of them.
template <class Stages>
struct Int8Stages {
    static constexpr std::size_t none = ~std::size_t{0};
    static constexpr std::array<std::size_t, Stages::size> index = [] {
        std::array<std::size_t, Stages::size> at{};
        std::size_t n = 0;
        for_each_type(Stages{},
                      [&]<class S, std::size_t I>() { at[I] = int8_stage<S>() ? n++ : none; });
        return at;
    }();
    static constexpr std::size_t count = [] {
        std::size_t n = 0;
        for (const std::size_t i : index) n += i != none ? 1 : 0;
        return n;
    }();
};

/// "Dense<10> (layer 3)": how errors and describe() name int8 stage S.
template <class S>
std::string int8_stage_name() {
    return std::string(S::anchor::layer::name()) + " (layer " + std::to_string(S::anchor::index) +
           ")";
}

} // namespace ctnn::detail
