// ctnn/backend/cpu/executor.hpp — the fused CPU executor for chains of Dense layers.
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
//   derivative of Epilogue::apply at Z, as eigen::Executor). (Accumulating dW [out][in] += dZ^T X
//   directly, in PyTorch's layout, was measured 10% slower on workload A's 784 x 128 layer, and
//   later no faster with 6 x 4 or 8 x 3 blocks: docs/cpu.md.)
// - Threads (threads.hpp): the batch is split into one contiguous part per thread; each thread
//   runs its part slice by slice, with its own gradient accumulators, summed once per step.
//   Results do not depend on timing: the split depends only on the batch and the thread count.
//   The threads' accumulators are summed in parallel (each thread a range, in thread order).
// - Batch-1 inference takes a fixed-size path: the sizes are template constants, the activations
//   live on the stack, one matrix-vector kernel per stage, no threads, no allocation.
#pragma once
#include "../../config.hpp"
#include "../../expr/context.hpp"
#include "../../expr/dual.hpp"
#include "../../graph/lowering.hpp"
#include "../../layers/activation.hpp"
#include "conv.hpp"
#include "eigen/executor.hpp"
#include "eigen/update.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "simd.hpp"
#include "threads.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace ctnn::cpu {

/// The widest layer (inputs or outputs) a network may have for the fused CPU executor: 1024 with
/// AVX-512, 256 with AVX2, 128 with the portable kernels (where each was measured to beat Eigen),
/// 0 when the fused kernels are not compiled in.
#if CTNN_CPU_FUSED
inline constexpr std::size_t fused_max_width = simd::Native::max_width;
#else
inline constexpr std::size_t fused_max_width = 0;
#endif

namespace detail {

template <class List>
struct all_dense;
template <class... S>
struct all_dense<type_list<S...>> {
    static constexpr bool value = sizeof...(S) > 0 &&
                                  ((S::kind == LayerKind::dense && S::in_size <= fused_max_width &&
                                    S::out_size <= fused_max_width) &&
                                   ...);
};

} // namespace detail

/// True when Model<Net, T> runs on cpu::FusedExecutor: T is float, every stage of Net is a Dense
/// layer with its epilogue (any elementwise layers: activations, Dropout), every width is at most
/// fused_max_width (which depends on the instruction set), and the fused kernels are compiled in
/// (GCC or Clang; not in a CUDA-backend translation unit). Any other model (convolutions, pooling,
/// Softmax layers, a leading activation, wider layers, double precision) runs on
/// general_executor_for<Net, T> (eigen::Executor, split by batch between threads: BatchParallel).
template <class Net, class T>
inline constexpr bool fused_eligible =
    CTNN_CPU_FUSED&& std::is_same_v<T, float>&& detail::all_dense<stages_of<Net>>::value;

/// Tells an executor that the parameters it reads may have changed (a no-op for executors that
/// do not cache anything derived from them).
template <class E>
void parameters_changed(E& exec) noexcept {
    if constexpr (requires { exec.parameters_changed(); }) exec.parameters_changed();
}

#if CTNN_CPU_FUSED

namespace detail {

/// How a stage's epilogue is applied: nothing to apply, ReLU on the accumulators, or the general
/// Epilogue::apply element by element on the slice (and its dual-number derivative).
enum class EpiKind { none, relu, general };

template <class Epi>
constexpr EpiKind epi_kind() {
    if constexpr (Epi::size == 0) return EpiKind::none;
    else if constexpr (epilogue_is_relu<Epi>) return EpiKind::relu;
    else return EpiKind::general;
}

/// A heap array of floats aligned to a cache line, copyable (a Model copies its executor).
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(std::size_t n) : data_(alloc(n)), size_(n) {
        if (n) std::memset(data_.get(), 0, n * sizeof(float));
    }
    Buffer(const Buffer& o) : data_(alloc(o.size_)), size_(o.size_) {
        if (size_) std::memcpy(data_.get(), o.data_.get(), size_ * sizeof(float));
    }
    Buffer& operator=(const Buffer& o) {
        if (this != &o) *this = Buffer(o);
        return *this;
    }
    Buffer(Buffer&&) noexcept = default;
    Buffer& operator=(Buffer&&) noexcept = default;
    ~Buffer() = default;
    [[nodiscard]] float* data() noexcept { return data_.get(); }
    [[nodiscard]] const float* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    struct Free {
        void operator()(float* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
    };
    static float* alloc(std::size_t n) {
        return n ? static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t{64}))
                 : nullptr;
    }
    std::unique_ptr<float[], Free> data_;
    std::size_t size_ = 0;
};

/// One width x width block of transpose_sum: rows [r, r + width), columns [c0, c0 + width).
template <class Isa, std::size_t Lds, std::size_t Ldd>
CTNN_FORCEINLINE void transpose_block(const float* const* src, unsigned n, float* dst,
                                      std::size_t r, std::size_t c0) {
    constexpr std::size_t w = Isa::width;
    typename Isa::reg t[w];
    CTNN_CPU_UNROLL
    for (std::size_t i = 0; i < w; ++i) t[i] = Isa::load(src[0] + (r + i) * Lds + c0);
    for (unsigned u = 1; u < n; ++u) CTNN_CPU_UNROLL
    for (std::size_t i = 0; i < w; ++i)
        t[i] = Isa::add(t[i], Isa::load(src[u] + (r + i) * Lds + c0));
    Isa::transpose(t);
    CTNN_CPU_UNROLL
    for (std::size_t i = 0; i < w; ++i) Isa::store(dst + (c0 + i) * Ldd + r, t[i]);
}

/// dst[c * Ldd + r] = sum over the n sources of src[r * Lds + c], for r in [r_begin, r_end) and
/// c < Cols (the sources added in order). Blocks of width x width in registers where the
/// instruction set has a transpose (AVX-512: 16 x 16), the rest element by element in blocks of
/// 16 rows (16 read streams, contiguous writes). The register blocks go column band by column
/// band, so the stores advance along `width` rows of dst at a time (streams the prefetchers
/// follow), not across all of dst's Cols rows for every band of rows: writing workload A's
/// 784 x 128 weight gradient into PyTorch's layout (dst cold in cache, 128 rows 3136 bytes apart)
/// and repacking its W^T that way made A's training step 2.6% and 1.6% faster (interleaved runs).
template <class Isa, std::size_t Lds, std::size_t Ldd, std::size_t Cols>
void transpose_sum(const float* const* src, unsigned n, float* dst, std::size_t r_begin,
                   std::size_t r_end) {
    // Element by element: rows [r0, r0 + nr) of columns [c0, Cols).
    const auto scalar = [&](std::size_t r0, std::size_t nr, std::size_t c0) {
        for (std::size_t c = c0; c < Cols; ++c)
            for (std::size_t i = 0; i < nr; ++i) {
                float v = src[0][(r0 + i) * Lds + c];
                for (unsigned u = 1; u < n; ++u) v += src[u][(r0 + i) * Lds + c];
                dst[c * Ldd + r0 + i] = v;
            }
    };
    std::size_t r0 = r_begin;
    if constexpr (requires(typename Isa::reg(&t)[Isa::width]) { Isa::transpose(t); }) {
        constexpr std::size_t w = Isa::width;
        constexpr std::size_t full = Cols / w * w;                        // columns in whole blocks
        const std::size_t r_blocks = r_begin + (r_end - r_begin) / w * w; // rows in whole blocks
        for (std::size_t c0 = 0; c0 < full; c0 += w)
            for (std::size_t r = r_begin; r < r_blocks; r += w)
                transpose_block<Isa, Lds, Ldd>(src, n, dst, r, c0);
        for (; r0 < r_blocks; r0 += w) scalar(r0, w, full); // columns [full, Cols)
    }
    for (; r0 < r_end; r0 += 16) scalar(r0, std::min<std::size_t>(16, r_end - r0), 0);
}

/// sum[c] += (or, with overwrite, =) the sum over rows r < m of d[r * Ld + c], for
/// c < NV * width. The registers of up
/// to 8 columns at a time, each with P row phases, give at least 8 independent addition chains:
/// one chain per column register (the plain loop) is bound by the latency of the addition, which
/// made the bias gradients of workload B's 64-wide layers cost a sixth of its backward pass.
template <class Isa, std::size_t NV, std::size_t Ld, std::size_t V0 = 0>
void column_sums(const float* d, std::size_t m, float* sum, bool overwrite) {
    if constexpr (V0 < NV) {
        using reg = typename Isa::reg;
        constexpr std::size_t w = Isa::width;
        constexpr std::size_t G = std::min<std::size_t>(8, NV - V0); // column registers
        constexpr std::size_t P = std::max<std::size_t>(1, 8 / G);   // row phases
        reg acc[P][G];
        CTNN_CPU_UNROLL
        for (std::size_t p = 0; p < P; ++p) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v) acc[p][v] = Isa::zero();
        const float* col = d + V0 * w;
        std::size_t r = 0;
        for (; r + P <= m; r += P) CTNN_CPU_UNROLL
        for (std::size_t p = 0; p < P; ++p) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v)
            acc[p][v] = Isa::add(acc[p][v], Isa::load(col + (r + p) * Ld + v * w));
        for (; r < m; ++r) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v)
            acc[0][v] = Isa::add(acc[0][v], Isa::load(col + r * Ld + v * w));
        CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v) {
            reg t = overwrite ? Isa::zero() : Isa::load(sum + (V0 + v) * w);
            CTNN_CPU_UNROLL
            for (std::size_t p = 0; p < P; ++p) t = Isa::add(t, acc[p][v]);
            Isa::store(sum + (V0 + v) * w, t);
        }
        column_sums<Isa, NV, Ld, V0 + G>(d, m, sum, overwrite);
    }
}

/// Part t of `parts` of [0, n), cut at multiples of 16.
inline std::pair<std::size_t, std::size_t> part16(std::size_t n, unsigned t, unsigned parts) {
    const auto at = [&](unsigned i) { return std::min(n, (n * i / parts + 15) / 16 * 16); };
    return {t == 0 ? 0 : at(t), t + 1 == parts ? n : at(t + 1)};
}

} // namespace detail

/// Fused slice-by-slice evaluation of a chain of Dense stages on the CPU (float), with the
/// interface of eigen::Executor. Isa is the SIMD register type (simd.hpp).
template <class Net, class Isa = simd::Native>
class FusedExecutor {
    static_assert(detail::all_dense<stages_of<Net>>::value,
                  "FusedExecutor runs chains of Dense stages only (see cpu::fused_eligible)");

public:
    using stages = stages_of<Net>;
    static constexpr std::size_t stage_count = stages::size;
    static constexpr std::size_t width = Isa::width;

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

    /// Converts a buffer in the parameters' layout (PyTorch's, param_count floats) into the
    /// executor's layout (native_floats: every stage's W^T [in][pout], then its bias padded to
    /// pout). `dst` must start zeroed: the padding is not written.
    static void to_native(const float* src, float* dst) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (pack_native<I>(src, dst, 0, 1), ...); }
        (std::make_index_sequence<stage_count>{});
    }
    /// The reverse of to_native: dst (PyTorch's layout) from src (the executor's).
    static void from_native(const float* src, float* dst) { write_gradients(dst, &src, 1, 0, 1); }

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
            (pack_input_grad<I>(packed_.data()), ...);
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
    // ---- compile-time plan ----------------------------------------------------------------------
    template <class List>
    struct to_tuple;
    template <class... S>
    struct to_tuple<type_list<S...>> {
        using type = std::tuple<S...>;
    };
    template <std::size_t I>
    using stage = std::tuple_element_t<I, typename to_tuple<stages>::type>;

    static constexpr std::size_t pad(std::size_t n) { return (n + width - 1) / width * width; }
    /// The row stride of a backward dZ slice of padded width n: n, plus one register when the rows
    /// would be a multiple of 512 bytes apart. The weight gradient reads dZ by register columns
    /// down the rows; at such a stride a column of a 96-row slice falls on a quarter of the L1
    /// sets and evicts itself (workload A's 128-wide dZ: its weight gradient ran ~10% faster
    /// with the padded stride).
    static constexpr std::size_t dz_stride(std::size_t n) {
        return n * sizeof(float) % 512 == 0 ? n + width : n;
    }
    static constexpr std::size_t in_size = stage<0>::in_size;
    static constexpr std::size_t out_size = stage<stage_count - 1>::out_size;

    /// Per-stage offsets, computed once at compile time.
    struct StagePlan {
        std::size_t in = 0, out = 0, pin = 0, pout = 0; ///< widths, padded widths
        std::size_t pd = 0; ///< row stride of dZ in the backward scratch (see dz_stride)
        std::size_t wt = 0, bias = 0, wp = 0; ///< packed weight offsets
        std::size_t gw = 0, gb = 0;           ///< gradient accumulator offsets
        std::size_t y = 0, z = 0;             ///< activation offsets (per sample)
        bool keep_y = false, keep_z = false;
    };
    static constexpr auto make_plan() {
        std::array<StagePlan, stage_count> p{};
        std::size_t packed = 0, grad = 0, act = 0, widest = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    using S = stage<I>;
                    StagePlan& s = p[I];
                    s.in = S::in_size;
                    s.out = S::out_size;
                    s.pin = pad(s.in);
                    s.pout = pad(s.out);
                    s.pd = dz_stride(s.pout);
                    // The weights in the executor's layout (W^T, then the padded bias) sit at
                    // the offsets of their gradient accumulators: one flat elementwise update.
                    s.gw = s.wt = grad;
                    grad += s.in * s.pout;
                    s.gb = s.bias = grad;
                    grad += s.pout;
                    s.wp = packed; // relative to the end of that region
                    if (I > 0) packed += s.out * s.pin;
                    constexpr auto kind = detail::epi_kind<typename S::epilogue>();
                    s.keep_y = I + 1 < stage_count; // the last stage's Y is the output
                    s.keep_z = kind == detail::EpiKind::general;
                    s.y = act;
                    act += s.keep_y ? s.pout : 0;
                    s.z = act;
                    act += s.keep_z ? s.pout : 0;
                    widest = std::max({widest, s.pin, s.pout});
                }(),
                ...);
        }
        (std::make_index_sequence<stage_count>{});
        for (StagePlan& s : p) s.wp += grad;
        return std::tuple{p, grad + packed, grad, act, widest};
    }
    static constexpr auto plan = std::get<0>(make_plan());
    static constexpr std::size_t packed_floats = std::get<1>(make_plan());
    static constexpr std::size_t grad_floats = std::get<2>(make_plan());
    static constexpr std::size_t act_per_sample = std::get<3>(make_plan());
    static constexpr std::size_t widest = std::get<4>(make_plan());

public:
    /// Floats of the executor's layout of the parameters (see to_native).
    static constexpr std::size_t native_floats = grad_floats;

    /// Samples per slice, the unit of fused evaluation: a multiple of every micro-kernel's row
    /// count (no remainder blocks inside a slice); 192 keeps a slice of a narrow network (widths
    /// <= 256: 192 KiB per activation buffer at most) in L2, wider networks use 96.
    static constexpr std::size_t slice = widest <= 256 ? 192 : 96;

private:
    /// Per-thread scratch: two slice buffers (activations in inference, dZ in backward), a slice
    /// buffer for pre-activations, and (threads > 0) a gradient accumulator.
    static constexpr std::size_t slice_floats = slice * [] {
        std::size_t w = widest;
        for (const StagePlan& s : plan) w = std::max(w, s.pd);
        return w;
    }();
    static constexpr std::size_t scratch_grad_offset = 3 * slice_floats;
    static std::size_t scratch_floats(std::size_t t) {
        return scratch_grad_offset + (t == 0 ? 0 : grad_floats);
    }

    static ctnn::detail::ThreadPool& pool() { return ctnn::detail::ThreadPool::instance(); }
    /// The most threads one pass uses (each holds a gradient accumulator of the whole network).
    static constexpr unsigned max_threads = 64;

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
                (pack_stage<I>(params, packed_.data(), t, threads), ...);
            }
            (std::make_index_sequence<stage_count>{});
        };
        if (threads == 1) run(0);
        else pool().run(threads, run);
        packed_from_ = params;
    }
    template <std::size_t I>
    void pack_stage(const float* params, float* pk, unsigned t, unsigned parts) {
        pack_native<I>(params, pk, t, parts);
        if constexpr (I > 0) {
            using A = typename stage<I>::anchor;
            constexpr StagePlan s = plan[I];
            const float* w = params + A::param_offset; // [out][in]
            const auto [o0, o1] = detail::part16(s.out, t, parts);
            float* wp = pk + s.wp; // [out][pin]
            for (std::size_t o = o0; o < o1; ++o)
                std::memcpy(wp + o * s.pin, w + o * s.in, s.in * sizeof(float));
        }
    }
    /// Stage I's W^T [in][pout] and bias from params (PyTorch's layout): part t of the rows.
    template <std::size_t I>
    static void pack_native(const float* params, float* pk, unsigned t, unsigned parts) {
        using A = typename stage<I>::anchor;
        constexpr StagePlan s = plan[I];
        const float* w = params + A::param_offset; // [out][in]
        const auto [o0, o1] = detail::part16(s.out, t, parts);
        detail::transpose_sum<Isa, s.in, s.pout, s.in>(&w, 1, pk + s.wt, o0, o1); // W^T [in][pout]
        if (t == 0 && A::layer::has_bias)
            std::memcpy(pk + s.bias, w + s.in * s.out, s.out * sizeof(float));
    }
    /// Stage I's W [out][pin] (the input gradient's operand) from its packed W^T.
    template <std::size_t I>
    static void pack_input_grad(float* pk) {
        if constexpr (I > 0) {
            constexpr StagePlan s = plan[I];
            const float* wt = pk + s.wt;
            detail::transpose_sum<Isa, s.pout, s.pin, s.out>(&wt, 1, pk + s.wp, 0, s.in);
        }
    }

    // ---- tiles: how a micro-kernel block starts and ends ---------------------------------------
    using reg = typename Isa::reg;

    /// Stores a register at column c of a row holding `n` values (a partial store at the end of
    /// an unpadded row).
    template <bool Exact>
    static CTNN_FORCEINLINE void store_col(float* row, std::size_t c, std::size_t n, reg v) {
        if constexpr (Exact) {
            if (c + width <= n) Isa::store(row + c, v);
            else Isa::store_n(row + c, v, n - c);
        } else {
            Isa::store(row + c, v);
        }
    }

    /// Forward: accumulators start at the bias; the epilogue (none, or ReLU) is applied before the
    /// store; a general epilogue stores Z and is applied afterwards on the slice.
    template <detail::EpiKind Kind, std::size_t Ld, bool Exact>
    struct ForwardTile {
        const float* bias;
        float* dst; ///< Y (none, ReLU) or Z (general), Ld floats per row
        std::size_t n;
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                const reg b = Isa::load(bias + (v0 + v) * width);
                CTNN_CPU_UNROLL
                for (std::size_t r = 0; r < R; ++r) acc[r][v] = b;
            }
        }
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                reg y = acc[r][v];
                if constexpr (Kind == detail::EpiKind::relu) y = Isa::relu(y);
                store_col<Exact>(dst + (r0 + r) * Ld, (v0 + v) * width, n, y);
            }
        }
    };

    /// Input gradient dX = dZ W: accumulators start at zero; the previous stage's ReLU derivative
    /// (0 where its output Y <= 0) is applied before the store.
    template <bool Relu, std::size_t Ld, std::size_t LdY>
    struct InputGradTile {
        float* dst;     ///< Ld floats per row
        const float* y; ///< previous stage's output (ReLU only), LdY floats per row
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t, std::size_t) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = Isa::zero();
        }
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                const std::size_t c = (v0 + v) * width;
                reg d = acc[r][v];
                if constexpr (Relu) d = Isa::relu_backward(d, Isa::load(y + (r0 + r) * LdY + c));
                Isa::store(dst + (r0 + r) * Ld + c, d);
            }
        }
    };

    /// Weight gradient dW^T += X^T dZ (or, on a thread's first slice, dW^T = X^T dZ: no zeroing
    /// pass). The accumulators start at zero and the running sums are added at the end, so a
    /// block's first multiply-adds do not wait for its sums to come from L2 (dW^T of workload A
    /// is 400 KB): measured 3-6% faster on A's first layer than starting from the sums.
    template <std::size_t Ld>
    struct AccumulateTile {
        float* c;
        bool overwrite;
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t, std::size_t) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = Isa::zero();
        }
        template <std::size_t R, std::size_t V>
        CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
            CTNN_CPU_UNROLL
            for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
            for (std::size_t v = 0; v < V; ++v) {
                float* at = c + (r0 + r) * Ld + (v0 + v) * width;
                Isa::store(at, overwrite ? acc[r][v] : Isa::add(acc[r][v], Isa::load(at)));
            }
        }
    };

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
        // for dW's column-wise broadcasts (which stalled on memory when they came first: the
        // 64 x 64 weight gradients of workload B ran at 70% of the forward product's speed).
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

    /// grads (PyTorch layout: weight [out][in], then bias [out]) from the sum of the n threads'
    /// accumulators: part t of `parts` of every stage's input rows (and, part 0, the biases).
    static void write_gradients(float* grads, const float* const* acc, unsigned n, unsigned t,
                                unsigned parts) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (
                [&] {
                    using A = typename stage<I>::anchor;
                    constexpr StagePlan s = plan[I];
                    float* gw = grads + A::param_offset;
                    std::array<const float*, max_threads> src{};
                    for (unsigned u = 0; u < n; ++u) src[u] = acc[u] + s.gw;
                    const auto [k0, k1] = detail::part16(s.in, t, parts);
                    detail::transpose_sum<Isa, s.pout, s.in, s.out>(src.data(), n, gw, k0, k1);
                    if constexpr (A::layer::has_bias) {
                        if (t == 0)
                            for (std::size_t o = 0; o < s.out; ++o) {
                                float v = acc[0][s.gb + o];
                                for (unsigned u = 1; u < n; ++u) v += acc[u][s.gb + o];
                                gw[s.in * s.out + o] = v;
                            }
                    }
                }(),
                ...);
        }
        (std::make_index_sequence<stage_count>{});
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

#endif // CTNN_CPU_FUSED

/// The executor of a model the fused executor does not take: BatchParallel (eigen::Executor on
/// ctnn's threads, one batch part each) unless a stage needs the whole batch (BatchNorm).
template <class Net, class T>
using general_executor_for =
    std::conditional_t<batch_splittable<Net>, BatchParallel<Net, T>, eigen::Executor<Net, T>>;

/// The executor Model<Net, T> runs on the CPU: FusedExecutor when fused_eligible<Net, T>,
/// otherwise general_executor_for<Net, T>.
#if CTNN_CPU_FUSED
template <class Net, class T>
using executor_for =
    std::conditional_t<fused_eligible<Net, T>, FusedExecutor<Net>, general_executor_for<Net, T>>;
#else
template <class Net, class T>
using executor_for = general_executor_for<Net, T>;
#endif

} // namespace ctnn::cpu
