// ctnn/model/static_model.hpp — StaticModel: a model's inference with no heap, no gradients and
// no exceptions, for embedded targets.
//
// StaticModel<Net, MaxBatch, Parameters> runs Net's forward pass (inference mode) on the CPU:
// - Its parameters live where `Parameters` says: in the object (OwnedParameters, a
//   std::array), in user memory (BorrowedParameters: a span of the model's flat parameters, not
//   copied), or in a checkpoint compiled into the program (EmbeddedParameters<W>, a header made
//   by the CMake function ctnn_embed_checkpoint: the constant arrays stay in .rodata or flash,
//   their names and shapes are checked against Net at compile time).
// - Its activations live in a fixed arena inside the object, sized from the type for MaxBatch
//   samples (two buffers of the widest stage output); the last stage writes the caller's output.
//   After construction nothing is allocated: an object can be a global in .bss.
// - Weights are read in PyTorch's layout (W [out][in]), where they are: one dot-product kernel per
//   instruction set, its extents runtime values (backend/cpu/matvec.hpp), so that a model adds
//   little code beyond its weights (docs/benchmarks.md, "Static inference").
// - Error policy (no exceptions, no RTTI): what the type fixes is checked at compile time
//   (static_assert: the model's stages, the checkpoint's names and shapes); the one-sample calls
//   take fixed-extent spans and cannot fail; predict_batch, whose batch is a runtime value,
//   returns a Status and computes nothing unless it is Status::ok.
//
// Stages it runs: Dense (with or without bias, one sample per row), Softmax and LogSoftmax, and
// the elementwise layers (activations, Dropout as the identity) fused after them. Flatten and
// Reshape cost nothing. Other stages (convolutions, normalization, recurrent layers) are refused
// by a static_assert: Model runs them.
//
// Results equal Model::predict's within float rounding (the dot products sum in another order).
// Thread rule: one call at a time per object (predict writes the arena).
#pragma once
#include "../backend/cpu/matvec.hpp"
#include "../config.hpp"
#include "../expr/context.hpp"
#include "../graph/lowering.hpp"
#include "../graph/sequential.hpp"
#include "../io/embedded.hpp"
#include "../layers/softmax.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>

namespace ctnn {

/// What StaticModel::predict_batch returns: ok, or why it computed nothing.
enum class Status : unsigned char {
    ok = 0,
    empty_batch,     ///< x holds no sample
    batch_too_large, ///< more samples than the model's MaxBatch
    size_mismatch,   ///< x.size() is not a multiple of in_size, or y.size() is not batch * out_size
};

/// A one-line description of s.
constexpr const char* status_message(Status s) noexcept {
    switch (s) {
    case Status::ok: return "ok";
    case Status::empty_batch: return "the input holds no sample";
    case Status::batch_too_large: return "more samples than the model's MaxBatch";
    case Status::size_mismatch:
        return "the input is not a whole number of samples, or the output's size is not "
               "batch * out_size";
    }
    return "unknown status";
}

/// Where a StaticModel's parameters live: in the object (std::array<float, param_count>).
struct OwnedParameters {};
/// In user memory, in the model's flat order (Model::parameters()): read in place, never
/// copied; the memory must outlive the StaticModel.
struct BorrowedParameters {};
/// In a checkpoint compiled into the program (ctnn_embed_checkpoint, io/embedded.hpp): read in
/// place, never copied; names and shapes checked against the model at compile time.
template <class Checkpoint>
struct EmbeddedParameters {
    static_assert(EmbeddedCheckpoint<Checkpoint>,
                  "EmbeddedParameters<W>: W must be a checkpoint struct made by "
                  "ctnn_embed_checkpoint (tensor_count, tensors, data)");
};

namespace detail {

template <class S>
inline constexpr bool static_stage =
    (S::kind == LayerKind::dense && !per_step_dense<S>) || S::kind == LayerKind::rowwise
    || S::kind == LayerKind::elementwise;
template <class List>
struct static_stages;
template <class... S>
struct static_stages<type_list<S...>> {
    static constexpr bool value = (static_stage<S> && ...);
    static constexpr std::size_t widest = std::max({std::size_t{1}, S::out_size...});
};

template <class P>
struct embedded_checkpoint_of {
    using type = void;
};
template <class W>
struct embedded_checkpoint_of<EmbeddedParameters<W>> {
    using type = W;
};

/// Whether `name` is "<path>.<suffix>" for node n's path ("1.0.weight" for {1, 0}, "weight").
/// Stops at the first difference, so never reads past name's terminator.
constexpr bool tensor_name_is(const char* name, const NodeTensors& n, const char* suffix) {
    std::size_t p = 0;
    for (std::size_t k = 0; k < n.path_size; ++k) {
        if (k > 0 && name[p++] != '.') return false;
        char digits[24]{};
        std::size_t nd = 0;
        std::size_t v = n.path[k];
        do {
            digits[nd++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (nd > 0)
            if (name[p++] != digits[--nd]) return false;
    }
    if (name[p++] != '.') return false;
    for (const char* s = suffix; *s != '\0'; ++s)
        if (name[p++] != *s) return false;
    return name[p] == '\0';
}

inline constexpr std::size_t no_tensor = static_cast<std::size_t>(-1);

/// The index in W::tensors of node n's tensor `suffix`, or no_tensor.
template <class W>
constexpr std::size_t find_embedded(const NodeTensors& n, const char* suffix) {
    for (std::size_t i = 0; i < W::tensor_count; ++i)
        if (tensor_name_is(W::tensors[i].name, n, suffix)) return i;
    return no_tensor;
}

/// How W matches Net: the first model tensor (parameters, then buffers, in Model's order)
/// missing from W, the first present with another shape, and the first tensor of W that is not
/// the model's (each no_tensor when there is none).
struct EmbeddedMatch {
    std::size_t missing = no_tensor;
    std::size_t wrong_shape = no_tensor;
    std::size_t extra = no_tensor;
};

template <class Net, class W>
constexpr EmbeddedMatch match_embedded() {
    EmbeddedMatch m;
    std::array<bool, W::tensor_count> used{};
    std::size_t t = 0;
    const auto check = [&](const NodeTensors& n, const char* name, std::size_t rank,
                           const std::array<std::size_t, 4>& dims) {
        const std::size_t i = find_embedded<W>(n, name);
        if (i == no_tensor) {
            if (m.missing == no_tensor) m.missing = t;
        } else {
            used[i] = true;
            bool same = W::tensors[i].rank == rank;
            for (std::size_t d = 0; same && d < rank; ++d) same = W::tensors[i].dims[d] == dims[d];
            if (!same && m.wrong_shape == no_tensor) m.wrong_shape = t;
        }
        ++t;
    };
    for (const NodeTensors& n : node_tensors_of<Net>)
        for (std::size_t k = 0; k < n.param_specs; ++k)
            check(n, n.params[k].name, n.params[k].rank, n.params[k].dims);
    for (const NodeTensors& n : node_tensors_of<Net>)
        for (std::size_t k = 0; k < n.buffer_specs; ++k)
            check(n, n.buffers[k].name, n.buffers[k].rank, n.buffers[k].dims);
    for (std::size_t i = 0; i < W::tensor_count; ++i)
        if (!used[i] && m.extra == no_tensor) m.extra = i;
    return m;
}

/// match_embedded for a checkpoint W; nothing to match without one (W void).
template <class Net, class W>
constexpr EmbeddedMatch match_for() {
    if constexpr (std::is_void_v<W>) return {};
    else return match_embedded<Net, W>();
}

/// Where the K-th parameter tensor of layer node A starts: in the model's flat parameters
/// (Embedded = void), or in W::data.
template <class A, std::size_t K, class W>
constexpr std::size_t static_param_offset() {
    if constexpr (std::is_void_v<W>) {
        std::size_t o = A::param_offset;
        for (std::size_t k = 0; k < K; ++k) o += A::bound::params[k].size();
        return o;
    } else {
        const NodeTensors n = node_tensors(type_list<A>{})[0];
        return W::tensors[find_embedded<W>(n, A::bound::params[K].name)].offset;
    }
}

} // namespace detail

/// Inference of Net for up to MaxBatch samples per call, with no heap allocation after
/// construction, no gradients and no exceptions; parameters in the object, in user memory or in
/// a compiled-in checkpoint (Parameters; see the file comment).
template <class Net, std::size_t MaxBatch = 1, class Parameters = OwnedParameters>
class StaticModel {
    static_assert(Network<Net>, "StaticModel<Net, ...>: Net must be a ctnn network type, "
                                "e.g. Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>");
    static_assert(MaxBatch >= 1, "StaticModel: MaxBatch must be at least 1");
    using stages = stages_of<Net>;
    static_assert(detail::static_stages<stages>::value,
                  "StaticModel runs Dense (one sample per row), Softmax, LogSoftmax, Flatten, "
                  "Reshape and elementwise layers; use Model for convolutions, pooling, "
                  "normalization, joins and recurrent layers");
    static constexpr bool owned = std::is_same_v<Parameters, OwnedParameters>;
    static constexpr bool borrowed = std::is_same_v<Parameters, BorrowedParameters>;
    using Checkpoint = typename detail::embedded_checkpoint_of<Parameters>::type;
    static constexpr bool embedded = !std::is_void_v<Checkpoint>;
    static_assert(owned || borrowed || embedded,
                  "StaticModel's Parameters: OwnedParameters, BorrowedParameters or "
                  "EmbeddedParameters<W>");

public:
    using network = Net;
    static constexpr std::size_t in_size = Net::in_size;
    static constexpr std::size_t out_size = Net::out_size;
    static constexpr std::size_t param_count = Net::param_count;
    static constexpr std::size_t max_batch = MaxBatch;

    /// Owned parameters, all zero until written through parameters().
    StaticModel() noexcept requires owned = default;
    /// Owned parameters, copied from params (the model's flat order, as Model::parameters()).
    explicit StaticModel(std::span<const float, param_count> params) noexcept requires owned {
        std::copy(params.begin(), params.end(), params_.begin());
    }
    /// Borrowed parameters: reads params in place from now on (not copied).
    explicit StaticModel(std::span<const float, param_count> params) noexcept requires borrowed
        : params_(params.data()) {}
    /// Parameters of the compiled-in checkpoint.
    StaticModel() noexcept requires embedded = default;

    /// The owned parameters, for writing (the model's flat order).
    [[nodiscard]] std::span<float, param_count> parameters() noexcept requires owned {
        return params_;
    }

    /// One sample: y = Net(x). Cannot fail. x and y must not overlap.
    void predict(std::span<const float, in_size> x, std::span<float, out_size> y) noexcept {
        run(x.data(), 1, y.data());
    }
    /// One sample, the output returned by value.
    [[nodiscard]] std::array<float, out_size> predict(std::span<const float, in_size> x) noexcept {
        std::array<float, out_size> y;
        run(x.data(), 1, y.data());
        return y;
    }
    /// x.size() / in_size samples, 1 to MaxBatch of them, into y ([batch, out_size] row-major).
    /// Computes nothing and says why unless it returns Status::ok. x and y must not overlap.
    [[nodiscard]] Status predict_batch(std::span<const float> x, std::span<float> y) noexcept {
        if (x.empty()) return Status::empty_batch;
        if (x.size() % in_size != 0) return Status::size_mismatch;
        const std::size_t batch = x.size() / in_size;
        if (batch > MaxBatch) return Status::batch_too_large;
        if (y.size() != batch * out_size) return Status::size_mismatch;
        run(x.data(), batch, y.data());
        return Status::ok;
    }

private:
    static constexpr std::size_t stage_count = stages::size;
    static constexpr std::size_t widest = detail::static_stages<stages>::widest;

    static constexpr detail::EmbeddedMatch match = detail::match_for<Net, Checkpoint>();
    static_assert(match.missing == detail::no_tensor,
                  "EmbeddedParameters<W>: a parameter of the model is missing from the embedded "
                  "checkpoint W (is it another model's? see W::tensors)");
    static_assert(match.wrong_shape == detail::no_tensor,
                  "EmbeddedParameters<W>: a tensor of the embedded checkpoint W has another "
                  "shape than the model's parameter of that name");
    static_assert(match.extra == detail::no_tensor,
                  "EmbeddedParameters<W>: the embedded checkpoint W has a tensor the model does "
                  "not have (is it another model's? see W::tensors)");

    /// The K-th parameter tensor of layer node A.
    template <class A, std::size_t K>
    const float* param() const noexcept {
        constexpr std::size_t o = detail::static_param_offset<A, K, Checkpoint>();
        if constexpr (owned) return params_.data() + o;
        else if constexpr (borrowed) return params_ + o;
        else return Checkpoint::data + o;
    }

    void run(const float* x, std::size_t batch, float* y) noexcept {
        [&]<std::size_t... I>(std::index_sequence<I...>) { ((x = stage<I>(x, batch, y)), ...); }
        (std::make_index_sequence<stage_count>{});
    }

    /// Stage I on `batch` rows of x; returns where its output is (y for the last stage).
    template <std::size_t I>
    const float* stage(const float* x, std::size_t batch, float* y) noexcept {
        using S = detail::stage_at<stages, I>;
        using Epi = typename S::epilogue;
        constexpr std::size_t n_in = S::in_size, n_out = S::out_size;
        float* out = I + 1 == stage_count ? y : arena_.data() + (I % 2) * MaxBatch * widest;
        if constexpr (S::kind == LayerKind::dense) {
            using A = typename S::anchor;
            const float* w = param<A, 0>();
            const float* b = nullptr;
            if constexpr (A::layer::has_bias) b = param<A, 1>();
            // Two samples per pass over the weights (each weight load serves both) for rows of
            // 128 inputs or more; below that the blocks' lane sums outweigh the saved loads
            // (B's 32-64 wide layers: 8.1 -> 10.7 ms with it; docs/benchmarks.md). A model for
            // one sample at a time has the one-sample kernel only (code size).
            std::size_t r = 0;
            if constexpr (MaxBatch > 1 && n_in >= 128)
                for (; r + 2 <= batch; r += 2)
                    cpu::matvec<2>(n_in, n_out, w, b, x + r * n_in, n_in, out + r * n_out, n_out);
            for (; r < batch; ++r)
                cpu::matvec<1>(n_in, n_out, w, b, x + r * n_in, n_in, out + r * n_out, n_out);
        } else if constexpr (S::kind == LayerKind::rowwise) {
            for (std::size_t r = 0; r < batch; ++r)
                detail::softmax_row<S::anchor::layer::log>(x + r * n_in, out + r * n_out, n_in);
        } else {
            std::memcpy(out, x, batch * n_out * sizeof(float)); // an elementwise-only stage
        }
        if constexpr (Epi::size > 0) {
            ElemCtx ctx{};
            for (std::size_t k = 0; k < batch * n_out; ++k) {
                ctx.index = k;
                out[k] = Epi::apply(out[k], ctx);
            }
        }
        return out;
    }

    using Storage = std::conditional_t<owned, std::array<float, param_count>,
                                       std::conditional_t<borrowed, const float*, char>>;
    [[no_unique_address]] Storage params_{};
    /// Two ping-pong buffers of MaxBatch rows of the widest stage output.
    alignas(64) std::array<float, 2 * MaxBatch * widest> arena_{};
};

} // namespace ctnn
