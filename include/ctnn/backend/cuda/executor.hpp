// ctnn/backend/cuda/executor.hpp — evaluates a model's stages with fused CUDA kernels.
//
// The device twin of eigen::Executor: the same stages (graph/lowering.hpp), the same per-sample
// workspace plan, the same [batch, n] row-major tensors, the same ElemCtx indices for epilogues
// (so Dropout draws the same mask), and the kernel schedule of graph/schedule.hpp:
//   dense stage     forward  gemm<false, true>  Z = X W^T, store: bias, Z kept, Y = epilogue(Z)
//                   backward gemm<true, false>  dW = dZ^T X, db as the ones column
//                            gemm<false, false> dX = dZ W, store: x epilogue'(previous stage)
//   rowwise stage   rowwise_forward / rowwise_backward (previous epilogue' fused)
//   conv stage      conv_forward (implicit GEMM, same stores as dense), conv_backward_weights
//                   (dW, db as the ones column), conv_backward_data (previous epilogue' fused)
//   pool stage      pool_forward (epilogue fused), pool_backward (previous epilogue' fused)
//   resample stage  upsample_forward (epilogue fused), upsample_backward (previous epilogue')
//   batch_norm      batch_norm_train_forward (batch statistics, running statistics updated in the
//                   model's buffers, epilogue fused) or batch_norm_infer_forward (running
//                   statistics); batch_norm_backward (dgamma, dbeta, dX, previous epilogue' fused)
//   layer_norm      layer_norm_forward (epilogue fused); layer_norm_backward (rows: dX with the
//                   previous epilogue' fused; columns: dweight, dbias)
//   anchor-less     elementwise_forward; backward (a stage that is not the first of a chain: the
//                   first stage of a branch) elementwise_backward, the source's epilogue'
//   join            join_forward (sum or concat of the branches, epilogue fused); join_backward
//                   (each branch's dL/dZ, its last stage's epilogue' fused, and the identity
//                   branches' share of the source's); after the first stage of each branch,
//                   accumulate (its gradient of the block source joins the others)
//   folded          in inference, a BatchNorm right after a Conv2D or Dense stage with an empty
//                   epilogue runs in that stage's GEMM store (kernels/fold.hpp) and launches
//                   nothing (folds_into_previous, graph/schedule.hpp)
//   fused join      a two-branch Add join (Residual) whose branch ends in a Conv2D or Dense stage
//                   runs in that stage's GEMM store in every pass (join_fuses_into_previous), or,
//                   in inference, after a BatchNorm folded into it (join_fuses_through_fold):
//                   kernels/join.hpp FusedJoin; no join_forward launch, backward unchanged
//   fused pooling   a MaxPool2D<2> / AvgPool2D<2> tiling a Conv2D stage's output runs in that
//                   stage's GEMM store in every pass (pool_fuses_into_previous): conv_pool_forward;
//                   no pool_forward launch, backward unchanged; in inference also after a
//                   BatchNorm folded into the convolution (pool_fuses_through_fold)
//   loss            loss_forward_backward (last stage's epilogue' fused)
// Every buffer lives in device memory owned by this object (DeviceBuffer, RAII) and is sized from
// the model type times the batch capacity by reserve(); forward() and backward() then allocate
// nothing. All work is queued on one stream; only the loss value and the outputs come back.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../../expr/context.hpp"
#include "../../expr/dual.hpp"
#include "../../graph/lowering.hpp"
#include "../../graph/schedule.hpp"
#include "../../layers/pool.hpp"
#include "../../loss/loss.hpp"
#include "../runner.hpp"
#include "kernels/conv.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/fold.hpp"
#include "kernels/gemm.hpp"
#include "kernels/join.hpp"
#include "kernels/loss.hpp"
#include "kernels/norm.hpp"
#include "kernels/pool.hpp"
#include "kernels/resample.hpp"
#include "kernels/rowwise.hpp"
#include "memory.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ctnn::cuda {

namespace detail {

/// Store of a dense stage's forward GEMM: v = acc + bias; Z = v; Y = Epi(v). With an active
/// Fold (an inference-mode BatchNorm folded in; Epi is then empty), v also goes to the fold,
/// which writes the BatchNorm stage's outputs (kernels/fold.hpp); with an active Join, the
/// output goes on to a two-branch Add join (kernels/join.hpp, FusedJoin).
template <class Epi, class T, class Fold = NoFold, class Join = NoJoin>
struct ForwardStore {
    T* z;
    T* y;
    const T* bias; ///< null: no bias
    ElemCtx ctx;
    std::uint32_t n; ///< stage output width
    Fold fold;
    Join join;

    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t j, T acc) const {
        const std::size_t i = std::size_t{m} * n + j;
        const T v = bias != nullptr ? acc + bias[j] : acc;
        z[i] = v;
        forward_store_tail<Epi>(i, v, y, ctx, fold, join);
    }
};

/// Store of the input-gradient GEMM: dX = acc x PrevEpi'(zp), i.e. dL/dZ of the previous stage.
template <class PrevEpi, class T>
struct InputGradStore {
    T* dx;
    const T* zp; ///< the previous stage's epilogue input
    ElemCtx ctx;
    std::uint32_t n; ///< stage input width

    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t j, T acc) const {
        const std::size_t i = std::size_t{m} * n + j;
        if constexpr (PrevEpi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            acc *= PrevEpi::apply(expr::Dual<T>{zp[i], T(1)}, c).d;
        }
        dx[i] = acc;
    }
};

/// Store of the weight-gradient GEMM, C[out][in + 1]: columns < in are dW (PyTorch layout
/// [out][in]), column `in` (the ones column) is the bias gradient.
template <class T>
struct WeightGradStore {
    T* gw;
    T* gb;
    std::uint32_t in;

    CTNN_HOST_DEVICE void operator()(std::uint32_t o, std::uint32_t i, T acc) const {
        if (i < in) gw[std::size_t{o} * in + i] = acc;
        else gb[o] = acc;
    }
};

/// The epilogue of each branch's last stage of a join (identity branches: stage 0's, unused), as
/// a type_list. At namespace scope: nvcc names kernel template arguments through it.
template <class Stages, class Branches>
struct branch_epilogues;
template <class Stages, class... Br>
struct branch_epilogues<Stages, type_list<Br...>> {
    using type = type_list<
        typename ctnn::detail::stage_at<Stages, Br::identity ? 0 : Br::last>::epilogue...>;
};

/// The ConvShape of a convolution stage's anchor.
template <class A>
using conv_shape_of = ConvShape<A::bound::window, A::bound::out_channels, A::bound::group_count>;

} // namespace detail

/// Stage-by-stage evaluation of Net with CUDA kernels (host execution without nvcc), precision T.
template <class Net, class T = float>
class Executor : public ctnn::detail::StageRunner<Executor<Net, T>, stages_of<Net>, T> {
    using Runner = ctnn::detail::StageRunner<Executor<Net, T>, stages_of<Net>, T>;
    friend Runner;

public:
    using typename Runner::plan;
    using typename Runner::stages;
    using Runner::stage_count;
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
        DeviceBuffer<T> act(plan::per_sample * batch), ga(plan::grad_per_sample * batch),
            gb(plan::grad_per_sample * batch), in(Net::in_size * batch),
            targets(Net::out_size * batch);
        DeviceBuffer<std::int32_t> labels(batch);
        DeviceBuffer<T> ln_rows(has_layer_norm ? 2 * batch : 0);
        DeviceBuffer<T> kept(plan::skip_grad_per_sample * batch); // joins' kept gradients
        act_ = std::move(act);
        grad_a_ = std::move(ga);
        grad_b_ = std::move(gb);
        input_buf_ = std::move(in);
        targets_ = std::move(targets);
        labels_ = std::move(labels);
        ln_rows_ = std::move(ln_rows);
        kept_ = std::move(kept);
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
        Runner::check_pass("cuda::Executor", batch, ctx.training, Net::buffer_count > 0,
                           buffers != nullptr);
        reserve(batch);
        check_batch(batch);
        this->bind(input_buf_.data(), batch);
        ctx_ = ctx;
        buffers_ = buffers;
        copy_to_device(input_buf_.data(), x_host, batch * Net::in_size, stream_);
        this->run_forward(params);
        return output();
    }

    /// Device output of the last forward pass.
    [[nodiscard]] const T* output() const {
        return act_.data() + plan::layout[stage_count - 1].y * batch_;
    }
    /// Copies the output of the last forward pass to host memory ([batch, out_size]).
    void download_output(T* host) const {
        copy_to_host(host, output(), batch_ * Net::out_size, stream_);
    }

    /// Loss of the last forward pass against host targets, and dL/dZ of the last stage for
    /// backward(): one kernel. Returns the mean loss (waits for the device).
    template <class L>
    T loss(const L& l, loss::Targets<T> t) {
        using Last = typename ctnn::detail::last<stages>::type;
        const T* z =
            plan::layout[stage_count - 1].own_z ? z_of(stage_count - 1) : x_of(stage_count - 1);
        if constexpr (L::uses_labels) copy_to_device(labels_.data(), t.labels, batch_, stream_);
        else copy_to_device(targets_.data(), t.values, batch_ * Net::out_size, stream_);
        const LossScratch s{scratch_partials_.data(), scratch_ticket_.data(),
                            scratch_result_.data()};
        loss_forward_backward<typename Last::epilogue>(l, output(), labels_.data(), targets_.data(),
                                                       z, grad_a_.data(), batch_, Net::out_size,
                                                       ctx_, s, stream_);
        double result = 0;
        copy_to_host(&result, scratch_result_.data(), 1, stream_);
        return static_cast<T>(result);
    }

    /// Backward pass of the last forward pass, from the dL/dZ the loss wrote. Writes every
    /// parameter gradient (overwriting) into the device buffer grads.
    void backward(const T* params, T* grads) { this->run_backward(params, grads); }

    [[nodiscard]] stream_t stream() const noexcept { return stream_; }

private:
    using Runner::batch_;
    using Runner::epi_in_of;
    using Runner::input_;
    using Runner::kept_of;
    using Runner::x_of;
    using Runner::y_of;
    using Runner::z_of;
    /// The stage whose output stage I reads, and its type.
    template <std::size_t I>
    static constexpr std::size_t src_of = ctnn::detail::stage_at<stages, I>::source;
    template <std::size_t I>
    using source_of = ctnn::detail::stage_at<stages, src_of<I>>;

    static constexpr bool has_layer_norm = []<class... S>(type_list<S...>) {
        return ((S::kind == LayerKind::layer_norm) || ...);
    }(stages{});

    void check_batch(std::size_t batch) const {
        constexpr std::size_t widest = std::max({Net::in_size, plan::grad_per_sample});
        if (batch > std::size_t{0xFFFFFFFFu} / widest)
            throw argument_error(std::string("cuda::Executor: batch ") + std::to_string(batch) +
                                 " is too large for 32-bit kernel indexing of this model");
    }

    /// The fold functor of BatchNorm stage J into stage J - 1 (folds_into_previous<stages, J>).
    template <std::size_t J, bool = folds_into_previous<stages, J>>
    struct fold_for {
        using type = detail::NoFold;
    };
    template <std::size_t J>
    struct fold_for<J, true> {
        using Bn = ctnn::detail::stage_at<stages, J>;
        // BatchNorm's Y is not stored when a join evaluated in the same store is its only reader.
        using type =
            detail::FoldedNorm<static_cast<std::uint32_t>(Bn::anchor::bound::channels),
                               static_cast<std::uint32_t>(Bn::anchor::bound::spatial),
                               typename Bn::epilogue, T, !join_fuses_through_fold<stages, J + 1>>;
    };
    template <std::size_t J>
    using fold_t = typename fold_for<J>::type;

    /// BatchNorm stage J evaluated in the previous stage's GEMM store (inference): its parameters,
    /// running statistics and outputs, and its mode recorded for a backward pass.
    template <std::size_t J>
    fold_t<J> fold_of(const T* params) {
        using A = typename ctnn::detail::stage_at<stages, J>::anchor;
        constexpr std::size_t C = A::bound::channels;
        const T* gamma = params + A::param_offset;
        bn_training_[J] = false;
        return {gamma,        gamma + C, buffers_ + A::buffer_offset,
                z_of(J),      y_of(J),   stats_.data() + plan::layout[J].stats,
                A::layer::eps};
    }

    /// Join stage J evaluated in a GEMM store (join_fuses_into_previous or
    /// join_fuses_through_fold): the other branch's output (the source, or the model input, for
    /// an identity branch) and the join's outputs.
    template <std::size_t J>
    auto join_of() {
        using S = ctnn::detail::stage_at<stages, J>;
        using A = typename S::anchor;
        using Other = ctnn::detail::stage_at<typename A::branches, 1 - A::last_computed>;
        const T* other = this->template branch_output<A, Other>();
        return detail::FusedJoin<typename S::epilogue, A::last_computed == 1, T>{other, z_of(J),
                                                                                 y_of(J)};
    }

    /// Calls f(fold, join) with what the GEMM store of stage I evaluates besides stage I in this
    /// pass: the BatchNorm stage I + 1 folded in (inference), and a join after it (inference) or
    /// right after stage I (every pass); detail::NoFold / NoJoin otherwise.
    template <std::size_t I, class F>
    void with_fusions(const T* params, F&& f) {
        if constexpr (folds_into_previous<stages, I + 1>) {
            if (!ctx_.training) {
                if constexpr (join_fuses_through_fold<stages, I + 2>)
                    f(fold_of<I + 1>(params), join_of<I + 2>());
                else f(fold_of<I + 1>(params), detail::NoJoin{});
                return;
            }
        }
        if constexpr (join_fuses_into_previous<stages, I + 1>)
            f(detail::NoFold{}, join_of<I + 1>());
        else f(detail::NoFold{}, detail::NoJoin{});
    }

    template <class S, std::size_t I>
    void forward_stage(const T* params) {
        constexpr std::uint32_t n_in = S::in_size, n_out = S::out_size;
        using Epi = typename S::epilogue;
        const auto B = static_cast<std::uint32_t>(batch_);
        // Stages evaluated in an earlier stage's GEMM store launch nothing: a BatchNorm folded
        // in (inference), a join after it (inference), a join right after the GEMM stage.
        if constexpr (folds_into_previous<stages, I> || join_fuses_through_fold<stages, I> ||
                      pool_fuses_through_fold<stages, I>)
            if (!ctx_.training) return;
        if constexpr (join_fuses_into_previous<stages, I> || pool_fuses_into_previous<stages, I>)
            return;
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            const T* bias = A::layer::has_bias ? w + std::size_t{n_in} * n_out : nullptr;
            with_fusions<I>(params, [&](auto fold, auto join) {
                const detail::ForwardStore<Epi, T, decltype(fold), decltype(join)> store{
                    z_of(I), y_of(I), bias, ctx_, n_out, fold, join};
                gemm<false, true>(B, n_out, n_in, x_of(I), n_in, w, n_in, store, false, stream_);
            });
        } else if constexpr (S::kind == LayerKind::rowwise) {
            rowwise_forward<S::anchor::layer::log, Epi>(x_of(I), z_of(I), y_of(I), batch_, n_out,
                                                        ctx_, stream_);
        } else if constexpr (S::kind == LayerKind::conv) {
            using A = typename S::anchor;
            using Shape = detail::conv_shape_of<A>;
            const T* w = params + A::param_offset;
            const T* bias = A::layer::has_bias
                                ? w + std::size_t{Shape::og} * Shape::groups * Shape::taps
                                : nullptr;
            if constexpr (pool_fuses_into_previous<stages, I + 1>) {
                // The 2 x 2 pooling stage I + 1 in this GEMM's store (it launches nothing).
                using P = ctnn::detail::stage_at<stages, I + 1>;
                using PA = typename P::anchor;
                conv_pool_forward<Shape, Epi, typename PA::bound, PA::layer::op == PoolOp::max,
                                  typename P::epilogue>(x_of(I), w, bias, z_of(I), y_of(I),
                                                        z_of(I + 1), y_of(I + 1), batch_, ctx_,
                                                        stream_);
            } else {
                if constexpr (pool_fuses_through_fold<stages, I + 2>) {
                    if (!ctx_.training) {
                        // Inference: the BatchNorm stage I + 1 and the 2 x 2 pooling stage I + 2
                        // in this GEMM's store.
                        using P = ctnn::detail::stage_at<stages, I + 2>;
                        using PA = typename P::anchor;
                        conv_pool_forward<Shape, Epi, typename PA::bound,
                                          PA::layer::op == PoolOp::max, typename P::epilogue>(
                            x_of(I), w, bias, z_of(I), y_of(I), z_of(I + 2), y_of(I + 2), batch_,
                            ctx_, stream_, fold_of<I + 1>(params));
                        return;
                    }
                }
                with_fusions<I>(params, [&](auto fold, auto join) {
                    conv_forward<Shape, Epi>(x_of(I), w, bias, z_of(I), y_of(I), batch_, ctx_,
                                             stream_, fold, join);
                });
            }
        } else if constexpr (S::kind == LayerKind::pool) {
            using A = typename S::anchor;
            pool_forward<typename A::bound, A::layer::op == PoolOp::max, Epi>(
                x_of(I), z_of(I), y_of(I), batch_, ctx_, stream_);
        } else if constexpr (S::kind == LayerKind::resample) {
            upsample_forward<typename S::anchor::bound, Epi>(x_of(I), z_of(I), y_of(I), batch_,
                                                             ctx_, stream_);
        } else if constexpr (S::kind == LayerKind::batch_norm) {
            batch_norm_stage_forward<S, I>(params);
        } else if constexpr (S::kind == LayerKind::layer_norm) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            layer_norm_forward<Epi>(x_of(I), w, w + n_in, z_of(I), y_of(I), batch_, n_out,
                                    A::layer::eps, ctx_, stream_);
        } else if constexpr (S::kind == LayerKind::add) {
            join_stage_forward<S, I>();
        } else {
            elementwise_forward<Epi>(x_of(I), y_of(I), batch_ * n_out, ctx_, stream_);
        }
    }

    template <class S, std::size_t I>
    void backward_stage(const T* params, T* grads, T*& d, T*& other) {
        constexpr std::uint32_t n_in = S::in_size, n_out = S::out_size;
        const auto B = static_cast<std::uint32_t>(batch_);
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            if constexpr (A::param_count > 0) {
                T* gw = grads + A::param_offset;
                const detail::WeightGradStore<T> store{gw, gw + std::size_t{n_in} * n_out, n_in};
                gemm<true, false>(n_out, n_in + (A::layer::has_bias ? 1u : 0u), B, d, n_out,
                                  x_of(I), n_in, store, A::layer::has_bias, stream_);
            }
            if constexpr (schedule::input_grad[I]) {
                using Prev = source_of<I>;
                const T* w = params + A::param_offset;
                const detail::InputGradStore<typename Prev::epilogue, T> store{
                    other, epi_in_of(src_of<I>), ctx_, n_in};
                gemm<false, false>(B, n_in, n_out, d, n_out, w, n_in, store, false, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::rowwise) {
            if constexpr (schedule::input_grad[I]) {
                using Prev = source_of<I>;
                rowwise_backward<S::anchor::layer::log, typename Prev::epilogue>(
                    z_of(I), d, epi_in_of(src_of<I>), other, batch_, n_out, ctx_, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::conv) {
            using A = typename S::anchor;
            using Shape = detail::conv_shape_of<A>;
            const T* w = params + A::param_offset;
            if constexpr (A::param_count > 0) {
                T* gw = grads + A::param_offset;
                T* gb = A::layer::has_bias
                            ? gw + std::size_t{Shape::og} * Shape::groups * Shape::taps
                            : nullptr;
                conv_backward_weights<Shape>(d, x_of(I), gw, gb, batch_, stream_);
            }
            if constexpr (schedule::input_grad[I]) {
                using Prev = source_of<I>;
                conv_backward_data<Shape, typename Prev::epilogue>(d, w, epi_in_of(src_of<I>),
                                                                   other, batch_, ctx_, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::pool) {
            if constexpr (schedule::input_grad[I]) {
                using A = typename S::anchor;
                using Prev = source_of<I>;
                pool_backward<typename A::bound, A::layer::op == PoolOp::max,
                              typename Prev::epilogue>(x_of(I), d, epi_in_of(src_of<I>), other,
                                                       batch_, ctx_, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::resample) {
            if constexpr (schedule::input_grad[I]) {
                using Prev = source_of<I>;
                upsample_backward<typename S::anchor::bound, typename Prev::epilogue>(
                    d, epi_in_of(src_of<I>), other, batch_, ctx_, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::batch_norm) {
            batch_norm_stage_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::layer_norm) {
            layer_norm_stage_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::add) {
            if constexpr (schedule::input_grad[I]) join_stage_backward<S, I>(d, other);
        } else if constexpr (schedule::input_grad[I]) {
            // No anchor (the first stage of a branch): dX = dZ, times the source's epilogue'.
            using SrcEpi = typename source_of<I>::epilogue;
            if constexpr (SrcEpi::size > 0) {
                elementwise_backward<SrcEpi>(epi_in_of(src_of<I>), d, other, batch_ * n_in, ctx_,
                                             stream_);
                std::swap(d, other);
            }
        }
    }

    /// The runner's view of the device workspace.
    ctnn::detail::RunnerBuffers<T> runner_buffers() const {
        auto* self = const_cast<Executor*>(this);
        return {self->act_.data(), self->kept_.data(), self->grad_a_.data(), self->grad_b_.data()};
    }

    /// dst[i] += src[i] for the n values: a branch's share of its block source's gradient.
    void accumulate(T* dst, const T* src, std::size_t n) { cuda::accumulate(dst, src, n, stream_); }

    template <class A>
    using join_shape_of = JoinShape<A::op, A::out_size, A::in_size, typename A::branches>;

    /// Join forward: one kernel over the branch outputs (an identity branch reads the source).
    template <class S, std::size_t I>
    void join_stage_forward() {
        using A = typename S::anchor;
        using Geo = join_shape_of<A>;
        JoinInputs<T, Geo::count> in{};
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            in.y[K] = this->template branch_output<A, Br>();
        });
        join_forward<Geo, typename S::epilogue>(in, z_of(I), y_of(I), batch_, ctx_, stream_);
    }

    /// Join backward from its dL/dZ in d: one kernel; d leaves as the last computed branch's
    /// dL/dZ (or, without computed branches, as the source's).
    template <class S, std::size_t I>
    void join_stage_backward(T*& d, T*& other) {
        using A = typename S::anchor;
        using Geo = join_shape_of<A>;
        constexpr bool acc = !A::from_input && schedule::grad_needed[A::source];
        T* kept = kept_of(I);
        JoinGrads<T, Geo::count> g{};
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            if constexpr (!Br::identity) {
                g.g[K] = K == A::last_computed ? other : kept + Br::slot * this->batch_;
                g.z[K] = this->epi_in_of(Br::last);
            }
        });
        using Epis = typename detail::branch_epilogues<stages, typename A::branches>::type;
        const T* zsrc = nullptr;
        T* acc_ptr = nullptr;
        if constexpr (acc) {
            zsrc = epi_in_of(A::source);
            acc_ptr = kept + A::acc_offset * batch_;
        }
        join_backward<Geo, Epis, typename source_of<I>::epilogue, acc>(d, g, acc_ptr, zsrc, batch_,
                                                                       ctx_, stream_);
        if constexpr (A::computed > 0) std::swap(d, other);
        else if constexpr (acc) d = acc_ptr;
    }

    /// BatchNorm forward: batch statistics in training (running statistics updated in buffers_),
    /// running statistics in inference; one kernel either way.
    template <class S, std::size_t I>
    void batch_norm_stage_forward(const T* params) {
        using A = typename S::anchor;
        using Epi = typename S::epilogue;
        constexpr auto C = static_cast<std::uint32_t>(A::bound::channels);
        constexpr auto HW = static_cast<std::uint32_t>(A::bound::spatial);
        const T* gamma = params + A::param_offset;
        T* running = buffers_ + A::buffer_offset;
        T* stats = stats_.data() + plan::layout[I].stats;
        bn_training_[I] = ctx_.training;
        if (ctx_.training)
            batch_norm_train_forward<C, HW, Epi>(x_of(I), gamma, gamma + C, z_of(I), y_of(I), stats,
                                                 running, batch_, A::layer::momentum, A::layer::eps,
                                                 ctx_, stream_);
        else
            batch_norm_infer_forward<C, HW, Epi>(x_of(I), gamma, gamma + C, running, z_of(I),
                                                 y_of(I), stats, batch_, A::layer::eps, ctx_,
                                                 stream_);
    }

    /// BatchNorm backward from dZ in d: dgamma, dbeta and (when needed) dX in one kernel.
    template <class S, std::size_t I>
    void batch_norm_stage_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr auto C = static_cast<std::uint32_t>(A::bound::channels);
        constexpr auto HW = static_cast<std::uint32_t>(A::bound::spatial);
        constexpr bool input_grad = schedule::input_grad[I];
        using PrevEpi = typename source_of<I>::epilogue;
        const T* gamma = params + A::param_offset;
        T* dgamma = grads + A::param_offset;
        const T* zp = nullptr;
        if constexpr (input_grad) zp = epi_in_of(src_of<I>);
        batch_norm_backward<C, HW, PrevEpi, input_grad>(
            x_of(I), d, gamma, stats_.data() + plan::layout[I].stats, zp, dgamma, dgamma + C, other,
            batch_, bn_training_[I], ctx_, stream_);
        if constexpr (input_grad) std::swap(d, other);
    }

    /// LayerNorm backward from dZ in d: per-row statistics and (when needed) dX, then dweight and
    /// dbias; two kernels.
    template <class S, std::size_t I>
    void layer_norm_stage_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        constexpr bool input_grad = schedule::input_grad[I];
        using PrevEpi = typename source_of<I>::epilogue;
        const T* w = params + A::param_offset;
        T* dw = grads + A::param_offset;
        const T* zp = nullptr;
        if constexpr (input_grad) zp = epi_in_of(src_of<I>);
        layer_norm_backward<PrevEpi, input_grad>(x_of(I), d, w, zp, dw, dw + n, other,
                                                 ln_rows_.data(), batch_, n, A::layer::eps, ctx_,
                                                 stream_);
        if constexpr (input_grad) std::swap(d, other);
    }

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
};

} // namespace ctnn::cuda
