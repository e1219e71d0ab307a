// ctnn/backend/cpu/eigen/executor.hpp — evaluates a model's stages on the CPU with Eigen.
//
// The walk over the stages is the runner's (backend/runner.hpp); each stage is evaluated by the
// evaluator of its kind, one file per kind in eval/ (dense, conv, pool, resample, rowwise, join,
// norm, recurrent, embedding, sequence; epilogue.hpp for the elementwise ops every stage ends
// with). The executor owns the workspace and decides the two cross-stage fusions: in inference a
// BatchNorm right after a Conv2D or Dense stage with an empty epilogue is folded into that
// stage's epilogue sweep (folds_into_previous, graph/fold.hpp); with CTNN_CPU_FUSED a 2 x 2 max
// pool after a direct convolution and ReLU is computed in the convolution's store
// (eval/direct.hpp).
//
// Memory layout: a batch tensor of B samples of n values is stored sample-major (PyTorch's [B, n]
// row-major), which Eigen sees as a column-major n x B matrix. Workspace: per stage, the anchor
// output Z (kept for the backward pass) and the epilogue output Y, sized from the model type times
// the batch capacity and allocated once by reserve(); the im2col scratch is sized from the model
// type alone (cpu::scratch_floats, conv_plan.hpp). forward() and backward() never allocate while
// the batch fits.
#pragma once
#include "../../../config.hpp"
#include "../../../core/error.hpp"
#include "../../../core/precision.hpp"
#include "../../../expr/context.hpp"
#include "../../../graph/fold.hpp"
#include "../../../graph/lowering.hpp"
#include "../../runner.hpp"
#include "../conv_plan.hpp"
#include "../threads.hpp"
#include "eval/common.hpp"
#include "eval/conv.hpp"
#include "eval/dense.hpp"
#include "eval/direct.hpp"
#include "eval/embedding.hpp"
#include "eval/epilogue.hpp"
#include "eval/int8.hpp"
#include "eval/join.hpp"
#include "eval/mixed.hpp"
#include "eval/norm.hpp"
#include "eval/pool.hpp"
#include "eval/recurrent.hpp"
#include "eval/resample.hpp"
#include "eval/rowwise.hpp"
#include "eval/sequence.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ctnn::eigen {

namespace detail {

/// The executor's buffers and pass state: nothing in it depends on the model type, so copying,
/// moving, destroying and sizing it is compiled once per precision rather than once per model.
template <class T>
class ExecutorState {
public:
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Stages the last forward pass evaluated (Executor::last_forward_stages).
    [[nodiscard]] std::size_t last_forward_stages() const noexcept { return stages_run_; }

protected:
    /// Floats of each buffer: per sample (times the batch) or in all.
    struct Sizes {
        std::size_t act, grad, skip_grad;                 // per sample
        std::size_t scratch, stats, fold, direct, packed; // in all
        std::size_t rounded_per_sample, rounded;          // a mixed precision's operand copies
        std::size_t int8_in_per_sample, int8_in, int8_acc_per_sample, int8_acc; // int8 stages
    };

    /// Sizes the buffers for batches of up to `batch` samples (no-op if already large enough).
    void reserve_buffers(const Sizes& n, std::size_t batch) {
        if (batch <= capacity_) return;
        act_.assign(n.act * batch, T(0));
        grad_a_.assign(n.grad * batch, T(0));
        grad_b_.assign(n.grad * batch, T(0));
        skip_grad_.assign(n.skip_grad * batch, T(0));
        if (scratch_.size() != n.scratch) scratch_.assign(n.scratch, T(0));
        if (stats_.size() != n.stats) stats_.assign(n.stats, T(0));
        if (fold_.size() != n.fold) fold_.assign(n.fold, T(0));
        if (direct_.size() != n.direct) direct_.assign(n.direct, T(0));
        if (packed_.size() != n.packed) packed_.assign(n.packed, T(0));
        rounded_.assign(n.rounded_per_sample * batch + n.rounded, T(0));
        int8_in_.assign(n.int8_in_per_sample * batch + n.int8_in, 0);
        int8_acc_.assign(n.int8_acc_per_sample * batch + n.int8_acc, 0);
        capacity_ = batch;
    }

    std::vector<T> act_, grad_a_, grad_b_, scratch_, stats_, skip_grad_;
    std::vector<T> fold_;   ///< scale and shift of a BatchNorm folded into its previous stage
    std::vector<T> direct_; ///< padded input and packed weight of a direct convolution
    std::vector<T> packed_; ///< per direct_conv stage: the weight last packed, then its packing
    /// A mixed precision's GEMM operands rounded to its format (eval/mixed.hpp): empty in fp32.
    std::vector<T> rounded_;
    /// A quantized model's int8 stages (eval/int8.hpp): their weights and scales, set by
    /// set_int8(), and the quantized input and int32 sums of the stage being evaluated.
    std::vector<std::int8_t> int8_weights_, int8_in_;
    std::vector<float> int8_scales_;
    std::vector<std::int32_t> int8_acc_;
    std::size_t stages_run_ = 0; ///< stages the last forward pass evaluated
    bool keep_ = true;           ///< the last forward pass kept every value backward() reads
    T* buffers_ = nullptr;
    std::size_t capacity_ = 0;
    ElemCtx ctx_{};
};

} // namespace detail

/// Stage-by-stage evaluation of Net on the CPU, in precision T (float, or double for checks).
/// ToInput: backward() computes the gradient of the model input too (Model::input_gradient).
/// G: the format the Dense and Conv2D GEMMs read their operands in (bf16 or fp16: rounded copies
/// multiplied in fp32, eval/mixed.hpp; int8: a quantized model's inference, eval/int8.hpp; both
/// need T = float).
template <class Net, class T = float, bool ToInput = false, GemmOperands G = GemmOperands::scalar>
class Executor
    : public ctnn::detail::StageRunner<Executor<Net, T, ToInput, G>, stages_of<Net>, T, ToInput>,
      public detail::ExecutorState<T> {
    using Runner =
        ctnn::detail::StageRunner<Executor<Net, T, ToInput, G>, stages_of<Net>, T, ToInput>;
    static_assert(G == GemmOperands::scalar || std::is_same_v<T, float>,
                  "eigen::Executor: bf16, fp16 and int8 GEMM operands are made from float values");
    static_assert(G != GemmOperands::int8 || !ToInput,
                  "eigen::Executor: an int8 model runs inference only");
    using State = detail::ExecutorState<T>;
    friend Runner;
    template <LayerKind>
    friend struct detail::Eval;
    friend struct detail::Int8Eval;

public:
    using Runner::stage_count;
    using typename Runner::flow;
    using typename Runner::plan;
    using typename Runner::stages;
    /// The format the Dense and Conv2D GEMMs read their operands in.
    static constexpr GemmOperands gemm_operands = G;
    /// The stages evaluated by ctnn's direct convolution and pooling kernels (CTNN_CPU_FUSED; in
    /// fp32 only: a mixed precision's convolutions run as im2col GEMMs on rounded operands).
    using direct = detail::DirectPlan<stages, T, G == GemmOperands::scalar>;

    /// Pooling stages that a forward pass computes in the previous convolution's store (a 2 x 2
    /// max pool after a direct convolution and ReLU, when the instruction set's block holds whole
    /// row pairs): last_forward_stages() does not count them.
    static constexpr std::size_t fused_pools = direct::fused_pools;

    /// The int8 stages of a quantized model (G int8): which stages, and their buffers' sizes.
    using int8_layout = detail::Int8Layout<stages>;

    /// Allocates workspace for batches of up to `batch` samples (no-op if already large enough).
    void reserve(std::size_t batch) {
        static constexpr detail::Int8Totals int8_sizes = [] {
            if constexpr (G == GemmOperands::int8) return int8_layout::totals;
            else return detail::Int8Totals{};
        }();
        static constexpr typename State::Sizes sizes{plan::per_sample,
                                                     Runner::grad_per_sample,
                                                     plan::skip_grad_per_sample,
                                                     cpu::scratch_floats<stages>,
                                                     plan::stats,
                                                     2 * detail::fold_channels<stages>,
                                                     direct::direct_floats,
                                                     direct::packed_cache_floats,
                                                     detail::rounded_floats<stages, G>.per_sample,
                                                     detail::rounded_floats<stages, G>.fixed,
                                                     int8_sizes.in_per_sample,
                                                     int8_sizes.in_fixed,
                                                     int8_sizes.acc_per_sample,
                                                     int8_sizes.acc_fixed};
        this->reserve_buffers(sizes, batch);
    }
    using State::capacity;

    /// Runs the forward pass on `batch` samples x ([batch, in_size] row-major, kept alive by the
    /// caller until backward()). Returns the output, [batch, out_size] row-major. `buffers` is the
    /// model's buffer storage (Net::buffer_count values: BatchNorm's running statistics), read in
    /// inference and updated by a training pass; it may be null for a model without buffers.
    const T* forward(const T* params, const T* x, std::size_t batch, ElemCtx ctx,
                     T* buffers = nullptr) {
        Runner::check_pass("eigen::Executor", batch, ctx.training, Net::buffer_count > 0,
                           buffers != nullptr);
        if constexpr (G == GemmOperands::int8)
            if (ctx.training)
                throw argument_error("eigen::Executor: an int8 model runs inference only");
        reserve(batch);
        this->bind(x, batch);
        ctx_ = ctx;
        buffers_ = buffers;
        keep_ = ctx.training;
        run_forward(params);
        return output();
    }

    /// A quantized model (G int8): quantizes the weights of its int8 stages from params (one
    /// scale per output channel) and sets their input scales, one per int8 stage in stage order
    /// (int8_layout::totals.stages). Throws ctnn::argument_error for a scale that is not
    /// positive and finite, ctnn::numeric_error for a non-finite weight.
    void set_int8(const T* params,
                  std::span<const float> input_scales) requires(G == GemmOperands::int8) {
        if (input_scales.size() != int8_layout::totals.stages)
            throw argument_error(
                "eigen::Executor::set_int8: " + std::to_string(input_scales.size()) +
                " input scales for " + std::to_string(int8_layout::totals.stages) + " int8 stages");
        detail::Int8Eval::set(*this, params, input_scales.data());
    }

    /// The input of stage i in the last forward pass ([batch, in_size of the stage]): what a
    /// quantized model's calibration measures (valid until the next pass).
    [[nodiscard]] std::span<const T> stage_input(std::size_t i) const {
        return {x_of(i), batch_ * stage_in_size[i]};
    }

    /// Stages the last forward pass evaluated (each one pass over its output): the stage count,
    /// less the BatchNorm stages folded into the previous stage in inference
    /// (folds_into_previous, graph/fold.hpp) and the max pools computed in the previous
    /// convolution's store (pool_fused; inference stores the pooled output only, training the
    /// convolution's output too).
    using State::last_forward_stages;

    /// Output of the last forward pass.
    [[nodiscard]] const T* output() const { return y_of(stage_count - 1); }

    /// Buffer for dLoss/dOutput, [batch, out_size]: the loss writes it, backward() consumes it.
    [[nodiscard]] T* output_grad() { return grad_a_.data(); }

    /// Backward pass of the last forward pass. Reads output_grad(), writes all parameter gradients
    /// (overwriting, not accumulating) into grads. With ToInput, returns the gradient of the model
    /// input ([batch, in_size], in the workspace: valid until the next pass).
    const T* backward(const T* params, T* grads) requires(G != GemmOperands::int8) {
        // An inference pass keeps only what the next stage reads (no Z beside a ReLU output, no
        // unpooled output under a fused pool): evaluate it again, keeping all (same values).
        if (!keep_) {
            keep_ = true;
            run_forward(params);
        }
        return this->run_backward(params, grads);
    }

private:
    using Runner::aux_of;
    using Runner::batch_;
    using Runner::epi_in_of;
    using Runner::kept_of;
    using Runner::lengths_of;
    using Runner::x_of;
    using Runner::y_of;
    using Runner::z_of;

    /// Threads for the work inside one sample: all of ctnn's when the batch has fewer samples
    /// than threads (at batch 1: latency), else 1 (BatchParallel splits the batch instead). A
    /// BatchParallel part that asks while the pool runs its parts gets a serial run.
    [[nodiscard]] unsigned intra_threads() const {
        if (batch_ >= 2) return 1;
        return ctnn::detail::ThreadPool::instance().size();
    }

    void run_forward(const T* params) {
        stages_run_ = 0;
        Runner::run_forward(params);
    }

    /// The runner's view of the workspace (const: the runner's views are used by const members
    /// such as output(); the buffers are this executor's own).
    ctnn::detail::RunnerBuffers<T> runner_buffers() const {
        auto* self = const_cast<Executor*>(this);
        return {self->act_.data(), self->skip_grad_.data(), self->grad_a_.data(),
                self->grad_b_.data()};
    }

    /// dst[i] += src[i] for the n values: a branch's share of its block source's gradient.
    void accumulate(T* dst, const T* src, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
    }

    template <class S, std::size_t I>
    void forward_stage(const T* params) {
        if constexpr (folds_into_previous<stages, I>)
            if (!ctx_.training) return; // evaluated by stage I - 1's epilogue
        if constexpr (I > 0) {
            if constexpr (direct::template pool_fused<I - 1>) {
                // Stage I - 1 wrote the pooled values into Z.
                if constexpr (S::epilogue::size > 0)
                    detail::epilogue<S>(batch_, ctx_, z_of(I), nullptr, y_of(I), nullptr);
                return;
            }
        }
        ++stages_run_;
        detail::Eval<S::kind>::template forward<S, I>(*this, params);
    }

    template <class S, std::size_t I>
    void backward_stage(const T* params, T* grads, T*& d, T*& other) {
        // Through the epilogue, unless the max pool after this stage applied it (relu_in_pool),
        // then through the anchor.
        if constexpr (!direct::template relu_in_pool<I>)
            detail::epilogue_backward<S>(batch_, ctx_, epi_in_of(I), y_of(I), d);
        detail::Eval<S::kind>::template backward<S, I>(*this, params, grads, d, other);
    }

    using State::act_, State::grad_a_, State::grad_b_, State::scratch_, State::stats_,
        State::skip_grad_, State::fold_, State::direct_, State::packed_, State::stages_run_,
        State::keep_, State::buffers_, State::ctx_, State::rounded_, State::int8_weights_,
        State::int8_in_, State::int8_scales_, State::int8_acc_;

    std::array<bool, stage_count> bn_training_{}; ///< mode of each BatchNorm stage's last forward

    static constexpr std::array<std::size_t, stage_count> stage_in_size =
        []<class... S>(type_list<S...>) {
            return std::array<std::size_t, stage_count>{S::in_size...};
        }(stages{});
};

} // namespace ctnn::eigen
