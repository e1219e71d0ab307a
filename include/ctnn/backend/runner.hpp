// ctnn/backend/runner.hpp — the stage runner: the one walk over a model's stages that every
// backend shares.
//
// A model lowers to stages (graph/lowering.hpp). Running them is the same on every backend: the
// forward pass evaluates the stages in order; the backward pass walks them from the last to the
// first with two ping-pong gradient buffers, skips the stages whose gradients nobody reads
// (graph/liveness.hpp), resumes from a join's kept gradient at the end of each branch and adds
// each branch's share of its block source's gradient after its first stage. The activations of
// stage I live at the offsets of workspace_plan<Stages>: its anchor output Z, its epilogue output
// Y, its input X (the model input or its source stage's Y).
//
// What differs per backend is how one stage is evaluated. StageRunner is a CRTP base: the
// backend's executor derives from it, starts each pass with bind(input, batch) and supplies
//     RunnerBuffers<T> runner_buffers() const;  // its activation, kept and gradient buffers
//     template <class S, std::size_t I> void forward_stage(const T* params);
//     template <class S, std::size_t I> void backward_stage(const T* params, T* grads, T*& d,
//                                                           T*& other);
//     void accumulate(T* dst, const T* src, std::size_t n);          // dst[i] += src[i]
// With ToInput the backward pass goes on to the model input (gradient_flow<Stages, true>):
// run_backward returns its gradient (Model::input_gradient).
// backward_stage receives in d the gradient the backend's convention puts there (the Eigen
// evaluators: dL/dY of the stage; the CUDA kernels: dL/dZ, the epilogue derivative fused into the
// store of the stage after it) and leaves in d its input gradient when input_grad[I], swapping d
// and other when it wrote it to other. Pointers may be host or device memory: the runner only
// offsets them.
#pragma once
#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/type_list.hpp"
#include "../graph/liveness.hpp"
#include "../graph/lowering.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>

namespace ctnn::detail {

/// The buffers of an executor's passes, for the current batch capacity: activations
/// (plan::per_sample floats per sample), the joins' kept gradients (plan::skip_grad_per_sample)
/// and the two gradient buffers (StageRunner::grad_per_sample each).
template <class T>
struct RunnerBuffers {
    T* act;
    T* kept;
    T* grad_a;
    T* grad_b;
};

template <class Derived, class Stages, class T, bool ToInput = false>
class StageRunner {
public:
    using stages = Stages;
    using plan = workspace_plan<Stages>;
    using flow = gradient_flow<Stages, ToInput>;
    static constexpr std::size_t stage_count = Stages::size;
    /// Floats per sample of each gradient buffer: the widest stage output, and with ToInput the
    /// model input (what the stages reading it leave there).
    static constexpr std::size_t grad_per_sample = [] {
        std::size_t n = plan::grad_per_sample;
        if constexpr (ToInput)
            for_each_type(Stages{}, [&]<class S, std::size_t>() {
                if (S::from_input) n = std::max(n, S::in_size);
            });
        return n;
    }();

protected:
    /// Checks the arguments of a pass as every backend does, with the same messages (`who`
    /// names the executor): buffers given when the model has some (BatchNorm's statistics), and
    /// more than one value per channel for a training pass through a BatchNorm.
    static void check_pass(const char* who, std::size_t batch, bool training,
                           bool model_has_buffers, bool buffers_given) {
        if (model_has_buffers && !buffers_given)
            throw argument_error(std::string(who) + "::forward: this model has buffers (BatchNorm "
                                                    "statistics) but none were given");
        for_each_type(Stages{}, [&]<class S, std::size_t>() {
            if constexpr (S::kind == LayerKind::batch_norm) {
                using A = typename S::anchor;
                if (training && batch * A::bound::spatial < 2)
                    throw argument_error(std::string("BatchNorm (layer ") +
                                         std::to_string(A::index) +
                                         ") needs more than one value per channel in training; "
                                         "the batch has " +
                                         std::to_string(batch) + " sample(s)");
            }
        });
    }

    /// The model input and batch of the next passes. The buffers come from the executor at
    /// every use (runner_buffers()), so copies and moves of an executor stay consistent.
    void bind(const T* input, std::size_t batch) {
        input_ = input;
        batch_ = batch;
    }

    /// Stage i reads the model input; else the output of stage source[i] (the previous stage, or
    /// a block's source for the first stage of a branch).
    static constexpr std::array<bool, stage_count> from_input = []<class... S>(type_list<S...>) {
        return std::array<bool, stage_count>{S::from_input...};
    }(Stages{});
    static constexpr std::array<std::size_t, stage_count> source = []<class... S>(type_list<S...>) {
        return std::array<std::size_t, stage_count>{S::source...};
    }(Stages{});
    static constexpr std::array<bool, stage_count> has_anchor = []<class... S>(type_list<S...>) {
        return std::array<bool, stage_count>{S::has_anchor...};
    }(Stages{});

    // The views take the stage index as a (constant) argument rather than a template argument,
    // so that executors can name them through a using-declaration.

    /// Anchor output of stage i (its epilogue input when it has an anchor).
    T* z_of(std::size_t i) const { return buffers().act + plan::layout[i].z * batch_; }
    /// Output of stage i (its Z when its epilogue is empty).
    T* y_of(std::size_t i) const { return buffers().act + plan::layout[i].y * batch_; }
    /// Input of stage i: the model input, or the output of its source stage.
    const T* x_of(std::size_t i) const { return from_input[i] ? input_ : y_of(source[i]); }
    /// Input of stage i's epilogue: what its derivative is evaluated at.
    const T* epi_in_of(std::size_t i) const { return has_anchor[i] ? z_of(i) : x_of(i); }
    /// Stage i's own workspace (stage_aux, graph/lowering.hpp: a recurrent stage's states).
    T* aux_of(std::size_t i) const { return buffers().act + plan::layout[i].aux * batch_; }
    /// The lengths of the samples (one value each) by which stage i's input sequence is masked
    /// (mask_plan, graph/lowering.hpp), or null: every step is real.
    const T* lengths_of(std::size_t i) const {
        return mask_plan<Stages>::in[i] == no_mask ? nullptr : aux_of(mask_plan<Stages>::in[i]);
    }
    /// Gradients join stage i keeps during backward (its branches' and its source accumulator).
    T* kept_of(std::size_t i) const { return buffers().kept + plan::layout[i].skip_grad * batch_; }

    /// The output of branch Br of join anchor A: its last stage's, or the source for an identity.
    template <class A, class Br>
    const T* branch_output() const {
        if constexpr (!Br::identity) return y_of(Br::last);
        else if constexpr (A::from_input) return input_;
        else return y_of(A::source);
    }

    /// The forward pass: every stage in order.
    void run_forward(const T* params) {
        for_each_type(Stages{}, [&]<class S, std::size_t I>() {
            derived().template forward_stage<S, I>(params);
        });
    }

    /// The backward pass from the output gradient in grad_a. Returns where the walk left the
    /// last gradient: with ToInput, the model input's ([batch, in_size]).
    T* run_backward(const T* params, T* grads) {
        T* d = buffers().grad_a;
        T* other = buffers().grad_b;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (backward_step<stage_count - 1 - I>(params, grads, d, other), ...);
        }
        (std::make_index_sequence<stage_count>{});
        return d;
    }

    std::size_t batch_ = 0;    ///< samples of the current pass
    const T* input_ = nullptr; ///< the model input of the current pass

private:
    Derived& derived() { return static_cast<Derived&>(*this); }
    RunnerBuffers<T> buffers() const { return static_cast<const Derived&>(*this).runner_buffers(); }

    /// One step of the backward pass: stage J, with the hand-over of gradients at the branches
    /// of joins. d and other always leave as the two gradient buffers, or a kept slot and a
    /// gradient buffer.
    template <std::size_t J>
    void backward_step(const T* params, T* grads, T*& d, T*& other) {
        const RunnerBuffers<T> b = buffers();
        if constexpr (flow::resume[J].active) d = b.kept + flow::resume[J].offset * batch_;
        if constexpr (flow::runs_backward[J]) {
            derived().template backward_stage<stage_at<Stages, J>, J>(params, grads, d, other);
            if (other != b.grad_a && other != b.grad_b) other = d == b.grad_a ? b.grad_b : b.grad_a;
        }
        if constexpr (flow::accumulate_count[J] > 0) {
            for (std::size_t k = 0; k < flow::accumulate_count[J]; ++k) {
                const auto& a = flow::accumulate[J][k];
                T* acc = b.kept + a.offset * batch_;
                if (a.into_current) derived().accumulate(d, acc, batch_ * a.size);
                else derived().accumulate(acc, d, batch_ * a.size);
            }
        }
    }
};

} // namespace ctnn::detail
