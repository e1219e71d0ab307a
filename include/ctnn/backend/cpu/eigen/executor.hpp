// ctnn/backend/cpu/eigen/executor.hpp — evaluates a model's stages on the CPU with Eigen.
//
// Memory layout: a batch tensor of B samples of n values is stored sample-major (PyTorch's [B, n]
// row-major), which Eigen sees as a column-major n x B matrix. A Dense weight [out, in] row-major
// is a column-major in x out matrix W, so a Dense stage is Z = W^T X, one GEMM for the whole batch.
// Each stage's epilogue (bias, activations, dropout) is one fused sweep over the GEMM output.
//
// A Conv2D stage is im2col + GEMM: a chunk of samples is unfolded into a (samples * pixels) x taps
// matrix (window.hpp), multiplied by the weight [out, taps] (one GEMM per group), and the epilogue
// sweep scatters the GEMM output back to the channel-first layout [out, oh, ow] while it adds the
// bias and applies the fused ops. Backward unfolds the chunk again (nothing but the stage input is
// kept), accumulates dW = im2col(X)^T dZ and, for the input gradient, folds dZ W back (col2im).
// Pooling and upsampling stages are direct loops; max pooling finds each window's argmax again in
// backward. In inference, a BatchNorm stage right after a Conv2D or Dense stage with an empty
// epilogue is folded into that stage's epilogue sweep (folds_into_previous, graph/schedule.hpp).
//
// Workspace: per stage, the anchor output Z (kept for the backward pass) and the epilogue output Y.
// All buffers are sized from the model type times the batch capacity and allocated once by
// reserve(); the im2col scratch is sized from the model type alone (workspace_plan::scratch).
// forward() and backward() never allocate while the batch fits.
#pragma once
#include "../../../config.hpp"
#include "../../../core/error.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../../../graph/lowering.hpp"
#include "../../../graph/schedule.hpp"
#include "../../runner.hpp"
#include "../conv.hpp"
#include "../pool.hpp"
#include "../threads.hpp"
#include "../winograd.hpp"
#include "window.hpp"

// ctnn runs Eigen on the host only. Under nvcc, keep Eigen from annotating itself for the device
// (its defaulted members annotated for host and device draw nvcc warnings and cost compile time).
#if CTNN_DEVICE_COMPILE && !defined(EIGEN_NO_CUDA)
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ctnn::eigen {

namespace detail {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using MapMat = Eigen::Map<Mat<T>>;
template <class T>
using MapConstMat = Eigen::Map<const Mat<T>>;
template <class T>
using MapVec = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;

} // namespace detail

/// Stage-by-stage evaluation of Net on the CPU, in precision T (float, or double for checks).
template <class Net, class T = float>
class Executor : public ctnn::detail::StageRunner<Executor<Net, T>, stages_of<Net>, T> {
    using Runner = ctnn::detail::StageRunner<Executor<Net, T>, stages_of<Net>, T>;
    friend Runner;

public:
    using Runner::stage_count;
    using typename Runner::flow;
    using typename Runner::plan;
    using typename Runner::stages;

    /// Allocates workspace for batches of up to `batch` samples (no-op if already large enough).
    void reserve(std::size_t batch) {
        if (batch <= capacity_) return;
        act_.assign(plan::per_sample * batch, T(0));
        grad_a_.assign(plan::grad_per_sample * batch, T(0));
        grad_b_.assign(plan::grad_per_sample * batch, T(0));
        skip_grad_.assign(plan::skip_grad_per_sample * batch, T(0));
        if (scratch_.size() != plan::scratch) scratch_.assign(plan::scratch, T(0));
        if (stats_.size() != plan::stats) stats_.assign(plan::stats, T(0));
        if (fold_.size() != 2 * fold_channels) fold_.assign(2 * fold_channels, T(0));
        if (direct_.size() != direct_floats) direct_.assign(direct_floats, T(0));
        if (packed_.size() != packed_cache_floats) packed_.assign(packed_cache_floats, T(0));
        capacity_ = batch;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Runs the forward pass on `batch` samples x ([batch, in_size] row-major, kept alive by the
    /// caller until backward()). Returns the output, [batch, out_size] row-major. `buffers` is the
    /// model's buffer storage (Net::buffer_count values: BatchNorm's running statistics), read in
    /// inference and updated by a training pass; it may be null for a model without buffers.
    const T* forward(const T* params, const T* x, std::size_t batch, ElemCtx ctx,
                     T* buffers = nullptr) {
        Runner::check_pass("eigen::Executor", batch, ctx.training, Net::buffer_count > 0,
                           buffers != nullptr);
        reserve(batch);
        this->bind(x, batch);
        ctx_ = ctx;
        buffers_ = buffers;
        keep_ = ctx.training;
        run_forward(params);
        return output();
    }

    /// Stages the last forward pass evaluated (each one pass over its output): the stage count,
    /// less the BatchNorm stages folded into the previous stage in inference
    /// (folds_into_previous, graph/schedule.hpp) and the max pools computed in the previous
    /// convolution's store (pool_fused; inference stores the pooled output only, training the
    /// convolution's output too).
    [[nodiscard]] std::size_t last_forward_stages() const noexcept { return stages_run_; }

    /// Output of the last forward pass.
    [[nodiscard]] const T* output() const { return y_of(stage_count - 1); }

    /// Buffer for dLoss/dOutput, [batch, out_size]: the loss writes it, backward() consumes it.
    [[nodiscard]] T* output_grad() { return grad_a_.data(); }

    /// Backward pass of the last forward pass. Reads output_grad(), writes all parameter gradients
    /// (overwriting, not accumulating) into grads.
    void backward(const T* params, T* grads) {
        // An inference pass keeps only what the next stage reads (no Z beside a ReLU output, no
        // unpooled output under a fused pool): evaluate it again, keeping all (same values).
        if (!keep_) {
            keep_ = true;
            run_forward(params);
        }
        this->run_backward(params, grads);
    }

private:
    using Runner::batch_;
    using Runner::input_;
    using Runner::kept_of;
    using Runner::x_of;
    using Runner::y_of;
    using Runner::z_of;

#if CTNN_CPU_FUSED
    /// A convolution stage whose forward pass runs as cpu::detail::DirectConv
    /// (backend/cpu/conv.hpp): float, stride 1, one group (conv_lowering::direct). Other
    /// convolutions, and every weight gradient, use im2col + GEMM.
    template <class S>
    static constexpr bool direct_conv = [] {
        if constexpr (S::kind == LayerKind::conv && std::is_same_v<T, float>)
            return conv_lowering<S>::direct;
        else return false;
    }();
    /// The kernel of a direct_conv stage: Winograd F(2 x 2, 3 x 3) or the direct convolution
    /// (conv_lowering::winograd). Both have the same interface (pad, pack, run).
    template <class S>
    using direct_of = typename cpu::detail::conv_kernel<cpu::simd::Native, S::anchor::bound::window,
                                                        conv_lowering<S>::out_channels,
                                                        conv_lowering<S>::winograd>::type;
    /// A direct_conv stage whose input gradient is a direct convolution of dZ as well (its
    /// padding is at most the kernel's extent on every side; the weight gradient stays a GEMM).
    template <class S>
    static constexpr bool direct_conv_dx = [] {
        if constexpr (direct_conv<S>) return conv_lowering<S>::direct_dx;
        else return false;
    }();
    template <class S>
    using direct_dx_of = typename cpu::detail::conv_kernel<
        cpu::simd::Native,
        cpu::detail::transposed_window(S::anchor::bound::window, conv_lowering<S>::out_channels),
        S::anchor::bound::window.c, conv_lowering<S>::winograd_dx>::type;
    /// A Winograd stage whose weight gradient is computed in the Winograd domain too
    /// (Winograd::accumulate_dw), sample by sample with its input gradient.
    template <class S>
    static constexpr bool winograd_dw = [] {
        if constexpr (direct_conv<S>)
            return conv_lowering<S>::winograd && (S::from_input || direct_conv_dx<S>);
        else return false;
    }();
    /// Floats of direct_ that an input gradient as a direct convolution uses: padded dZ, then
    /// the flipped and the packed weight.
    template <class S>
    static constexpr std::size_t dx_floats = [] {
        if constexpr (direct_conv_dx<S>)
            return direct_dx_of<S>::padded_floats + 2 * direct_dx_of<S>::packed_floats;
        else return std::size_t{0};
    }();
    /// Floats of direct_: the largest padded input plus packed weight of a direct convolution
    /// (forward), or the input gradient's (dx_floats) plus, for winograd_dw, the padded input
    /// and transform buffers of the weight gradient and its accumulator.
    static constexpr std::size_t direct_floats = []<class... S>(type_list<S...>) {
        std::size_t m = 0;
        (
            [&] {
                if constexpr (direct_conv<S>)
                    m = std::max(m, direct_of<S>::padded_floats + direct_of<S>::packed_floats);
                if constexpr (winograd_dw<S>)
                    m = std::max(m, dx_floats<S> + direct_of<S>::dw_floats +
                                        direct_of<S>::packed_floats);
                else m = std::max(m, dx_floats<S>);
            }(),
            ...);
        return m;
    }(stages{});
    /// Stage I's epilogue is one ReLU and stage I + 1, a max pool, is the only stage that reads
    /// its output: where both pool fusions below start.
    template <std::size_t I>
    static constexpr bool relu_then_sole_max_pool_at() {
        if constexpr (I + 1 >= stage_count) {
            return false;
        } else {
            using S = ctnn::detail::stage_at<stages, I>;
            using P = ctnn::detail::stage_at<stages, I + 1>;
            if constexpr (P::kind != LayerKind::pool || P::from_input) {
                return false;
            } else {
                constexpr std::size_t readers = []<class... X>(type_list<X...>) {
                    return ((!X::from_input && X::source == I ? 1 : 0) + ... + 0);
                }(stages{});
                return P::anchor::layer::op == PoolOp::max && P::source == I && readers == 1 &&
                       cpu::detail::epilogue_is_relu<typename S::epilogue>;
            }
        }
    }
    template <std::size_t I>
    static constexpr bool relu_then_sole_max_pool = relu_then_sole_max_pool_at<I>();

    /// Stage I + 1 is a 2 x 2, stride-2 max pool that stage I computes in its store (Store::pool
    /// in inference, Store::y_and_pool in training): relu_then_sole_max_pool, and stage I is a
    /// direct_conv whose blocks hold whole row pairs.
    template <std::size_t I>
    static constexpr bool pool_fused_at() {
        if constexpr (!relu_then_sole_max_pool<I>) {
            return false;
        } else {
            using S = ctnn::detail::stage_at<stages, I>;
            using P = ctnn::detail::stage_at<stages, I + 1>;
            if constexpr (!direct_conv<S>) {
                return false;
            } else {
                constexpr auto w = P::anchor::bound::window;
                return direct_of<S>::poolable && w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 &&
                       w.dh == 1 && w.dw == 1 && w.pt + w.pb + w.pl + w.pr == 0;
            }
        }
    }
    template <std::size_t I>
    static constexpr bool pool_fused = pool_fused_at<I>();

    /// Stage I + 1 is a max pool whose vectorized backward (cpu::detail::max_pool2_backward)
    /// also applies stage I's ReLU derivative, so stage I skips its pass over dY:
    /// relu_then_sole_max_pool after an anchor, in float, with windows the kernel takes.
    template <std::size_t I>
    static constexpr bool relu_in_pool_at() {
        if constexpr (!relu_then_sole_max_pool<I>) {
            return false;
        } else {
            using S = ctnn::detail::stage_at<stages, I>;
            using P = ctnn::detail::stage_at<stages, I + 1>;
            return std::is_same_v<T, float> && S::has_anchor &&
                   cpu::detail::max_pool2_vectorized<P::anchor::bound::window>;
        }
    }
    template <std::size_t I>
    static constexpr bool relu_in_pool = relu_in_pool_at<I>();

public:
    /// Pooling stages that a forward pass computes in the previous convolution's store (a 2 x 2
    /// max pool after a direct convolution and ReLU, when the instruction set's block holds whole
    /// row pairs): last_forward_stages() does not count them.
    static constexpr std::size_t fused_pools = []<std::size_t... I>(std::index_sequence<I...>) {
        return ((pool_fused<I> ? 1 : 0) + ... + 0);
    }
    (std::make_index_sequence<stage_count>{});

private:
    /// Floats of a direct_conv stage's weight (PyTorch layout, bias excluded).
    template <class S>
    static constexpr std::size_t weight_floats =
        S::anchor::bound::taps_per_group* conv_lowering<S>::out_channels;
    /// Offset in packed_ of stage I's copy of its weight and packing (packed_cache_floats: all).
    template <std::size_t I>
    static constexpr std::size_t packed_offset = []<std::size_t... J>(std::index_sequence<J...>) {
        std::size_t off = 0;
        (
            [&] {
                using S = ctnn::detail::stage_at<stages, J>;
                if constexpr (direct_conv<S>) off += weight_floats<S> + direct_of<S>::packed_floats;
            }(),
            ...);
        return off;
    }
    (std::make_index_sequence<I>{});
    static constexpr std::size_t packed_cache_floats = packed_offset<stage_count>;
#else
    static constexpr std::size_t packed_cache_floats = 0;
    template <class S>
    static constexpr bool direct_conv = false;
    template <class S>
    static constexpr bool direct_conv_dx = false;
    template <class S>
    static constexpr bool winograd_dw = false;
    static constexpr std::size_t direct_floats = 0;
    template <std::size_t I>
    static constexpr bool pool_fused = false;
    template <std::size_t I>
    static constexpr bool relu_in_pool = false;

public:
    static constexpr std::size_t fused_pools = 0;

private:
#endif

    /// No BatchNorm folded into the epilogue.
    struct NoFold {
        static constexpr bool active = false;
        void operator()(T, std::size_t, std::size_t, ElemCtx&) const {}
    };

    /// A BatchNorm stage Bn folded into the epilogue of the stage before it (inference only,
    /// folds_into_previous): v, the biased anchor output at index i of the [batch, n] tensor
    /// (position j of its sample), becomes Bn's z = v * scale[c] + shift[c] (c the channel of
    /// position j in Bn's input shape) and y = Bn's epilogue(z), both stored where Bn's own pass
    /// would store them.
    template <class Bn>
    struct FoldedNorm {
        static constexpr bool active = true;
        static constexpr std::size_t spatial = Bn::anchor::bound::spatial;
        const T* scale;
        const T* shift;
        T* z;
        T* y;
        void operator()(T v, std::size_t i, std::size_t j, ElemCtx& c) const {
            const std::size_t ch = j / spatial;
            const T zb = v * scale[ch] + shift[ch];
            z[i] = zb;
            if constexpr (Bn::epilogue::size > 0) {
                c.index = i;
                y[i] = Bn::epilogue::apply(zb, c);
            }
        }
    };

    /// Applies the stage's epilogue: y = epi(z [+ bias]) over the [batch, n] tensor; with a bias
    /// the biased z is stored back (the backward pass differentiates the epilogue at it). With a
    /// folded BatchNorm (the stage's own epilogue is then empty), hands each value to it.
    template <class S, class Fold = NoFold>
    void epilogue(const T* z, T* z_store, T* y, const T* bias, const Fold& fold = {}) {
        constexpr std::size_t n = S::out_size;
        using Epi = typename S::epilogue;
        ElemCtx c = ctx_;
        for (std::size_t b = 0; b < batch_; ++b) {
            const T* zr = z + b * n;
            T* yr = y + b * n;
            for (std::size_t j = 0; j < n; ++j) {
                T v = zr[j];
                if (bias) v += bias[j];
                if (z_store) z_store[b * n + j] = v;
                if constexpr (Fold::active) fold(v, b * n + j, j, c);
                if constexpr (Epi::size > 0) {
                    c.index = b * n + j;
                    yr[j] = Epi::apply(v, c);
                }
            }
        }
    }

    /// The fold functor of stage J: FoldedNorm when J folds into stage J - 1, else NoFold.
    template <std::size_t J, bool = folds_into_previous<stages, J>>
    struct fold_for {
        using type = NoFold;
        static constexpr std::size_t channels = 0;
    };
    template <std::size_t J>
    struct fold_for<J, true> {
        using type = FoldedNorm<ctnn::detail::stage_at<stages, J>>;
        static constexpr std::size_t channels =
            ctnn::detail::stage_at<stages, J>::anchor::bound::channels;
    };

    /// Channels of the widest BatchNorm that folds into its previous stage (0: none).
    static constexpr std::size_t fold_channels = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::max({std::size_t{0}, fold_for<I>::channels...});
    }
    (std::make_index_sequence<stage_count>{});

    /// The per-channel affine map of BatchNorm stage J in inference, scale = gamma / sqrt(
    /// running_var + eps) and shift = beta - running_mean * scale, computed as
    /// batch_norm_forward computes it (same roundings), into fold_; also records the statistics
    /// and mode that batch_norm_backward reads, as J's own pass would.
    template <std::size_t J>
    typename fold_for<J>::type fold_of(const T* params) {
        using Bn = ctnn::detail::stage_at<stages, J>;
        using A = typename Bn::anchor;
        constexpr std::size_t C = A::bound::channels;
        const T* gamma = params + A::param_offset;
        const T* beta = gamma + C;
        const T* running_mean = buffers_ + A::buffer_offset;
        const T* running_var = running_mean + C;
        T* mean = stats_.data() + plan::layout[J].stats;
        T* invstd = mean + C;
        T* scale = fold_.data();
        T* shift = scale + C;
        const auto eps = static_cast<double>(A::layer::eps);
        for (std::size_t c = 0; c < C; ++c) {
            mean[c] = running_mean[c];
            invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
            scale[c] = invstd[c] * gamma[c];
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        bn_training_[J] = false;
        return {scale, shift, z_of(J), y_of(J)};
    }

    /// The epilogue of a convolution chunk: g is the GEMM output of `samples` samples from s0, a
    /// column-major (samples * pixels) x out matrix; it is scattered to the [out, oh, ow] layout
    /// of each sample as z (biased) and y = epi(z).
    template <class S, class Fold = NoFold>
    void conv_epilogue(const T* g, std::size_t s0, std::size_t samples, T* z, T* y, const T* bias,
                       const Fold& fold = {}) {
        using L = conv_lowering<S>;
        using Epi = typename S::epilogue;
        constexpr std::size_t P = L::pixels, n = S::out_size;
        const std::size_t rows = samples * P;
        ElemCtx c = ctx_;
        for (std::size_t s = 0; s < samples; ++s)
            for (std::size_t o = 0; o < L::out_channels; ++o) {
                const T* src = g + o * rows + s * P;
                const std::size_t base = (s0 + s) * n + o * P;
                const T b = bias ? bias[o] : T(0);
                for (std::size_t p = 0; p < P; ++p) {
                    const T v = src[p] + b;
                    z[base + p] = v;
                    if constexpr (Fold::active) fold(v, base + p, o * P + p, c);
                    if constexpr (Epi::size > 0) {
                        c.index = base + p;
                        y[base + p] = Epi::apply(v, c);
                    }
                }
            }
    }

    /// Threads for the work inside one sample: all of ctnn's when the batch has fewer samples
    /// than threads (at batch 1: latency), else 1 (BatchParallel splits the batch instead). A
    /// BatchParallel part that asks while the pool runs its parts gets a serial run.
    [[nodiscard]] unsigned intra_threads() const {
        if (batch_ >= 2) return 1;
        return ctnn::detail::ThreadPool::instance().size();
    }
#if CTNN_CPU_FUSED
    /// The for_each a Winograd kernel runs its 16 GEMMs with: on intra_threads() threads.
    template <class D>
    auto intra_for_each() const {
        return [nt = intra_threads()](unsigned n, auto&& f) {
            if (nt <= 1) {
                for (unsigned i = 0; i < n; ++i) f(i);
                return;
            }
            ctnn::detail::ThreadPool::instance().run(nt, [&](unsigned t) {
                for (unsigned i = n * t / nt; i < n * (t + 1) / nt; ++i) f(i);
            });
        };
    }
#endif

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
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        using Epi = typename S::epilogue;
        const T* x = x_of(I);
        const auto B = static_cast<Eigen::Index>(batch_);
        // A BatchNorm folded into stage I + 1's pass in inference (folds_into_previous).
        constexpr bool folds_next = folds_into_previous<stages, I + 1>;
        if constexpr (folds_into_previous<stages, I>)
            if (!ctx_.training) return; // evaluated by stage I - 1's epilogue
        if constexpr (I > 0) {
            if constexpr (pool_fused<I - 1>) { // stage I - 1 wrote the pooled values into Z
                if constexpr (Epi::size > 0) epilogue<S>(z_of(I), nullptr, y_of(I), nullptr);
                return;
            }
        }
        ++stages_run_;
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            detail::MapConstMat<T> W(w, n_in, n_out);
            detail::MapConstMat<T> X(x, n_in, B);
            detail::MapMat<T> Z(z_of(I), n_out, B);
            const unsigned nt = intra_threads();
            if (nt > 1 && n_out >= 64) {
                // A batch too small to split: the threads share the output rows instead (at
                // batch 1 a GEMV that streams the weight, so each thread streams its part).
                ctnn::detail::ThreadPool::instance().run(nt, [&](unsigned t) {
                    const std::size_t r0 = n_out * t / nt, r1 = n_out * (t + 1) / nt;
                    Z.middleRows(idx(r0), idx(r1 - r0)).noalias() =
                        W.middleCols(idx(r0), idx(r1 - r0)).transpose() * X;
                });
            } else {
                Z.noalias() = W.transpose() * X;
            }
            const T* bias = A::layer::has_bias ? w + n_in * n_out : nullptr;
            if constexpr (folds_next) {
                if (!ctx_.training) {
                    epilogue<S>(z_of(I), bias ? z_of(I) : nullptr, y_of(I), bias,
                                fold_of<I + 1>(params));
                    return;
                }
            }
            if (bias || Epi::size > 0)
                epilogue<S>(z_of(I), bias ? z_of(I) : nullptr, y_of(I), bias);
        } else if constexpr (S::kind == LayerKind::rowwise) {
            using A = typename S::anchor;
            T* z = z_of(I);
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* xr = x + b * n_in;
                T* zr = z + b * n_out;
                T m = xr[0];
                for (std::size_t j = 1; j < n_in; ++j) m = std::max(m, xr[j]);
                T s = T(0);
                for (std::size_t j = 0; j < n_in; ++j) s += std::exp(xr[j] - m);
                if constexpr (A::layer::log) {
                    // (x - m) - log(s), not x - (m + log(s)): m + log(s) rounds away log(s)
                    // when |m| is large (equal logits of 1e30 would give 0, not -log(n)).
                    const T ls = std::log(s);
                    for (std::size_t j = 0; j < n_in; ++j) zr[j] = (xr[j] - m) - ls;
                } else {
                    const T inv = T(1) / s;
                    for (std::size_t j = 0; j < n_in; ++j) zr[j] = std::exp(xr[j] - m) * inv;
                }
            }
            if constexpr (Epi::size > 0) epilogue<S>(z, nullptr, y_of(I), nullptr);
        } else if constexpr (S::kind == LayerKind::conv) {
            using A = typename S::anchor;
            using L = conv_lowering<S>;
            constexpr auto G = A::bound::window;
            constexpr std::size_t groups = A::bound::group_count, kg = A::bound::taps_per_group,
                                  og = L::out_channels / groups, P = L::pixels;
            const T* w = params + A::param_offset;
            const T* bias = A::layer::has_bias ? w + kg * L::out_channels : nullptr;
            detail::MapConstMat<T> W(w, kg, L::out_channels);
            T* col = scratch_.data();
            T* gout = col + L::chunk * P * L::taps;
            const bool fold = folds_next && !ctx_.training;
#if CTNN_CPU_FUSED
            if constexpr (direct_conv<S>) {
                if (!fold) {
                    direct_conv_forward<S, I>(w, bias, x);
                    return;
                }
            }
#endif
            typename fold_for<I + 1>::type folded{};
            if constexpr (folds_next)
                if (fold) folded = fold_of<I + 1>(params);
            for (std::size_t s0 = 0; s0 < batch_; s0 += L::chunk) {
                const std::size_t samples = std::min(L::chunk, batch_ - s0);
                const auto rows = static_cast<Eigen::Index>(samples * P);
                detail::im2col<G>(x + s0 * n_in, samples, col);
                detail::MapConstMat<T> Col(col, rows, L::taps);
                detail::MapMat<T> Out(gout, rows, L::out_channels);
                for (std::size_t g = 0; g < groups; ++g)
                    Out.middleCols(idx(g * og), idx(og)).noalias() =
                        Col.middleCols(idx(g * kg), idx(kg)) * W.middleCols(idx(g * og), idx(og));
                if (fold) conv_epilogue<S>(gout, s0, samples, z_of(I), y_of(I), bias, folded);
                else conv_epilogue<S>(gout, s0, samples, z_of(I), y_of(I), bias);
            }
        } else if constexpr (S::kind == LayerKind::pool) {
            using A = typename S::anchor;
            detail::pool_forward<A::bound::window, A::layer::op>(x, batch_, z_of(I));
            if constexpr (Epi::size > 0) epilogue<S>(z_of(I), nullptr, y_of(I), nullptr);
        } else if constexpr (S::kind == LayerKind::resample) {
            using Bd = typename S::anchor::bound;
            if constexpr (Bd::bilinear)
                detail::upsample_bilinear_forward<Bd::scale, Bd::height, Bd::width>(
                    x, batch_ * Bd::channels, z_of(I));
            else
                detail::upsample_forward<Bd::scale, Bd::height, Bd::width>(x, batch_ * Bd::channels,
                                                                           z_of(I));
            if constexpr (Epi::size > 0) epilogue<S>(z_of(I), nullptr, y_of(I), nullptr);
        } else if constexpr (S::kind == LayerKind::add) {
            // A join (Add, Concat, Residual): z = sum or concat of the branches, then the epilogue.
            join_forward<S, I>();
            if constexpr (Epi::size > 0) epilogue<S>(z_of(I), nullptr, y_of(I), nullptr);
        } else if constexpr (S::kind == LayerKind::batch_norm) {
            batch_norm_forward<S, I>(params, x);
            if constexpr (Epi::size > 0) epilogue<S>(z_of(I), nullptr, y_of(I), nullptr);
        } else if constexpr (S::kind == LayerKind::layer_norm) {
            layer_norm_forward<S, I>(params, x);
            if constexpr (Epi::size > 0) epilogue<S>(z_of(I), nullptr, y_of(I), nullptr);
        } else {
            // No anchor: the epilogue reads the stage input directly.
            epilogue<S>(x, nullptr, y_of(I), nullptr);
        }
    }

    template <class S, std::size_t I>
    void backward_stage(const T* params, T* grads, T*& d, T*& other) {
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        using Epi = typename S::epilogue;
        const auto B = static_cast<Eigen::Index>(batch_);
        // 1. Through the epilogue: dZ = dY * epi'(z), in place. A lone ReLU after an anchor
        // reads its derivative from Y = ReLU(Z) > 0: one vectorized select instead of a
        // dual-number evaluation per element (a tenth of the CNN's training step).
        if constexpr (relu_in_pool<I>) {
            // Applied by the max pool's backward, which wrote d (relu_in_pool).
        } else if constexpr (Epi::size > 0 && S::has_anchor && cpu::detail::epilogue_is_relu<Epi>) {
            const T* y = y_of(I);
            const std::size_t total = batch_ * n_out;
            for (std::size_t i = 0; i < total; ++i) d[i] = y[i] <= T(0) ? T(0) : d[i];
        } else if constexpr (Epi::size > 0) {
            const T* z = S::has_anchor ? z_of(I) : x_of(I);
            ElemCtx c = ctx_;
            const std::size_t total = batch_ * n_out;
            for (std::size_t i = 0; i < total; ++i) {
                c.index = i;
                d[i] *= Epi::apply(expr::Dual<T>{z[i], T(1)}, c).d;
            }
        }
        // 2. Through the anchor.
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const T* w = params + A::param_offset;
            T* gw = grads + A::param_offset;
            detail::MapConstMat<T> dZ(d, n_out, B);
            detail::MapConstMat<T> X(x_of(I), n_in, B);
            detail::MapMat<T>(gw, n_in, n_out).noalias() = X * dZ.transpose();
            if constexpr (A::layer::has_bias)
                detail::MapVec<T>(gw + n_in * n_out, n_out) = dZ.rowwise().sum();
            if constexpr (flow::input_grad[I]) {
                detail::MapMat<T>(other, n_in, B).noalias() =
                    detail::MapConstMat<T>(w, n_in, n_out) * dZ;
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::rowwise) {
            using A = typename S::anchor;
            if constexpr (flow::input_grad[I]) {
                const T* z = z_of(I);
                for (std::size_t b = 0; b < batch_; ++b) {
                    const T* zr = z + b * n_out;
                    const T* dz = d + b * n_out;
                    T* dx = other + b * n_in;
                    T s = T(0);
                    if constexpr (A::layer::log) {
                        for (std::size_t j = 0; j < n_out; ++j) s += dz[j];
                        for (std::size_t j = 0; j < n_out; ++j) dx[j] = dz[j] - std::exp(zr[j]) * s;
                    } else {
                        for (std::size_t j = 0; j < n_out; ++j) s += dz[j] * zr[j];
                        for (std::size_t j = 0; j < n_out; ++j) dx[j] = zr[j] * (dz[j] - s);
                    }
                }
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::add) {
            join_backward<S, I>(d, other);
        } else if constexpr (S::kind == LayerKind::batch_norm) {
            batch_norm_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::layer_norm) {
            layer_norm_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::conv) {
            conv_backward<S, I>(params, grads, d, other);
        } else if constexpr (S::kind == LayerKind::pool) {
            using A = typename S::anchor;
            if constexpr (flow::input_grad[I]) {
                constexpr auto G = A::bound::window;
#if CTNN_CPU_FUSED && defined(__AVX512F__)
                if constexpr (std::is_same_v<T, float> && A::layer::op == PoolOp::max &&
                              cpu::detail::max_pool2_vectorized<G>)
                    cpu::detail::max_pool2_backward<G, relu_in_pool<I - 1>>(x_of(I), d, batch_,
                                                                            other);
                else
#endif
                    detail::pool_backward<G, A::layer::op>(x_of(I), d, batch_, other);
                std::swap(d, other);
            }
        } else if constexpr (S::kind == LayerKind::resample) {
            using Bd = typename S::anchor::bound;
            if constexpr (flow::input_grad[I]) {
                if constexpr (Bd::bilinear)
                    detail::upsample_bilinear_backward<Bd::scale, Bd::height, Bd::width>(
                        d, batch_ * Bd::channels, other);
                else
                    detail::upsample_backward<Bd::scale, Bd::height, Bd::width>(
                        d, batch_ * Bd::channels, other);
                std::swap(d, other);
            }
        }
        // No anchor: dX = dZ, already in d.
    }

    /// z of join stage I: the sum of the branch outputs, or their concatenation per sample.
    template <class S, std::size_t I>
    void join_forward() {
        using A = typename S::anchor;
        constexpr std::size_t n = S::out_size;
        T* z = z_of(I);
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            const T* y = this->template branch_output<A, Br>();
            if constexpr (A::op == JoinOp::concat) {
                for (std::size_t b = 0; b < this->batch_; ++b)
                    std::copy_n(y + b * Br::size, Br::size, z + b * n + Br::offset);
            } else if constexpr (K == 0) {
                std::copy_n(y, this->batch_ * n, z);
            } else {
                for (std::size_t i = 0; i < this->batch_ * n; ++i) z[i] += y[i];
            }
        });
    }

    /// Backward of join stage I from dZ in d: the branches' gradients (the last computed one's
    /// left in d, the others' kept) and the source accumulator started with the identity
    /// branches' share (zero without one).
    template <class S, std::size_t I>
    void join_backward(T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::out_size, n_src = A::in_size;
        T* kept = kept_of(I);
        T* acc = kept + A::acc_offset * batch_;
        // The slice of dZ that is branch Br's gradient, written (or added) into dst.
        auto slice = [&]<class Br>(T* dst, bool add) {
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* src = d + b * n + Br::offset;
                T* out = dst + b * Br::size;
                if (add)
                    for (std::size_t j = 0; j < Br::size; ++j) out[j] += src[j];
                else std::copy_n(src, Br::size, out);
            }
        };
        // The source's accumulator, unless no gradient of the source is needed (liveness).
        constexpr bool acc_needed = !A::from_input && flow::grad_needed[A::source];
        if constexpr (acc_needed) std::fill_n(acc, batch_ * n_src, T(0));
        ctnn::detail::for_each_type(typename A::branches{}, [&]<class Br, std::size_t K>() {
            if constexpr (Br::identity) {
                if constexpr (acc_needed) slice.template operator()<Br>(acc, true);
            } else if constexpr (K != A::last_computed) {
                slice.template operator()<Br>(kept + Br::slot * this->batch_, false);
            }
        });
        if constexpr (A::computed > 0) {
            using Last = ctnn::detail::stage_at<typename A::branches, A::last_computed>;
            if constexpr (A::op == JoinOp::concat) {
                slice.template operator()<Last>(other, false);
                std::swap(d, other);
            } // a sum hands dZ itself on: it stays in d
        } else if constexpr (acc_needed) {
            d = acc; // only identity branches: the gradient of the source is complete
        }
    }

#if CTNN_CPU_FUSED
    /// Forward of a direct_conv stage, sample by sample: pad, convolve into Z (and Y = ReLU(Z) on
    /// the registers when ReLU is the whole epilogue), else the epilogue over the sample's Z.
    template <class S, std::size_t I>
    void direct_conv_forward(const T* w, const T* bias, const T* x) {
        using D = direct_of<S>;
        using Epi = typename S::epilogue;
        constexpr std::size_t n_in = S::in_size, n = S::out_size;
        constexpr bool relu = cpu::detail::epilogue_is_relu<Epi>;
        float* xp = direct_.data();
        // Packed once per weight: a pass compares the weight with the copy it was packed from
        // (a memcmp of the weight, far cheaper than Winograd's transform of it at batch 1).
        float* last = packed_.data() + packed_offset<I>;
        float* wt = last + weight_floats<S>;
        if (std::memcmp(last, w, weight_floats<S> * sizeof(float)) != 0) {
            std::memcpy(last, w, weight_floats<S> * sizeof(float));
            D::pack(w, wt);
        }
        // What the store writes: Z and Y, or with ReLU (whose derivative backward reads from
        // Y > 0) Y only; with a max pool that reads only this stage (pool_fused), the pooled
        // output too, into stage I + 1's Z. Inference keeps the pooled output alone.
        using Store = typename D::Store;
        constexpr bool pool = relu && pool_fused<I>;
        // Every sample: z and y advance by their per-sample sizes (a null z stays null).
        const auto sweep = [&]<Store St>(T* z, std::size_t nz, T* y, std::size_t ny) {
            ElemCtx c = ctx_;
            for (std::size_t b = 0; b < batch_; ++b) {
                D::pad(x + b * n_in, xp);
                T* zb = z == nullptr ? nullptr : z + b * nz;
                T* yb = y + b * ny;
                if constexpr (conv_lowering<S>::winograd)
                    D::template run<relu, St>(wt, bias, xp, zb, yb, intra_for_each<D>());
                else D::template run<relu, St>(wt, bias, xp, zb, yb);
                if constexpr (!relu && Epi::size > 0)
                    for (std::size_t i = 0; i < n; ++i) {
                        c.index = b * n + i;
                        yb[i] = Epi::apply(zb[i], c);
                    }
            }
        };
        if constexpr (pool) {
            constexpr std::size_t n_pool = D::PH * D::PW * conv_lowering<S>::out_channels;
            T* pooled = z_of(I + 1);
            if (keep_) sweep.template operator()<Store::y_and_pool>(pooled, n_pool, y_of(I), n);
            else sweep.template operator()<Store::pool>(nullptr, 0, pooled, n_pool);
        } else if constexpr (relu) {
            sweep.template operator()<Store::y>(nullptr, 0, y_of(I), n);
        } else {
            sweep.template operator()<Store::z_and_y>(z_of(I), n, y_of(I), n);
        }
    }
#endif

    /// Backward through a convolution anchor; d holds dZ ([batch, out, oh, ow]).
    template <class S, std::size_t I>
    void conv_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        using L = conv_lowering<S>;
        constexpr auto G = A::bound::window;
        constexpr std::size_t groups = A::bound::group_count, kg = A::bound::taps_per_group,
                              og = L::out_channels / groups, P = L::pixels, n_in = S::in_size,
                              n_out = S::out_size;
        const T* w = params + A::param_offset;
        T* gw = grads + A::param_offset;
        detail::MapConstMat<T> W(w, kg, L::out_channels);
        detail::MapMat<T> GW(gw, kg, L::out_channels);
        GW.setZero();
        detail::MapVec<T> GB(gw + kg * L::out_channels, A::layer::has_bias ? L::out_channels : 0);
        GB.setZero();
        T* col = scratch_.data();
        T* dzc = col + L::chunk * P * L::taps;
#if CTNN_CPU_FUSED
        if constexpr (flow::input_grad[I] && direct_conv_dx<S>) {
            using D = direct_dx_of<S>;
            float* wf = direct_.data() + D::padded_floats;
            cpu::detail::flip_weight<G, L::out_channels>(w, wf);
            D::pack(wf, wf + D::packed_floats);
        }
        if constexpr (winograd_dw<S>) {
            // Sample by sample: dW in the Winograd domain, db, and dX (direct or Winograd).
            using DW = direct_of<S>;
            float* xw = direct_.data() + dx_floats<S>;
            float* du = xw + DW::dw_floats;
            std::fill(du, du + DW::packed_floats, 0.0f);
            for (std::size_t s = 0; s < batch_; ++s) {
                const float* dzs = d + s * n_out;
                if constexpr (A::layer::has_bias)
                    GB += detail::MapConstMat<T>(dzs, idx(P), L::out_channels)
                              .colwise()
                              .sum()
                              .transpose();
                DW::pad(x_of(I) + s * n_in, xw);
                DW::accumulate_dw(dzs, xw, du);
                if constexpr (flow::input_grad[I]) {
                    using D = direct_dx_of<S>;
                    float* dzp = direct_.data();
                    D::pad(dzs, dzp);
                    T* dx = other + s * n_in;
                    D::template run<false>(dzp + D::padded_floats + D::packed_floats, nullptr, dzp,
                                           dx, dx);
                }
            }
            DW::unpack_dw(du, gw);
            if constexpr (flow::input_grad[I]) std::swap(d, other);
            return;
        }
#endif
        for (std::size_t s0 = 0; s0 < batch_; s0 += L::chunk) {
            const std::size_t samples = std::min(L::chunk, batch_ - s0);
            const std::size_t rows = samples * P;
            detail::im2col<G>(x_of(I) + s0 * n_in, samples, col);
            detail::MapMat<T> Col(col, idx(rows), L::taps);
            if constexpr (direct_conv<S> && (!flow::input_grad[I] || direct_conv_dx<S>)) {
                // No dCol GEMM follows: dW += im2col(X_s)^T dZ_s per sample, reading each
                // sample's dZ in place ([out, pixels] is a column-major pixels x out matrix).
                for (std::size_t s = 0; s < samples; ++s) {
                    detail::MapConstMat<T> DZs(d + (s0 + s) * n_out, idx(P), L::out_channels);
                    if constexpr (A::layer::has_bias) GB += DZs.colwise().sum().transpose();
                    GW.noalias() += Col.middleRows(idx(s * P), idx(P)).transpose() * DZs;
                }
            } else {
                // dZ of the chunk as a column-major rows x out matrix, the GEMM output's layout.
                for (std::size_t s = 0; s < samples; ++s)
                    for (std::size_t o = 0; o < L::out_channels; ++o)
                        std::copy_n(d + (s0 + s) * n_out + o * P, P, dzc + o * rows + s * P);
                detail::MapConstMat<T> DZ(dzc, idx(rows), L::out_channels);
                if constexpr (A::layer::has_bias) GB += DZ.colwise().sum().transpose();
                for (std::size_t g = 0; g < groups; ++g)
                    GW.middleCols(idx(g * og), idx(og)).noalias() +=
                        Col.middleCols(idx(g * kg), idx(kg)).transpose() *
                        DZ.middleCols(idx(g * og), idx(og));
                if constexpr (flow::input_grad[I]) {
                    // dCol = dZ W^T, written over the im2col matrix (no longer needed), folded.
                    for (std::size_t g = 0; g < groups; ++g)
                        Col.middleCols(idx(g * kg), idx(kg)).noalias() =
                            DZ.middleCols(idx(g * og), idx(og)) *
                            W.middleCols(idx(g * og), idx(og)).transpose();
                    T* dx = other + s0 * n_in;
                    std::fill(dx, dx + samples * n_in, T(0));
                    detail::col2im<G>(col, samples, dx);
                }
            }
#if CTNN_CPU_FUSED
            if constexpr (flow::input_grad[I] && direct_conv_dx<S>) {
                // dX = dZ convolved with the flipped kernel, sample by sample (direct kernel).
                using D = direct_dx_of<S>;
                float* dzp = direct_.data();
                const float* wt = dzp + D::padded_floats + D::packed_floats;
                for (std::size_t s = 0; s < samples; ++s) {
                    D::pad(d + (s0 + s) * n_out, dzp);
                    T* dx = other + (s0 + s) * n_in;
                    D::template run<false>(wt, nullptr, dzp, dx, dx);
                }
            }
#endif
        }
        if constexpr (flow::input_grad[I]) std::swap(d, other);
    }

    /// BatchNorm forward. Training: normalizes each channel with the batch's mean and biased
    /// variance (accumulated in double), keeps them for backward, and updates the running
    /// statistics; inference: normalizes with the running statistics.
    template <class S, std::size_t I>
    void batch_norm_forward(const T* params, const T* x) {
        using A = typename S::anchor;
        constexpr std::size_t C = A::bound::channels, HW = A::bound::spatial, n = S::in_size;
        const T* gamma = params + A::param_offset;
        const T* beta = gamma + C;
        T* running_mean = buffers_ + A::buffer_offset;
        T* running_var = running_mean + C;
        T* tracked = running_var + C;
        T* mean = stats_.data() + plan::layout[I].stats;
        T* invstd = mean + C;
        T* z = z_of(I);
        const std::size_t count = batch_ * HW; // >= 2 in training (StageRunner::check_pass)
        bn_training_[I] = ctx_.training;
        const auto eps = static_cast<double>(A::layer::eps);
        for (std::size_t c = 0; c < C; ++c) {
            double mu = 0, var = 0;
            if (ctx_.training) {
                for (std::size_t b = 0; b < batch_; ++b) {
                    const T* r = x + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) mu += static_cast<double>(r[p]);
                }
                mu /= static_cast<double>(count);
                for (std::size_t b = 0; b < batch_; ++b) {
                    const T* r = x + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) {
                        const double e = static_cast<double>(r[p]) - mu;
                        var += e * e;
                    }
                }
                var /= static_cast<double>(count);
                const auto m = static_cast<double>(A::layer::momentum);
                const double unbiased =
                    var * static_cast<double>(count) / static_cast<double>(count - 1);
                running_mean[c] =
                    static_cast<T>((1 - m) * static_cast<double>(running_mean[c]) + m * mu);
                running_var[c] =
                    static_cast<T>((1 - m) * static_cast<double>(running_var[c]) + m * unbiased);
            } else {
                mu = static_cast<double>(running_mean[c]);
                var = static_cast<double>(running_var[c]);
            }
            mean[c] = static_cast<T>(mu);
            invstd[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
            // z = (x - mean) * invstd * gamma + beta = x * scale + shift
            const T scale = invstd[c] * gamma[c];
            const T shift = beta[c] - mean[c] * scale;
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* r = x + b * n + c * HW;
                T* zr = z + b * n + c * HW;
                for (std::size_t p = 0; p < HW; ++p) zr[p] = r[p] * scale + shift;
            }
        }
        if (ctx_.training) tracked[0] += T(1);
    }

    /// BatchNorm backward, with xhat recomputed from the stage input and the kept statistics:
    /// dbeta = sum dZ, dgamma = sum dZ xhat, and (training) dX = gamma invstd (dZ - dbeta / N -
    /// xhat dgamma / N) over the N values of a channel; (inference) dX = gamma invstd dZ.
    template <class S, std::size_t I>
    void batch_norm_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t C = A::bound::channels, HW = A::bound::spatial, n = S::in_size;
        const T* gamma = params + A::param_offset;
        T* dgamma = grads + A::param_offset;
        T* dbeta = dgamma + C;
        const T* mean = stats_.data() + plan::layout[I].stats;
        const T* invstd = mean + C;
        const T* x = x_of(I);
        const auto count = static_cast<T>(batch_ * HW);
        for (std::size_t c = 0; c < C; ++c) {
            T sum_dz = T(0), sum_dz_xhat = T(0);
            for (std::size_t b = 0; b < batch_; ++b) {
                const T* r = x + b * n + c * HW;
                const T* dz = d + b * n + c * HW;
                for (std::size_t p = 0; p < HW; ++p) {
                    sum_dz += dz[p];
                    sum_dz_xhat += dz[p] * (r[p] - mean[c]) * invstd[c];
                }
            }
            dgamma[c] = sum_dz_xhat;
            dbeta[c] = sum_dz;
            if constexpr (flow::input_grad[I]) {
                const T k = gamma[c] * invstd[c];
                const bool training = bn_training_[I];
                const T mean_dz = training ? sum_dz / count : T(0);
                const T mean_dz_xhat = training ? sum_dz_xhat / count : T(0);
                for (std::size_t b = 0; b < batch_; ++b) {
                    const T* r = x + b * n + c * HW;
                    const T* dz = d + b * n + c * HW;
                    T* dx = other + b * n + c * HW;
                    for (std::size_t p = 0; p < HW; ++p) {
                        const T xhat = (r[p] - mean[c]) * invstd[c];
                        dx[p] = k * (dz[p] - mean_dz - xhat * mean_dz_xhat);
                    }
                }
            }
        }
        if constexpr (flow::input_grad[I]) std::swap(d, other);
    }

    /// Mean and 1/sqrt(var + eps) of one sample's n values (accumulated in double).
    template <class A>
    static std::pair<T, T> sample_stats(const T* r, std::size_t n) {
        double mu = 0, var = 0;
        for (std::size_t j = 0; j < n; ++j) mu += static_cast<double>(r[j]);
        mu /= static_cast<double>(n);
        for (std::size_t j = 0; j < n; ++j) {
            const double e = static_cast<double>(r[j]) - mu;
            var += e * e;
        }
        var /= static_cast<double>(n);
        return {static_cast<T>(mu),
                static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(A::layer::eps)))};
    }

    /// LayerNorm forward: each sample normalized by its own mean and variance, then scaled and
    /// shifted elementwise.
    template <class S, std::size_t I>
    void layer_norm_forward(const T* params, const T* x) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        const T* w = params + A::param_offset;
        const T* bias = w + n;
        T* z = z_of(I);
        for (std::size_t b = 0; b < batch_; ++b) {
            const T* r = x + b * n;
            const auto [mu, is] = sample_stats<A>(r, n);
            T* zr = z + b * n;
            for (std::size_t j = 0; j < n; ++j) zr[j] = (r[j] - mu) * is * w[j] + bias[j];
        }
    }

    /// LayerNorm backward, statistics recomputed from the stage input: dW = sum dZ xhat,
    /// dB = sum dZ, dX = invstd (g - mean(g) - xhat mean(g xhat)) with g = dZ W, per sample.
    template <class S, std::size_t I>
    void layer_norm_backward(const T* params, T* grads, T*& d, T*& other) {
        using A = typename S::anchor;
        constexpr std::size_t n = S::in_size;
        const T* w = params + A::param_offset;
        T* dw = grads + A::param_offset;
        T* db = dw + n;
        std::fill(dw, dw + 2 * n, T(0));
        const T* x = x_of(I);
        for (std::size_t b = 0; b < batch_; ++b) {
            const T* r = x + b * n;
            const T* dz = d + b * n;
            const auto [mu, is] = sample_stats<A>(r, n);
            T mean_g = T(0), mean_g_xhat = T(0);
            for (std::size_t j = 0; j < n; ++j) {
                const T xhat = (r[j] - mu) * is;
                dw[j] += dz[j] * xhat;
                db[j] += dz[j];
                mean_g += dz[j] * w[j];
                mean_g_xhat += dz[j] * w[j] * xhat;
            }
            if constexpr (flow::input_grad[I]) {
                mean_g /= static_cast<T>(n);
                mean_g_xhat /= static_cast<T>(n);
                T* dx = other + b * n;
                for (std::size_t j = 0; j < n; ++j) {
                    const T xhat = (r[j] - mu) * is;
                    dx[j] = is * (dz[j] * w[j] - mean_g - xhat * mean_g_xhat);
                }
            }
        }
        if constexpr (flow::input_grad[I]) std::swap(d, other);
    }

    static Eigen::Index idx(std::size_t v) { return static_cast<Eigen::Index>(v); }

    std::vector<T> act_, grad_a_, grad_b_, scratch_, stats_, skip_grad_;
    std::vector<T> fold_;   ///< scale and shift of a BatchNorm folded into its previous stage
    std::vector<T> direct_; ///< padded input and packed weight of a direct convolution
    std::vector<T> packed_; ///< per direct_conv stage: the weight last packed, then its packing
    std::size_t stages_run_ = 0; ///< stages the last forward pass evaluated
    bool keep_ = true;           ///< the last forward pass kept every value backward() reads
    T* buffers_ = nullptr;
    std::array<bool, stage_count> bn_training_{}; ///< mode of each BatchNorm stage's last forward
    std::size_t capacity_ = 0;
    ElemCtx ctx_{};
};

} // namespace ctnn::eigen
