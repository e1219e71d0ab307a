// ctnn/graph/liveness.hpp — the gradient flow of a stage list: which input gradients a backward
// pass computes, and where the joins of graph blocks hand gradients over.
//
// A property of the lowered graph, the same on every backend: the stage runner
// (backend/runner.hpp) walks it, each backend's evaluators read input_grad to skip the input
// gradients nobody consumes (those of the first stages before any parameter). Everything here is
// computed once per stage list, as arrays indexed by stage: a backward walk reads entry J in O(1).
#pragma once
#include "../config.hpp"
#include "../core/type_list.hpp"
#include "lowering.hpp"

#include <array>
#include <cstddef>
#include <utility>

namespace ctnn {

namespace detail {
template <class S>
inline constexpr bool stage_has_params = S::anchor::param_count > 0;

/// Before stage j's backward step: j is the last stage of a branch whose gradient its join
/// kept (every computed branch but the last): the walk resumes from that kept gradient, at
/// `offset` floats per sample into the kept-gradient buffer (workspace_plan::skip_grad).
struct GradientResume {
    bool active = false;
    std::size_t offset = 0;
};
/// After stage j's backward step: j is the first stage of a branch of a block (not reading
/// the model input), so its input gradient is its share of the block source's. The share of
/// the first computed branch (the last the walk reaches) takes the others' from the source's
/// accumulator (`into_current`); the others add theirs to it. `offset`: the accumulator, in
/// floats per sample into the kept-gradient buffer; `size`: floats per sample.
struct GradientAccumulate {
    std::size_t offset = 0;
    std::size_t size = 0;
    bool into_current = false;
};

template <bool ToInput, class... S>
constexpr std::array<bool, sizeof...(S)> grad_needed_of(type_list<S...>) {
    std::array<bool, sizeof...(S)> g{};
    bool any = ToInput;
    std::size_t i = 0;
    ((any = any || stage_has_params<S>, g[i++] = any), ...);
    return g;
}
template <bool ToInput, class... S>
constexpr std::array<bool, sizeof...(S)> input_grad_of(type_list<S...> l) {
    const auto needed = grad_needed_of<ToInput>(l);
    std::array<bool, sizeof...(S)> g{};
    std::size_t i = 0;
    ((g[i] = S::kind == LayerKind::add ? ToInput || (i > 0 && needed[i - 1])
             : S::from_input           ? ToInput
                                       : needed[S::source],
      ++i),
     ...);
    return g;
}
template <class... S>
constexpr auto resume_of(type_list<S...>) {
    using plan = workspace_plan<type_list<S...>>;
    std::array<GradientResume, sizeof...(S)> r{};
    std::size_t k = 0;
    (
        [&] {
            if constexpr (S::kind == LayerKind::add) {
                using A = typename S::anchor;
                for_each_type(typename A::branches{}, [&]<class Br, std::size_t B>() {
                    if constexpr (!Br::identity && B != A::last_computed)
                        r[Br::last] = GradientResume{true, plan::layout[k].skip_grad + Br::slot};
                });
            }
            ++k;
        }(),
        ...);
    return r;
}
/// The accumulations after each stage and their counts (gradient_flow::accumulate).
template <bool ToInput, class... S>
constexpr auto accumulate_of(type_list<S...> l) {
    using plan = workspace_plan<type_list<S...>>;
    constexpr std::size_t n = sizeof...(S);
    const auto input_grad = input_grad_of<ToInput>(l);
    std::pair<std::array<std::array<GradientAccumulate, n>, n>, std::array<std::size_t, n>> t{};
    std::size_t k = 0;
    (
        [&] {
            if constexpr (S::kind == LayerKind::add) {
                using A = typename S::anchor;
                if constexpr (!A::from_input || ToInput)
                    for_each_type(typename A::branches{}, [&]<class Br, std::size_t B>() {
                        if constexpr (!Br::identity) {
                            if (input_grad[Br::first]) {
                                std::size_t& c = t.second[Br::first];
                                t.first[Br::first][c++] =
                                    GradientAccumulate{plan::layout[k].skip_grad + A::acc_offset,
                                                       A::in_size, B == A::first_computed};
                            }
                        }
                    });
            }
            ++k;
        }(),
        ...);
    return t;
}
} // namespace detail

/// The gradient flow of the stage list Stages (stages_of<Net>), computed once. ToInput: the
/// backward pass computes the gradient of the model input too (Model::input_gradient), so every
/// stage's output gradient is needed and the stages reading the model input compute theirs.
template <class Stages, bool ToInput = false>
struct gradient_flow {
    static constexpr std::size_t count = Stages::size;
    /// The backward pass ends with the gradient of the model input.
    static constexpr bool to_input = ToInput;

    /// grad_needed[i]: the backward pass needs dL/d(output of stage i), because stage i or an
    /// earlier stage has parameters (or ToInput).
    static constexpr std::array<bool, count> grad_needed =
        detail::grad_needed_of<ToInput>(Stages{});
    /// input_grad[i]: stage i computes the gradient of its input, for its source stage (the
    /// previous one, or a block's source for the first stage of a branch; the model input when
    /// ToInput). A join: it hands gradients to its branches (some stage before it has parameters,
    /// or ToInput).
    static constexpr std::array<bool, count> input_grad = detail::input_grad_of<ToInput>(Stages{});
    /// The gradient of the source of join anchor A is needed: its accumulator is kept.
    template <class A>
    static constexpr bool source_grad_needed = A::from_input ? ToInput : grad_needed[A::source];
    /// Stage i runs in a backward pass: it has parameters or computes its input gradient.
    static constexpr std::array<bool, count> runs_backward = [] {
        std::array<bool, count> r{};
        detail::for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            r[I] = detail::stage_has_params<S> || input_grad[I];
        });
        return r;
    }();
    /// resume[j]: before stage j's backward step, the walk resumes from a kept gradient.
    static constexpr std::array<detail::GradientResume, count> resume = detail::resume_of(Stages{});

private:
    static constexpr auto accumulate_table = detail::accumulate_of<ToInput>(Stages{});

public:
    /// accumulate[j][0 .. accumulate_count[j]): after stage j's backward step, in stage order of
    /// their joins (a nested block's join first). None where stage j computes no input gradient.
    static constexpr const auto& accumulate = accumulate_table.first;
    static constexpr const auto& accumulate_count = accumulate_table.second;
};

} // namespace ctnn
