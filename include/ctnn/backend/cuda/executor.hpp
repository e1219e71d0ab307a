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
//   anchor-less     elementwise_forward (only ever stage 0: nothing to propagate backward)
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
#include "kernels/conv.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/loss.hpp"
#include "kernels/pool.hpp"
#include "kernels/rowwise.hpp"
#include "memory.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ctnn::cuda {

namespace detail {

/// Store of a dense stage's forward GEMM: v = acc + bias; Z = v; Y = Epi(v).
template <class Epi, class T>
struct ForwardStore {
    T* z;
    T* y;
    const T* bias; ///< null: no bias
    ElemCtx ctx;
    std::uint32_t n; ///< stage output width

    CTNN_HOST_DEVICE void operator()(std::uint32_t m, std::uint32_t j, T acc) const {
        const std::size_t i = std::size_t{m} * n + j;
        const T v = bias != nullptr ? acc + bias[j] : acc;
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            y[i] = Epi::apply(v, c);
        }
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

/// The ConvShape of a convolution stage's anchor.
template <class A>
using conv_shape_of = ConvShape<A::bound::window, A::bound::out_channels, A::bound::group_count>;

} // namespace detail

/// Stage-by-stage evaluation of Net with CUDA kernels (host execution without nvcc), precision T.
template <class Net, class T = float>
class Executor {
public:
    using stages = stages_of<Net>;
    using plan = workspace_plan<stages>;
    using schedule = kernel_schedule<Net>;
    static constexpr std::size_t stage_count = stages::size;
    static_assert(schedule::cuda_supported,
                  "cuda::Executor: a stage of this model has no CUDA kernel yet (Model checks "
                  "kernel_schedule<Net>::cuda_supported before creating one)");

    explicit Executor(stream_t stream = nullptr) : stream_(stream) {
        // The loss kernels' ticket must start at 0; they leave it at 0.
        scratch_partials_ = DeviceBuffer<double>(loss_max_blocks);
        scratch_ticket_ = DeviceBuffer<unsigned>(1);
        scratch_result_ = DeviceBuffer<double>(1);
        zero(scratch_ticket_.data(), 1, stream_);
    }

    /// Allocates device workspace for batches of up to `batch` samples (no-op if large enough).
    /// Throws cuda_error on out-of-memory, keeping the previous workspace.
    void reserve(std::size_t batch) {
        if (batch <= capacity_) return;
        DeviceBuffer<T> act(plan::per_sample * batch), ga(plan::grad_per_sample * batch),
            gb(plan::grad_per_sample * batch), in(Net::in_size * batch),
            targets(Net::out_size * batch);
        DeviceBuffer<std::int32_t> labels(batch);
        act_ = std::move(act);
        grad_a_ = std::move(ga);
        grad_b_ = std::move(gb);
        input_ = std::move(in);
        targets_ = std::move(targets);
        labels_ = std::move(labels);
        capacity_ = batch;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Uploads `batch` samples from host memory x ([batch, in_size]) and runs the forward pass with
    /// device parameters `params`. Returns the device output [batch, out_size].
    const T* forward(const T* params, const T* x_host, std::size_t batch, ElemCtx ctx) {
        reserve(batch);
        check_batch(batch);
        batch_ = batch;
        ctx_ = ctx;
        copy_to_device(input_.data(), x_host, batch * Net::in_size, stream_);
        ctnn::detail::for_each_type(stages{},
                                    [&]<class S, std::size_t I>() { forward_stage<S, I>(params); });
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
            plan::layout[stage_count - 1].own_z ? z_of<stage_count - 1>() : x_of<stage_count - 1>();
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
    void backward(const T* params, T* grads) {
        T* d = grad_a_.data();
        T* other = grad_b_.data();
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((backward_stage<std::tuple_element_t<stage_count - 1 - I, as_tuple>,
                             stage_count - 1 - I>(params, grads, d, other)),
             ...);
        }
        (std::make_index_sequence<stage_count>{});
    }

    [[nodiscard]] stream_t stream() const noexcept { return stream_; }

private:
    template <class List>
    struct to_tuple;
    template <class... S>
    struct to_tuple<type_list<S...>> {
        using type = std::tuple<S...>;
    };
    using as_tuple = typename to_tuple<stages>::type;

    void check_batch(std::size_t batch) const {
        constexpr std::size_t widest = std::max({Net::in_size, plan::grad_per_sample});
        if (batch > std::size_t{0xFFFFFFFFu} / widest)
            throw argument_error(std::string("cuda::Executor: batch ") + std::to_string(batch) +
                                 " is too large for 32-bit kernel indexing of this model");
    }

    template <std::size_t I>
    T* z_of() {
        return act_.data() + plan::layout[I].z * batch_;
    }
    template <std::size_t I>
    T* y_of() {
        return act_.data() + plan::layout[I].y * batch_;
    }
    template <std::size_t I>
    const T* x_of() {
        if constexpr (I == 0) return input_.data();
        else return y_of<I - 1>();
    }
    /// Input of stage I's epilogue (what its derivative is evaluated at).
    template <std::size_t I>
    const T* epi_in_of() {
        if constexpr (std::tuple_element_t<I, as_tuple>::has_anchor) return z_of<I>();
        else return x_of<I>();
    }

    template <class S, std::size_t I>
    void forward_stage(const T* params) {
        constexpr std::uint32_t n_in = S::in_size, n_out = S::out_size;
        using Epi = typename S::epilogue;
        const auto B = static_cast<std::uint32_t>(batch_);
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            const T* bias = A::layer::has_bias ? w + std::size_t{n_in} * n_out : nullptr;
            const detail::ForwardStore<Epi, T> store{z_of<I>(), y_of<I>(), bias, ctx_, n_out};
            gemm<false, true>(B, n_out, n_in, x_of<I>(), n_in, w, n_in, store, false, stream_);
        } else if constexpr (S::kind == LayerKind::rowwise) {
            rowwise_forward<S::anchor::layer::log, Epi>(x_of<I>(), z_of<I>(), y_of<I>(), batch_,
                                                        n_out, ctx_, stream_);
        } else if constexpr (S::kind == LayerKind::conv) {
            using A = typename S::anchor;
            using Shape = detail::conv_shape_of<A>;
            const T* w = params + A::param_offset;
            const T* bias = A::layer::has_bias
                                ? w + std::size_t{Shape::og} * Shape::groups * Shape::taps
                                : nullptr;
            conv_forward<Shape, Epi>(x_of<I>(), w, bias, z_of<I>(), y_of<I>(), batch_, ctx_,
                                     stream_);
        } else if constexpr (S::kind == LayerKind::pool) {
            using A = typename S::anchor;
            pool_forward<typename A::bound, A::layer::op == PoolOp::max, Epi>(
                x_of<I>(), z_of<I>(), y_of<I>(), batch_, ctx_, stream_);
        } else {
            elementwise_forward<Epi>(x_of<I>(), y_of<I>(), batch_ * n_out, ctx_, stream_);
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
                                  x_of<I>(), n_in, store, A::layer::has_bias, stream_);
            }
            if constexpr (schedule::input_grad[I]) {
                using Prev = std::tuple_element_t<I - 1, as_tuple>;
                const T* w = params + A::param_offset;
                const detail::InputGradStore<typename Prev::epilogue, T> store{
                    other, epi_in_of<I - 1>(), ctx_, n_in};
                gemm<false, false>(B, n_in, n_out, d, n_out, w, n_in, store, false, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::rowwise) {
            if constexpr (schedule::input_grad[I]) {
                using Prev = std::tuple_element_t<I - 1, as_tuple>;
                rowwise_backward<S::anchor::layer::log, typename Prev::epilogue>(
                    z_of<I>(), d, epi_in_of<I - 1>(), other, batch_, n_out, ctx_, stream_);
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
                conv_backward_weights<Shape>(d, x_of<I>(), gw, gb, batch_, stream_);
            }
            if constexpr (schedule::input_grad[I]) {
                using Prev = std::tuple_element_t<I - 1, as_tuple>;
                conv_backward_data<Shape, typename Prev::epilogue>(d, w, epi_in_of<I - 1>(), other,
                                                                   batch_, ctx_, stream_);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::pool) {
            if constexpr (schedule::input_grad[I]) {
                using A = typename S::anchor;
                using Prev = std::tuple_element_t<I - 1, as_tuple>;
                pool_backward<typename A::bound, A::layer::op == PoolOp::max,
                              typename Prev::epilogue>(x_of<I>(), d, epi_in_of<I - 1>(), other,
                                                       batch_, ctx_, stream_);
                std::swap(d, other);
            }
        } else {
            static_assert(I == 0 || !schedule::input_grad[I],
                          "an anchor-less stage after stage 0 cannot occur (lowering)");
        }
    }

    stream_t stream_ = nullptr;
    DeviceBuffer<T> act_, grad_a_, grad_b_, input_, targets_;
    DeviceBuffer<std::int32_t> labels_;
    DeviceBuffer<double> scratch_partials_, scratch_result_;
    DeviceBuffer<unsigned> scratch_ticket_;
    std::size_t capacity_ = 0, batch_ = 0;
    ElemCtx ctx_{};
};

} // namespace ctnn::cuda
