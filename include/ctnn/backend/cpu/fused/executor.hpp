// ctnn/backend/cpu/fused/executor.hpp — the fused CPU executor for chains of Dense layers.
//
// For a network that is a chain of Dense stages (each with its fused epilogue: bias, activations,
// Dropout) of moderate width, Model uses cpu::FusedExecutor instead of eigen::Executor: the same
// interface (reserve, forward, output, output_grad, backward), the same results within float
// rounding, but evaluated the way a "fully fused MLP" is:
//
// - The batch is cut into slices of `slice` samples, and the whole network runs on one slice
//   before the next, so a slice's activations stay in L1/L2. Every product is one register-blocked
//   micro-kernel (kernels.hpp; AVX-512, AVX2+FMA or portable 4-wide, simd.hpp): the accumulators
//   start at the bias, the epilogue (ReLU on registers, or any Epilogue::apply on the slice while
//   it is in cache) runs before the single store. No packing per product, no zeroing pass.
// - Weights live in the executor's layout while the model trains: W^T [in][out] for the forward
//   product and the weight gradient (then the bias), at the offsets of their gradient
//   accumulators, and W [out][in] padded for dX = dZ W. They are packed from the parameters
//   (PyTorch's layout) when Model calls parameters_changed() (init(), load(), a write access
//   through parameters()); update() applies the optimizer to them directly with the
//   accumulated gradients and an optimizer state in the same layout, and the parameters and
//   gradients are written in PyTorch's layout only when read (read_parameters(),
//   read_gradients()): no transposes in a training step.
// - Training keeps each stage's output Y (and its pre-activation Z when the epilogue is neither
//   empty nor ReLU) for the whole batch, in ctnn's layout [batch, width] padded to the register
//   width. Backward runs per slice, from the last stage down: dW^T += X^T dZ and db += sum dZ are
//   accumulated over the slices, dX = dZ W is computed with the previous stage's epilogue
//   derivative applied on the accumulators (ReLU: where Y > 0; other epilogues: the dual-number
//   derivative of Epilogue::apply at Z, as eigen::Executor). (Why dW^T and not dW in PyTorch's
//   layout: docs/cpu.md, "Measured decisions".)
// - Threads (threads.hpp): the batch is split into one contiguous part per thread; each thread
//   runs its part slice by slice, with its own gradient accumulators, summed once per step.
//   Results do not depend on timing: the split depends only on the batch and the thread count.
//   The threads' accumulators are summed in parallel (each thread a range, in thread order).
// - Batch-1 inference takes a fixed-size path: the sizes are template constants, the activations
//   live on the stack, one matrix-vector kernel per stage, no threads, no allocation.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../../../graph/lowering.hpp"
#include "../eigen/update.hpp"
#include "../kernels.hpp"
#include "../simd.hpp"
#include "../threads.hpp"
#include "blocks.hpp"
#include "layout.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#if CTNN_CPU_FUSED
namespace ctnn::cpu {

/// Fused slice-by-slice evaluation of a chain of Dense stages on the CPU (float), with the
/// interface of eigen::Executor. Isa is the SIMD register type (simd.hpp).
template <class Net, class Isa = simd::Native>
class FusedExecutor : detail::FusedLayout<Net, Isa> {
    static_assert(detail::all_dense<stages_of<Net>>::value,
                  "FusedExecutor runs chains of Dense stages only (see cpu::fused_eligible)");
    /// The compile-time layout: plan, packing, tiles (fused/layout.hpp).
    using Layout = detail::FusedLayout<Net, Isa>;

public:
    using Layout::from_native;
    using Layout::native_floats;
    using Layout::slice;
    using Layout::stage_count;
    using Layout::to_native;
    using Layout::width;
    using typename Layout::stages;

    /// Allocates workspace for batches of up to `batch` samples (no-op if already large enough).
    void reserve(std::size_t batch) {
        if (packed_.size() == 0) allocate_fixed();
        ensure_scratch();
        if (batch <= capacity_) return;
        act_ = detail::Buffer(act_per_sample * batch);
        out_ = detail::Buffer(out_size * batch + width);
        out_grad_ = detail::Buffer(out_size * batch + width);
        capacity_ = batch;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Marks the packed weights stale: the next forward() repacks them from the parameters.
    void parameters_changed() noexcept { packed_from_ = nullptr; }

    // ---- training in the executor's layout ------------------------------------------------------
    // Model trains a fused model without ever writing PyTorch's layout: backward(params, nullptr)
    // leaves the weight gradients in the accumulators (dW^T, the layout the kernels produce),
    // update() applies the optimizer to the packed W^T and bias with them, and the parameters
    // and gradients are written in PyTorch's layout only when read (read_parameters(),
    // read_gradients()). The optimizer's state is kept in the same layout (to_native()).

    /// Writes the weights the executor holds (current after update()) into params, in PyTorch's
    /// layout. Only meaningful once forward(), backward() or update() has packed them.
    void read_parameters(float* params) const { from_native(packed_.data(), params); }

    /// Writes the gradients of the last backward into grads (PyTorch's layout): the sum of the
    /// threads' accumulators (each element in thread order, so the result does not depend on
    /// timing), the threads each writing a range of the rows.
    void read_gradients(float* grads) const {
        std::array<const float*, max_threads> acc{};
        for (unsigned t = 0; t < grad_parts_; ++t) acc[t] = accumulator(t);
        if (grad_parts_ == 1) write_gradients(grads, acc.data(), 1, 0, 1);
        else
            pool().run(grad_parts_, [&](unsigned t) {
                write_gradients(grads, acc.data(), grad_parts_, t, grad_parts_);
            });
    }

    /// Replaces the gradients of the last backward with grads (PyTorch's layout), e.g. clipped:
    /// update() applies these. The padding of the executor's layout gets zero gradients.
    void set_gradients(const float* grads) {
        if (packed_.size() == 0) allocate_fixed();
        std::memset(grad_acc_.data(), 0, grad_floats * sizeof(float));
        to_native(grads, grad_acc_.data());
        grad_parts_ = 1;
    }

    /// One optimizer step on the executor's copy of the weights (packed from params first if
    /// they changed), with the gradients of the last backward(params, nullptr) and the state
    /// buffers m and v in the executor's layout (native_floats each, or null when O does not
    /// use them). Elementwise, O::update on every element, exactly as eigen::apply_update on
    /// the parameters' layout. The parameters are then newer here than in params: read them with
    /// read_parameters().
    template <class O, class Scalars>
    void update(const O& opt, const Scalars& sc, const float* params, float* m, float* v) {
        ensure_scratch(); // pack() splits by thread count
        if (packed_from_ != params) pack(params);
        float* g = grad_acc_.data();
        if (grad_parts_ > 1) {
            // Sum the threads' accumulators into thread 0's (in thread order, as read_gradients).
            const unsigned n = grad_parts_, parts = std::min(n, num_threads());
            const auto sum = [&](unsigned t) {
                const auto [i0, i1] = detail::part16(native_floats, t, parts);
                for (unsigned u = 1; u < n; ++u) {
                    const float* gu = accumulator(u);
                    for (std::size_t i = i0; i < i1; ++i) g[i] += gu[i];
                }
            };
            if (parts == 1) sum(0);
            else pool().run(parts, sum);
            grad_parts_ = 1;
        }
        eigen::apply_update(opt, sc, packed_.data(), g, m, v, native_floats);
        // W [out][pin] for the input gradients, from the updated W^T.
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (Layout::template pack_input_grad<I>(packed_.data()), ...);
        }
        (std::make_index_sequence<stage_count>{});
    }

    /// Runs the forward pass on `batch` samples x ([batch, in_size] row-major, kept alive by the
    /// caller until backward()). Returns the output, [batch, out_size] row-major. `buffers` (the
    /// model's non-trainable state) is unused: a chain of Dense stages has none.
    const float* forward(const float* params, const float* x, std::size_t batch, ElemCtx ctx,
                         float* buffers = nullptr) {
        (void)buffers;
        if (batch > capacity_) reserve(batch);
        batch_ = batch;
        input_ = x;
        ctx_ = ctx;
        if (packed_from_ != params) pack(params);
        if (batch == 1 && !ctx.training) {
            forward_one(x);
            kept_ = false;
            return out_.data();
        }
        ensure_scratch();
        run_forward(ctx.training);
        return out_.data();
    }

    /// Output of the last forward pass.
    [[nodiscard]] const float* output() const { return out_.data(); }

    /// Buffer for dLoss/dOutput, [batch, out_size]: the loss writes it, backward() consumes it.
    [[nodiscard]] float* output_grad() { return out_grad_.data(); }

    /// Backward pass of the last forward pass. Reads output_grad(), writes all parameter gradients
    /// (overwriting, not accumulating) into grads; with grads null, leaves them in the
    /// accumulators for update() and read_gradients().
    void backward(const float* params, float* grads) {
        if (packed_from_ != params) pack(params);
        // An inference forward kept no activations: evaluate again, keeping them (same values).
        if (!kept_) run_forward(true);
        const unsigned threads = thread_count(batch_);
        float* g0 = grad_acc_.data();
        pool().run(threads, [&](unsigned t) {
            float* g = t == 0 ? g0 : scratch_[t].data() + scratch_grad_offset;
            const auto [b0, b1] = part(t, threads);
            // The first slice writes the accumulators, the others add to them; a part without
            // samples (only a batch of 0 given to the executor directly) has no first slice.
            if (b0 == b1) std::memset(g, 0, grad_floats * sizeof(float));
            for (std::size_t s0 = b0; s0 < b1; s0 += slice)
                backward_slice(t, s0, std::min(slice, b1 - s0), g, s0 == b0);
        });
        grad_parts_ = threads;
        if (grads != nullptr) read_gradients(grads);
    }

private:
    using typename Layout::reg;
    using typename Layout::StagePlan;
    template <std::size_t I>
    using stage = typename Layout::template stage<I>;
    template <detail::EpiKind Kind, std::size_t Ld, bool Exact>
    using ForwardTile = typename Layout::template ForwardTile<Kind, Ld, Exact>;
    template <bool Relu, std::size_t Ld, std::size_t LdY>
    using InputGradTile = typename Layout::template InputGradTile<Relu, Ld, LdY>;
    template <std::size_t Ld>
    using AccumulateTile = typename Layout::template AccumulateTile<Ld>;
    using Layout::act_per_sample;
    using Layout::grad_floats;
    using Layout::in_size;
    using Layout::max_threads;
    using Layout::out_size;
    using Layout::packed_floats;
    using Layout::plan;
    using Layout::pool;
    using Layout::scratch_floats;
    using Layout::scratch_grad_offset;
    using Layout::slice_floats;
    using Layout::widest;
    using Layout::write_gradients;

    /// One scratch buffer per thread of the pool's current size.
    void ensure_scratch() {
        const unsigned threads = num_threads();
        if (scratch_.size() < threads) scratch_.resize(threads);
        for (std::size_t t = 0; t < scratch_.size(); ++t)
            if (scratch_[t].size() == 0) scratch_[t] = detail::Buffer(scratch_floats(t));
    }

    void allocate_fixed() {
        packed_ = detail::Buffer(packed_floats);
        grad_acc_ = detail::Buffer(grad_floats);
    }

    /// Threads for a batch: at most one per slice of samples (and at most max_threads).
    unsigned thread_count(std::size_t batch) const {
        const auto by_work = static_cast<unsigned>(std::max<std::size_t>(1, batch / slice));
        return std::min(
            {num_threads(), by_work, static_cast<unsigned>(scratch_.size()), max_threads});
    }
    /// Thread t's samples [b0, b1): equal contiguous parts (they depend on the batch and the
    /// thread count only, so results do not depend on timing).
    std::pair<std::size_t, std::size_t> part(unsigned t, unsigned threads) const {
        return {batch_ * t / threads, batch_ * (t + 1) / threads};
    }

    // ---- packing --------------------------------------------------------------------------------
    /// Packs the weights for the threads a batch of this size uses, each a range of every
    /// stage's output rows.
    void pack(const float* params) {
        if (packed_.size() == 0) allocate_fixed();
        const unsigned threads = thread_count(batch_);
        const auto run = [&](unsigned t) {
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (Layout::template pack_stage<I>(params, packed_.data(), t, threads), ...);
            }
            (std::make_index_sequence<stage_count>{});
        };
        if (threads == 1) run(0);
        else pool().run(threads, run);
        packed_from_ = params;
    }

    // ---- forward --------------------------------------------------------------------------------
    void run_forward(bool keep) {
        kept_ = keep;
        const unsigned threads = thread_count(batch_);
        pool().run(threads, [&](unsigned t) {
            const auto [b0, b1] = part(t, threads);
            for (std::size_t s0 = b0; s0 < b1; s0 += slice)
                forward_slice(t, s0, std::min(slice, b1 - s0), keep);
        });
    }

    /// The whole network on samples [s0, s0 + m) of the batch.
    void forward_slice(unsigned t, std::size_t s0, std::size_t m, bool keep) {
        float* scratch = scratch_[t].data();
        const float* x = input_ + s0 * in_size;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((x = forward_stage<I>(x, s0, m, keep, scratch)), ...);
        }
        (std::make_index_sequence<stage_count>{});
    }

    /// One stage on a slice: x holds m rows (stride: the model input's width for stage 0, the
    /// padded width after). Returns where the stage's output rows are.
    template <std::size_t I>
    const float* forward_stage(const float* x, std::size_t s0, std::size_t m, bool keep,
                               float* scratch) {
        using S = stage<I>;
        using Epi = typename S::epilogue;
        constexpr StagePlan s = plan[I];
        constexpr auto kind = detail::epi_kind<Epi>();
        constexpr bool last = I + 1 == stage_count;
        constexpr std::size_t ldx = I == 0 ? s.in : s.pin;
        constexpr std::size_t ldy = last ? s.out : s.pout;
        constexpr std::size_t nv = s.pout / width;
        const float* wt = packed_.data() + s.wt;
        const float* bias = packed_.data() + s.bias;
        // Where Y goes: the output (last stage), the kept activations (training), or the scratch
        // slice buffer that stage I - 1 did not use.
        float* y = last   ? out_.data() + s0 * s.out
                   : keep ? act_.data() + s.y * capacity_ + s0 * s.pout
                          : scratch + (I % 2) * slice_floats;
        if constexpr (kind == detail::EpiKind::general) {
            float* z =
                keep ? act_.data() + s.z * capacity_ + s0 * s.pout : scratch + 2 * slice_floats;
            ForwardTile<kind, s.pout, false> tile{bias, z, s.pout};
            detail::gemm<Isa, nv, ldx, 1, s.pout>(m, s.in, x, wt, tile);
            // The epilogue element by element, while Z is in cache (ctx.index as eigen::Executor).
            ElemCtx c = ctx_;
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t j = 0; j < s.out; ++j) {
                    c.index = (s0 + r) * s.out + j;
                    y[r * ldy + j] = Epi::apply(z[r * s.pout + j], c);
                }
        } else {
            ForwardTile<kind, ldy, last && s.out % width != 0> tile{bias, y, s.out};
            detail::gemm<Isa, nv, ldx, 1, s.pout>(m, s.in, x, wt, tile);
        }
        return y;
    }

    /// Batch-1 inference: stage by stage on stack buffers, one matrix-vector kernel each.
    void forward_one(const float* x) {
        alignas(64) float buf[3][widest];
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((x = forward_one_stage<I>(x, buf)), ...);
        }
        (std::make_index_sequence<stage_count>{});
    }
    template <std::size_t I>
    const float* forward_one_stage(const float* x, float (&buf)[3][widest]) {
        using Epi = typename stage<I>::epilogue;
        constexpr StagePlan s = plan[I];
        constexpr auto kind = detail::epi_kind<Epi>();
        constexpr bool last = I + 1 == stage_count;
        constexpr std::size_t nv = s.pout / width;
        const float* wt = packed_.data() + s.wt;
        const float* bias = packed_.data() + s.bias;
        float* y = last ? out_.data() : buf[I % 2];
        if constexpr (kind == detail::EpiKind::general) {
            float* z = buf[2];
            ForwardTile<kind, s.pout, false> tile{bias, z, s.pout};
            detail::gemv<Isa, nv, s.pout>(s.in, x, wt, tile);
            ElemCtx c = ctx_;
            for (std::size_t j = 0; j < s.out; ++j) {
                c.index = j;
                y[j] = Epi::apply(z[j], c);
            }
        } else {
            ForwardTile<kind, s.pout, last && s.out % width != 0> tile{bias, y, s.out};
            detail::gemv<Isa, nv, s.pout>(s.in, x, wt, tile);
        }
        return y;
    }

    // ---- backward -------------------------------------------------------------------------------
    /// Backward through the whole network for samples [s0, s0 + m), accumulating into g.
    void backward_slice(unsigned t, std::size_t s0, std::size_t m, float* g, bool first) {
        float* d = scratch_[t].data();
        float* other = d + slice_floats;
        // dZ of the last stage: dL/dY times the last epilogue's derivative, padded with zeros.
        {
            constexpr std::size_t L = stage_count - 1;
            using Epi = typename stage<L>::epilogue;
            constexpr StagePlan s = plan[L];
            constexpr auto kind = detail::epi_kind<Epi>();
            const float* gy = out_grad_.data() + s0 * s.out;
            const float* yo = out_.data() + s0 * s.out;
            const float* z = nullptr;
            if constexpr (kind == detail::EpiKind::general)
                z = act_.data() + s.z * capacity_ + s0 * s.pout;
            ElemCtx c = ctx_;
            for (std::size_t r = 0; r < m; ++r) {
                float* dr = d + r * s.pd;
                for (std::size_t j = 0; j < s.out; ++j) {
                    float v = gy[r * s.out + j];
                    if constexpr (kind == detail::EpiKind::relu) {
                        v = yo[r * s.out + j] <= 0.0f ? 0.0f : v; // NaN: v
                    } else if constexpr (kind == detail::EpiKind::general) {
                        c.index = (s0 + r) * s.out + j;
                        v *= Epi::apply(expr::Dual<float>{z[r * s.pout + j], 1.0f}, c).d;
                    }
                    dr[j] = v;
                }
                for (std::size_t j = s.out; j < s.pout; ++j) dr[j] = 0.0f;
            }
        }
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            (backward_stage<stage_count - 1 - J>(s0, m, g, first, d, other), ...);
        }
        (std::make_index_sequence<stage_count>{});
    }

    template <std::size_t I>
    void backward_stage(std::size_t s0, std::size_t m, float* g, bool first, float*& d,
                        float*& other) {
        constexpr StagePlan s = plan[I];
        // dX = dZ W, times the previous stage's epilogue derivative, becomes that stage's dZ. It
        // runs before the weight gradient, which reads the same previous output X: the epilogue
        // reads it row by row (a stream the prefetchers follow from memory), leaving it in cache
        // for dW's column-wise broadcasts, which stall on memory when they come first
        // (docs/cpu.md, "Measured decisions").
        if constexpr (I > 0) {
            using Prev = typename stage<I - 1>::epilogue;
            constexpr auto kind = detail::epi_kind<Prev>();
            constexpr StagePlan p = plan[I - 1];
            const float* wp = packed_.data() + s.wp;
            const float* yprev = act_.data() + p.y * capacity_ + s0 * p.pout; // kept: I - 1 < last
            InputGradTile<kind == detail::EpiKind::relu, p.pd, p.pout> tile{other, yprev};
            detail::gemm<Isa, p.pout / width, s.pd, 1, p.pout>(m, s.out, d, wp, tile);
            if constexpr (kind == detail::EpiKind::general) {
                const float* z = act_.data() + p.z * capacity_ + s0 * p.pout;
                ElemCtx c = ctx_;
                for (std::size_t r = 0; r < m; ++r)
                    for (std::size_t j = 0; j < p.out; ++j) {
                        c.index = (s0 + r) * p.out + j;
                        other[r * p.pd + j] *=
                            Prev::apply(expr::Dual<float>{z[r * p.pout + j], 1.0f}, c).d;
                    }
            }
        }
        // dW^T (in x pout) += X^T dZ: rows are input features, the reduction runs over samples.
        {
            constexpr std::size_t ldx = I == 0 ? s.in : s.pin;
            const float* x = nullptr;
            if constexpr (I == 0) x = input_ + s0 * s.in;
            else x = act_.data() + plan[I - 1].y * capacity_ + s0 * s.pin;
            AccumulateTile<s.pout> tile{g + s.gw, first};
            detail::gemm<Isa, s.pout / width, 1, ldx, s.pd>(s.in, m, x, d, tile);
        }
        // db += the column sums of dZ.
        if constexpr (stage<I>::anchor::layer::has_bias)
            detail::column_sums<Isa, s.pout / width, s.pd>(d, m, g + s.gb, first);
        if constexpr (I > 0) std::swap(d, other);
    }

    /// Thread t's gradient accumulator.
    [[nodiscard]] const float* accumulator(unsigned t) const {
        return t == 0 ? grad_acc_.data() : scratch_[t].data() + scratch_grad_offset;
    }

    detail::Buffer packed_, grad_acc_, act_, out_, out_grad_;
    std::vector<detail::Buffer> scratch_; ///< per thread (see scratch_floats)
    const float* packed_from_ = nullptr;  ///< the parameters packed_ was made from
    std::size_t capacity_ = 0, batch_ = 0;
    const float* input_ = nullptr;
    ElemCtx ctx_{};
    bool kept_ = false;       ///< the last forward kept the activations backward() needs
    unsigned grad_parts_ = 1; ///< threads whose accumulators hold the last backward's gradients
};

} // namespace ctnn::cpu
#endif // CTNN_CPU_FUSED
