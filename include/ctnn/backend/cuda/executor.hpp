// ctnn/backend/cuda/executor.hpp — evaluates a model's stages with fused CUDA kernels.
//
// The device twin of eigen::Executor: the same stages (graph/lowering.hpp), the same per-sample
// workspace plan, the same [batch, n] row-major tensors, the same ElemCtx indices for epilogues
// (so Dropout draws the same mask), and the kernel schedule of schedule.hpp. The walk is
// the runner's (backend/runner.hpp); each stage kind's kernels are launched by its evaluator in
// eval/ (dense, conv, pool and resample, rowwise and elementwise, norm, join, recurrent, sequence:
// embedding and step pooling; fusion.hpp for the stages run in an earlier stage's GEMM store,
// which launch nothing). The loss is one kernel, loss_forward_backward, with the last stage's
// epilogue derivative fused.
//
// Every buffer lives in device memory owned by this object (DeviceBuffer, RAII) and is sized from
// the model type times the batch capacity by reserve(); forward() and backward() then allocate
// nothing. All work is queued on one stream; only the loss value and the outputs come back.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../core/precision.hpp"
#include "../../expr/context.hpp"
#include "../../graph/fold.hpp"
#include "../../graph/lowering.hpp"
#include "../../loss/loss.hpp"
#include "../runner.hpp"
#include "eval/common.hpp"
#include "eval/conv.hpp"
#include "eval/dense.hpp"
#include "eval/fusion.hpp"
#include "eval/int8.hpp"
#include "eval/join.hpp"
#include "eval/norm.hpp"
#include "eval/pool.hpp"
#include "eval/recurrent.hpp"
#include "eval/rowwise.hpp"
#include "eval/sequence.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/loss.hpp"
#include "memory.hpp"
#include "schedule.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace ctnn::cuda {

/// Stage-by-stage evaluation of Net with CUDA kernels (host execution without nvcc), values of
/// type T. ToInput: backward() computes the gradient of the model input too
/// (Model::input_gradient). G: the operand format of the Dense GEMMs (bf16 or fp16: gemm_mma on
/// tensor cores, eval/dense.hpp; needs T = float); int8: a quantized model's inference, its Dense
/// and Conv2D stages on int8 GEMMs (eval/int8.hpp; set_int8 first).
template <class Net, class T = float, bool ToInput = false, GemmOperands G = GemmOperands::scalar>
class Executor
    : public ctnn::detail::StageRunner<Executor<Net, T, ToInput, G>, stages_of<Net>, T, ToInput> {
    using Runner =
        ctnn::detail::StageRunner<Executor<Net, T, ToInput, G>, stages_of<Net>, T, ToInput>;
    static_assert(G == GemmOperands::scalar || std::is_same_v<T, float>,
                  "cuda::Executor: bf16, fp16 and int8 GEMM operands are made from float values");
    static_assert(G != GemmOperands::int8 || !ToInput,
                  "cuda::Executor: an int8 model runs inference only");
    static constexpr bool int8 = G == GemmOperands::int8;
    using int8_plan = detail::Int8Plan<stages_of<Net>>;
    friend Runner;
    friend struct detail::Int8Eval;
    template <LayerKind>
    friend struct detail::Eval;
    friend struct detail::Fusions;

public:
    using value_type = T;
    /// The format the Dense GEMMs read their operands in.
    static constexpr GemmOperands gemm_operands = G;
    using Runner::stage_count;
    using typename Runner::flow;
    using typename Runner::plan;
    using typename Runner::stages;
    /// The kernel counts of a training step (describe(), tests); the evaluators read `flow`.
    using schedule = kernel_schedule<Net>;
    static_assert(schedule::cuda_supported,
                  "cuda::Executor: a stage of this model has no CUDA kernel yet (Model checks "
                  "kernel_schedule<Net>::cuda_supported before creating one)");

    explicit Executor(stream_t stream = nullptr) : stream_(stream) {
        // The loss kernels' ticket must start at 0; they leave it at 0.
        scratch_partials_ = DeviceBuffer<double>(loss_max_blocks);
        scratch_ticket_ = DeviceBuffer<unsigned>(1);
        scratch_result_ = DeviceBuffer<double>(1);
        zero(scratch_ticket_.data(), 1, stream_);
        stats_ = DeviceBuffer<T>(plan::stats); // BatchNorm: mean and invstd per channel
    }

    /// Allocates device workspace for batches of up to `batch` samples (no-op if large enough).
    /// Throws cuda_error on out-of-memory, keeping the previous workspace.
    void reserve(std::size_t batch) {
        if (batch <= capacity_) return;
        DeviceBuffer<T> act(plan::per_sample * batch), ga(Runner::grad_per_sample * batch),
            gb(Runner::grad_per_sample * batch), in(Net::in_size * batch),
            targets(Net::out_size * batch);
        DeviceBuffer<std::int32_t> labels(batch);
        DeviceBuffer<T> ln_rows(has_layer_norm ? 2 * batch : 0);
        DeviceBuffer<T> kept(plan::skip_grad_per_sample * batch); // joins' kept gradients
        DeviceBuffer<std::int32_t> int8_scratch(int8 ? int8_plan::totals.scratch_per_sample * batch
                                                     : 0);
        act_ = std::move(act);
        grad_a_ = std::move(ga);
        grad_b_ = std::move(gb);
        input_buf_ = std::move(in);
        targets_ = std::move(targets);
        labels_ = std::move(labels);
        ln_rows_ = std::move(ln_rows);
        kept_ = std::move(kept);
        int8_scratch_ = std::move(int8_scratch);
        capacity_ = batch;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Uploads `batch` samples from host memory x ([batch, in_size]) and runs the forward pass with
    /// device parameters `params`. Returns the device output [batch, out_size]. `buffers` is the
    /// model's device buffer storage (Net::buffer_count values: BatchNorm's running statistics),
    /// read in inference and updated by a training pass; it may be null for a model without
    /// buffers.
    const T* forward(const T* params, const T* x_host, std::size_t batch, ElemCtx ctx,
                     T* buffers = nullptr) {
        return forward_from(params, x_host, nullptr, batch, ctx, buffers);
    }

    /// forward() on an input the device reads in place: x_device is the device address of x_host
    /// (a mapped HostBuffer's device_data(): on an integrated GPU no copy at all), bound as the
    /// first stages' input instead of the executor's input buffer. x_host must stay valid and
    /// unchanged until the stream has finished the pass.
    const T* forward_in_place(const T* params, const T* x_host, const T* x_device,
                              std::size_t batch, ElemCtx ctx, T* buffers = nullptr) {
        return forward_from(params, x_host, x_device, batch, ctx, buffers);
    }

    /// The host-side checks of an input before it reaches the device: token ids are checked on
    /// the host, before they are uploaded, because the kernels read them as valid indices (an
    /// error found on the device would come back only at a sync). A replayed CUDA graph runs
    /// them per call (model/cuda_side.hpp).
    void check_input(const T* x_host, std::size_t batch, ElemCtx ctx) const {
        ctnn::detail::for_each_type(stages{}, [&]<class S, std::size_t>() {
            if constexpr (S::kind == LayerKind::embedding)
                ctnn::detail::check_token_ids<typename S::anchor::layer>(
                    x_host, batch, S::anchor::bound::steps, S::anchor::index, ctx.sample0);
        });
    }

    /// Runs the following work on `stream` (a user's stream; nullptr: the default stream). The
    /// caller orders it after the work already queued on the previous stream.
    void set_stream(stream_t stream) noexcept { stream_ = stream; }

private:
    const T* forward_from(const T* params, const T* x_host, const T* x_device, std::size_t batch,
                          ElemCtx ctx, T* buffers) {
        Runner::check_pass("cuda::Executor", batch, ctx.training, Net::buffer_count > 0,
                           buffers != nullptr);
        if constexpr (int8)
            if (ctx.training)
                throw argument_error("cuda::Executor: an int8 model runs inference only");
        reserve(batch);
        check_batch(batch);
        this->bind(x_device != nullptr ? x_device : input_buf_.data(), batch);
        check_input(x_host, batch, ctx);
        ctx_ = ctx;
        buffers_ = buffers;
        if (x_device == nullptr)
            copy_to_device(input_buf_.data(), x_host, batch * Net::in_size, stream_);
        if constexpr (int8) detail::Int8Eval::begin(*this);
        this->run_forward(params);
        if constexpr (int8) detail::Int8Eval::check_nans(*this);
        return output();
    }

public:
    /// A quantized model (G int8): quantizes the weights of its int8 stages from the host
    /// parameters `params` (one scale per output channel, as the CPU executor) and uploads them
    /// with the input scales, one per int8 stage in stage order; forward() then takes the same
    /// parameters on the device. Throws ctnn::argument_error for a wrong number of scales or one
    /// that is not positive and finite, ctnn::numeric_error for a non-finite weight.
    void set_int8(const T* params, std::span<const float> input_scales) requires int8 {
        constexpr std::size_t count = ctnn::detail::Int8Stages<stages>::count;
        if (input_scales.size() != count)
            throw argument_error(
                "cuda::Executor::set_int8: " + std::to_string(input_scales.size()) +
                " input scales for " + std::to_string(count) + " int8 stages");
        detail::Int8Eval::set(*this, params, input_scales);
    }

    /// Device output of the last forward pass.
    [[nodiscard]] const T* output() const {
        return act_.data() + plan::layout[stage_count - 1].y * batch_;
    }
    /// Copies the output of the last forward pass to host memory ([batch, out_size]).
    void download_output(T* host) const {
        copy_to_host(host, output(), batch_ * Net::out_size, stream_);
    }

    /// Loss of the last forward pass against host targets, and dL/dZ of the last stage (times
    /// grad_scale: an fp16 model's loss scale) for backward(): one kernel. Returns the mean loss
    /// (waits for the device).
    template <class L>
    T loss(const L& l, loss::Targets<T> t, T grad_scale = T(1)) {
        using Last = typename ctnn::detail::last<stages>::type;
        const T* z =
            plan::layout[stage_count - 1].own_z ? z_of(stage_count - 1) : x_of(stage_count - 1);
        if constexpr (L::uses_labels)
            copy_to_device(labels_.data(), t.labels.data(), batch_, stream_);
        else copy_to_device(targets_.data(), t.values.data(), batch_ * Net::out_size, stream_);
        const LossScratch s{scratch_partials_.data(), scratch_ticket_.data(),
                            scratch_result_.data()};
        loss_forward_backward<detail::epilogue_of<Last>>(
            l, output(), labels_.data(), targets_.data(), z, grad_a_.data(), batch_, Net::out_size,
            ctx_, s, grad_scale, stream_);
        double result = 0;
        copy_to_host(&result, scratch_result_.data(), 1, stream_);
        return static_cast<T>(result);
    }

    /// Backward pass of the last forward pass, from the dL/dZ the loss wrote. Writes every
    /// parameter gradient (overwriting) into the device buffer grads. With ToInput, returns the
    /// device gradient of the model input ([batch, in_size]; valid until the next pass).
    const T* backward(const T* params, T* grads) requires(!int8) {
        return this->run_backward(params, grads);
    }

    [[nodiscard]] stream_t stream() const noexcept { return stream_; }

private:
    using Runner::batch_;
    using Runner::epi_in_of;
    using Runner::kept_of;
    using Runner::x_of;
    using Runner::y_of;
    using Runner::z_of;
    static constexpr bool has_layer_norm = []<class... S>(type_list<S...>) {
        return ((S::kind == LayerKind::layer_norm) || ...);
    }(stages{});

    void check_batch(std::size_t batch) const {
        constexpr std::size_t widest = std::max({Net::in_size, Runner::grad_per_sample});
        if (batch > std::size_t{0xFFFFFFFFu} / widest)
            throw argument_error(std::string("cuda::Executor: batch ") + std::to_string(batch) +
                                 " is too large for 32-bit kernel indexing of this model");
    }

    template <class S, std::size_t I>
    void forward_stage(const T* params) {
        // Stages evaluated in an earlier stage's GEMM store launch nothing: a BatchNorm folded
        // in (inference), a join after it (inference), a join or pool right after the GEMM stage
        // (not after an int8 convolution: its GEMM has no pooled store).
        constexpr bool pooled_through_fold = !int8 && pool_fuses_through_fold<stages, I>;
        constexpr bool pooled = !int8 && pool_fuses_into_previous<stages, I>;
        if constexpr (folds_into_previous<stages, I> || join_fuses_through_fold<stages, I> ||
                      pooled_through_fold)
            if (!ctx_.training) return;
        if constexpr (join_fuses_into_previous<stages, I> || pooled) return;
        if constexpr (int8 && ctnn::detail::int8_stage<S>())
            detail::Int8Eval::forward<S, I>(*this, params);
        else detail::Eval<S::kind>::template forward<S, I>(*this, params);
    }

    template <class S, std::size_t I>
    void backward_stage(const T* params, T* grads, T*& d, T*& other) {
        detail::Eval<S::kind>::template backward<S, I>(*this, params, grads, d, other);
    }

    /// The runner's view of the device workspace.
    ctnn::detail::RunnerBuffers<T> runner_buffers() const {
        auto* self = const_cast<Executor*>(this);
        return {self->act_.data(), self->kept_.data(), self->grad_a_.data(), self->grad_b_.data()};
    }

    /// dst[i] += src[i] for the n values: a branch's share of its block source's gradient.
    void accumulate(T* dst, const T* src, std::size_t n) { cuda::accumulate(dst, src, n, stream_); }

    stream_t stream_ = nullptr;
    DeviceBuffer<T> act_, grad_a_, grad_b_, input_buf_, targets_;
    DeviceBuffer<T> stats_;   ///< BatchNorm statistics kept for backward (workspace_plan::stats)
    DeviceBuffer<T> ln_rows_; ///< LayerNorm backward: mean and invstd per row
    DeviceBuffer<T> kept_;    ///< joins' kept gradients (workspace_plan::skip_grad_per_sample)
    T* buffers_ = nullptr;    ///< the model's device buffers of the current pass
    std::array<bool, stage_count> bn_training_{}; ///< mode of each BatchNorm stage's last forward
    DeviceBuffer<std::int32_t> labels_;
    DeviceBuffer<double> scratch_partials_, scratch_result_;
    DeviceBuffer<unsigned> scratch_ticket_;
    std::size_t capacity_ = 0;
    ElemCtx ctx_{};
    /// A quantized model's int8 stages (G int8; eval/int8.hpp): their weights (rows of words of
    /// 4 codes), dequantization factors, 1 / input scale (host), the quantized input of the stage
    /// being evaluated and the NaN counters.
    DeviceBuffer<std::int32_t> int8_weights_, int8_scratch_;
    DeviceBuffer<float> int8_dequant_;
    DeviceBuffer<unsigned> int8_nans_;
    std::vector<float> int8_inv_;
};

} // namespace ctnn::cuda
