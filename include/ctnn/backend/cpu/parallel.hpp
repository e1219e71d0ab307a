// ctnn/backend/cpu/parallel.hpp — eigen::Executor on several threads, one batch part per thread.
//
// A model that the fused CPU executor does not take (convolutions, pooling, joins, Softmax,
// double precision, ...) runs on eigen::Executor, whose Eigen GEMMs are single-threaded (ctnn does
// not require OpenMP). BatchParallel gives such a model ctnn's threads (threads.hpp) the way the
// fused executor uses them: the batch is cut into one contiguous part per thread, each thread runs
// the whole network on its part with its own eigen::Executor, and the weight gradients of the
// parts are summed (in part order, split by parameter range between the threads).
//
// - Results do not depend on timing: the split depends only on the batch and the thread count,
//   and the gradient sum runs in part order. Dropout draws the same mask as one executor on the
//   whole batch: each part's ElemCtx carries the index of its first sample (ElemCtx::sample0).
// - A part holds at least min_part samples (and enough work to pay for a hand-off), so small
//   batches and small models stay on one thread; with one part, BatchParallel is a thin wrapper
//   around one eigen::Executor (no copies).
// - Models with a BatchNorm stage are not split (batch_splittable): training statistics are
//   over the whole batch. They run on one eigen::Executor.
#pragma once
#include "../../config.hpp"
#include "../../core/precision.hpp"
#include "../../expr/context.hpp"
#include "../../graph/lowering.hpp"
#include "eigen/executor.hpp"
#include "threads.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

namespace ctnn::cpu {

/// True when a batch of Net can be split between threads with results equal to one pass over the
/// whole batch: no stage computes statistics over the batch (BatchNorm).
template <class Net>
inline constexpr bool batch_splittable = []<class... S>(type_list<S...>) {
    return ((S::kind != LayerKind::batch_norm) && ...);
}(stages_of<Net>{});

namespace detail {

/// BatchParallel's buffers and split, apart from its executors: nothing in it depends on the model
/// type, so it is compiled once per precision rather than once per model.
template <class T>
class BatchParallelState {
public:
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// The parts the last forward pass was split into.
    [[nodiscard]] unsigned last_parts() const noexcept { return used_; }

protected:
    /// Samples [b0, b1) of part t of the last forward pass.
    [[nodiscard]] std::pair<std::size_t, std::size_t> part(unsigned t) const noexcept {
        return {batch_ * t / used_, batch_ * (t + 1) / used_};
    }

    /// grads += the other parts' gradients (n per part, in grads_), in part order, each of the
    /// used_ threads over its own range of parameters.
    void sum_gradients(T* grads, std::size_t n) {
        ctnn::detail::ThreadPool::instance().run(used_, [&](unsigned t) {
            const std::size_t i0 = n * t / used_, i1 = n * (t + 1) / used_;
            for (unsigned p = 1; p < used_; ++p) {
                const T* g = grads_.data() + (p - 1) * n;
                for (std::size_t i = i0; i < i1; ++i) grads[i] += g[i];
            }
        });
    }

    std::vector<T> out_, out_grad_, grads_; ///< used when the batch is split
    std::size_t capacity_ = 0, batch_ = 0;
    unsigned used_ = 1;
};

} // namespace detail

/// eigen::Executor's interface (reserve, forward, output, output_grad, backward,
/// last_forward_stages), with each pass split by batch between ctnn's threads. G: the parts' GEMM
/// operand format (eigen::Executor).
template <class Net, class T = float, GemmOperands G = GemmOperands::scalar>
class BatchParallel : public detail::BatchParallelState<T> {
    static_assert(batch_splittable<Net>, "ctnn: BatchParallel cannot split a model whose stages "
                                         "compute batch statistics (BatchNorm)");
    using Part = eigen::Executor<Net, T, false, G>;
    using State = detail::BatchParallelState<T>;

public:
    /// The fewest samples a part holds: at least 8, and at least ~64k values of per-sample work
    /// (parameters plus activations, a proxy for the arithmetic) so that a thread hand-off (a few
    /// microseconds) stays small next to the part's work.
    static constexpr std::size_t min_part = [] {
        constexpr std::size_t work = Net::param_count + workspace_plan<stages_of<Net>>::per_sample;
        constexpr std::size_t by_work = (std::size_t{1} << 16) / (work > 0 ? work : 1);
        return std::max<std::size_t>(8, by_work);
    }();

    /// Reserves the first part's workspace for batches of up to `batch` samples (the other parts
    /// reserve their share at their first split pass).
    void reserve(std::size_t batch) {
        parts_[0].reserve(batch);
        capacity_ = std::max(capacity_, batch);
    }
    using State::capacity;

    /// The number of parts (threads) `batch` samples are split into: num_threads(), capped so
    /// that every part holds at least min_part samples.
    [[nodiscard]] static unsigned parts_for(std::size_t batch) {
        const std::size_t by_size = std::max<std::size_t>(1, batch / min_part);
        return static_cast<unsigned>(std::min<std::size_t>(num_threads(), by_size));
    }

    /// The parts the last forward pass was split into.
    using State::last_parts;

    /// eigen::Executor::forward, split between the threads.
    const T* forward(const T* params, const T* x, std::size_t batch, ElemCtx ctx,
                     T* buffers = nullptr) {
        reserve(batch);
        batch_ = batch;
        used_ = parts_for(batch);
        if (used_ == 1) return parts_[0].forward(params, x, batch, ctx, buffers);
        // Allocate here, not on the workers (an exception there could not reach the caller).
        if (parts_.size() < used_) parts_.resize(used_);
        for (unsigned t = 0; t < used_; ++t) parts_[t].reserve(part(t).second - part(t).first);
        if (out_.size() < batch * Net::out_size) {
            out_.assign(batch * Net::out_size, T(0));
            out_grad_.assign(batch * Net::out_size, T(0));
        }
        ctnn::detail::ThreadPool::instance().run(used_, [&](unsigned t) {
            const auto [b0, b1] = part(t);
            ElemCtx c = ctx;
            c.sample0 = ctx.sample0 + b0;
            const T* y = parts_[t].forward(params, x + b0 * Net::in_size, b1 - b0, c, buffers);
            std::copy(y, y + (b1 - b0) * Net::out_size, out_.data() + b0 * Net::out_size);
        });
        return out_.data();
    }

    /// Stages the last forward pass evaluated (as eigen::Executor; the same in every part).
    [[nodiscard]] std::size_t last_forward_stages() const noexcept {
        return parts_[0].last_forward_stages();
    }

    /// Output of the last forward pass, [batch, out_size].
    [[nodiscard]] const T* output() const { return used_ <= 1 ? parts_[0].output() : out_.data(); }

    /// Buffer for dLoss/dOutput, [batch, out_size]: the loss writes it, backward() consumes it.
    [[nodiscard]] T* output_grad() {
        return used_ <= 1 ? parts_[0].output_grad() : out_grad_.data();
    }

    /// Backward pass of the last forward pass: every part's gradients, then their sum in part
    /// order (grads is overwritten, not accumulated into).
    void backward(const T* params, T* grads) {
        if (used_ <= 1) {
            parts_[0].backward(params, grads);
            return;
        }
        constexpr std::size_t n = Net::param_count;
        if (grads_.size() < (used_ - 1) * n) grads_.assign((used_ - 1) * n, T(0));
        auto& pool = ctnn::detail::ThreadPool::instance();
        pool.run(used_, [&](unsigned t) {
            const auto [b0, b1] = part(t);
            std::copy(out_grad_.data() + b0 * Net::out_size, out_grad_.data() + b1 * Net::out_size,
                      parts_[t].output_grad());
            parts_[t].backward(params, t == 0 ? grads : grads_.data() + (t - 1) * n);
        });
        // grads += part 1 + part 2 + ..., each thread over its own range of parameters.
        if constexpr (n > 0) this->sum_gradients(grads, n);
    }

private:
    using State::part, State::out_, State::out_grad_, State::grads_, State::capacity_,
        State::batch_, State::used_;

    std::vector<Part> parts_ = std::vector<Part>(1); ///< part 0 also serves unsplit passes
};

} // namespace ctnn::cpu
