// ctnn/train/train.hpp — the training loop: train()/fit(), evaluate(), History.
#pragma once
#include "../config.hpp"
#include "../core/dataset.hpp"
#include "../core/error.hpp"
#include "../core/precision.hpp"
#include "../core/random.hpp"
#include "../model.hpp"
#include "../optim/optimizer.hpp"
#include "progress.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ctnn {

/// A reference to a dataset that may be absent (for TrainOptions::validation).
struct DatasetRef {
    const Dataset* ptr = nullptr;
    DatasetRef() = default;
    DatasetRef(const Dataset& d) : ptr(&d) {} // NOLINT(google-explicit-constructor): by design
    explicit operator bool() const noexcept { return ptr != nullptr; }
};

/// What train() does with a batch whose loss or gradients are not finite (NaN or infinite). The
/// check comes before the optimizer update, so a bad batch never reaches the parameters or the
/// optimizer state.
enum class NonFinite {
    /// Throw ctnn::numeric_error naming the epoch and step. The parameters, the optimizer state
    /// and the buffers (BatchNorm's running statistics) are as they were before the bad batch.
    throw_error,
    /// Skip the batch (no update; buffers put back as before it) and go on. Skipped batches are
    /// counted in EpochStats::skipped, left out of the epoch's loss and accuracy, and reported
    /// in the progress output.
    skip_batch,
    /// Stop training and return the history: the parameters, optimizer state and buffers are
    /// those just before the bad batch (the last good state). The bad batch's epoch is recorded
    /// with the steps done before it; History::stopped says why training stopped.
    stop_and_restore,
};

/// Options of train(). Designated initializers read well: {.epochs = 5, .batch = 256}.
struct TrainOptions {
    std::size_t epochs = 10; ///< passes over the training set
    std::size_t batch = 64;  ///< samples per step (the last batch may be smaller)
    bool shuffle = true;     ///< reshuffle the samples every epoch
    std::uint64_t seed = 0;  ///< shuffling seed (reproducible)
    DatasetRef validation{}; ///< evaluated after each epoch, if set
    optim::Schedule schedule = optim::Constant{}; ///< learning rate per epoch or per step
    Progress progress = Progress::automatic; ///< bar on a terminal, one line per epoch otherwise
    std::filesystem::path history_csv{};     ///< if set, the history is written there as CSV
    std::ostream* out = &std::cout;          ///< where progress goes
    NonFinite on_non_finite = NonFinite::throw_error; ///< a batch with a NaN or infinite loss
                                                      ///< or gradient (see NonFinite)
    /// If positive, each step clips the gradients to this global L2 norm between backward and
    /// update (Model::clip_grad_norm, PyTorch's clip_grad_norm_); 0 (the default): no clipping.
    float clip_grad_norm = 0;
};

/// Loss and accuracy of a model on a dataset. accuracy is NaN for losses without classes.
struct Evaluation {
    double loss = 0;
    double accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// What happened in one epoch.
struct EpochStats {
    std::size_t epoch = 0; ///< 1-based
    float lr = 0;          ///< the rate of the epoch's first step
    Evaluation train{};
    Evaluation validation{std::numeric_limits<double>::quiet_NaN(),
                          std::numeric_limits<double>::quiet_NaN()};
    double seconds = 0;
    std::size_t skipped = 0; ///< batches skipped for a non-finite loss or gradient (skip_batch)
    /// An fp16 model's steps skipped by loss scaling (a gradient overflowed; the scale backed
    /// off): no update, but the batch counts in the epoch's loss and accuracy (its forward pass
    /// was valid) and BatchNorm's statistics keep it, as with PyTorch's GradScaler.
    std::size_t scale_skipped = 0;
};

/// The per-epoch record of a training run.
struct History {
    std::vector<EpochStats> epochs;
    /// Why training stopped before its last epoch (NonFinite::stop_and_restore); empty when it
    /// ran every epoch.
    std::string stopped;

    /// Batches skipped in all epochs (NonFinite::skip_batch).
    [[nodiscard]] std::size_t skipped() const noexcept {
        std::size_t k = 0;
        for (const EpochStats& e : epochs) k += e.skipped;
        return k;
    }
    /// Steps skipped by loss scaling in all epochs (fp16; EpochStats::scale_skipped).
    [[nodiscard]] std::size_t scale_skipped() const noexcept {
        std::size_t k = 0;
        for (const EpochStats& e : epochs) k += e.scale_skipped;
        return k;
    }

    [[nodiscard]] const EpochStats& last() const {
        if (epochs.empty()) throw argument_error("History::last: no epoch was run");
        return epochs.back();
    }
    /// Writes the history as CSV (header line, one row per epoch; empty cells for NaN); the last
    /// column counts the batches skipped for non-finite values.
    void write_csv(const std::filesystem::path& path) const {
        std::ofstream f(path);
        if (!f) throw io_error(path.string(), "cannot open for writing");
        f << "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,skipped,"
             "scale_skipped\n";
        auto cell = [&](double v) {
            if (!std::isnan(v)) f << v;
        };
        for (const EpochStats& e : epochs) {
            f << e.epoch << ',' << e.lr << ',';
            cell(e.train.loss), f << ',';
            cell(e.train.accuracy), f << ',';
            cell(e.validation.loss), f << ',';
            cell(e.validation.accuracy),
                f << ',' << e.seconds << ',' << e.skipped << ',' << e.scale_skipped << '\n';
        }
        f.close();
        if (!f) throw io_error(path.string(), "write failed");
    }
};

namespace detail {

/// Checks that a dataset fits the model and the loss; throws shape_error naming the problem.
template <class Net, class L>
void check_dataset(const Dataset& d, const char* what) {
    d.validate();
    const std::string w = what;
    if (d.empty()) throw shape_error(w + ": the dataset has no samples");
    if (d.feature_count != Net::in_size)
        throw shape_error(w + ": samples have " + std::to_string(d.feature_count) +
                          std::string(" features, the model's input ") + Net::in_shape::str() +
                          " needs " + std::to_string(Net::in_size));
    if constexpr (L::uses_labels) {
        if (!d.has_labels())
            throw shape_error(w + ": " + L::name() + " needs class labels, the dataset has none");
        for (std::size_t i = 0; i < d.labels.size(); ++i)
            if (d.labels[i] < 0 || static_cast<std::size_t>(d.labels[i]) >= Net::out_size)
                throw shape_error(w + ": label " + std::to_string(d.labels[i]) + " of sample " +
                                  std::to_string(i) + " is outside [0, " +
                                  std::to_string(Net::out_size) + ")");
    } else {
        if (!d.has_targets())
            throw shape_error(w + ": " + L::name() + " needs target values, the dataset has none");
        if (d.target_count != Net::out_size)
            throw shape_error(w + ": samples have " + std::to_string(d.target_count) +
                              std::string(" targets, the model outputs ") +
                              std::to_string(Net::out_size));
    }
}

/// Accuracy is defined for losses on class labels (argmax) and for binary logits (sign).
template <class L>
inline constexpr bool has_accuracy = L::uses_labels || requires {
    L::binary_logits;
};

/// Number of correct predictions in [batch, n] outputs: samples whose argmax is the label, or, for
/// binary logits, elements whose sign agrees with target > 0.5. Out of batch (labels) or batch * n.
template <class T>
std::size_t count_correct(const T* y, std::size_t batch, std::size_t n, loss::Targets<T> t) {
    std::size_t c = 0;
    if (!t.labels.empty()) {
        for (std::size_t b = 0; b < batch; ++b) {
            const T* r = y + b * n;
            std::size_t arg = 0;
            for (std::size_t j = 1; j < n; ++j) arg = r[j] > r[arg] ? j : arg;
            c += static_cast<std::int32_t>(arg) == t.labels[b];
        }
    } else {
        for (std::size_t i = 0; i < batch * n; ++i) c += (y[i] > T(0)) == (t.values[i] > T(0.5));
    }
    return c;
}

/// Whether every value of v is finite: one pass, v - v is 0 for a finite value and NaN for NaN
/// or an infinity; eight independent sums let the compiler vectorize it.
template <class T>
bool all_finite(std::span<const T> v) {
    T acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= v.size(); i += 8)
        for (std::size_t j = 0; j < 8; ++j) acc[j] += v[i + j] - v[i + j];
    for (; i < v.size(); ++i) acc[0] += v[i] - v[i];
    T sum = 0;
    for (const T a : acc) sum += a;
    return sum == T(0);
}

/// Gathers the samples sample_of(k), k in [begin, end), of d into contiguous batch buffers.
template <class T, class SampleOf>
void gather(const Dataset& d, SampleOf sample_of, std::size_t begin, std::size_t end,
            std::vector<T>& x, std::vector<std::int32_t>& labels, std::vector<T>& targets) {
    const std::size_t f = d.feature_count, tc = d.target_count;
    for (std::size_t k = begin; k < end; ++k) {
        const std::size_t i = sample_of(k), r = k - begin;
        std::copy_n(d.features.data() + i * f, f, x.data() + r * f);
        if (d.has_labels()) labels[r] = d.labels[i];
        if (d.has_targets()) std::copy_n(d.targets.data() + i * tc, tc, targets.data() + r * tc);
    }
}

/// The targets of a batch of `bs` samples gathered into labels and targets (those data has).
template <class T>
loss::Targets<T> batch_targets(const Dataset& d, const std::vector<std::int32_t>& labels,
                               const std::vector<T>& targets, std::size_t bs) {
    loss::Targets<T> t;
    if (d.has_labels()) t.labels = std::span(labels).first(bs);
    if (d.has_targets()) t.values = std::span(targets).first(bs * d.target_count);
    return t;
}

/// The workspace budget of evaluate()'s automatic chunk: 64 MiB.
inline constexpr std::size_t evaluate_workspace_bytes = std::size_t{64} << 20;

/// evaluate()'s automatic chunk: as many samples as a workspace of evaluate_workspace_bytes holds
/// (a pass's activations and its two gradient buffers), between 1 and 1024. The workspace a model
/// reserves grows to the largest batch it has run, so a fixed 1024 cost the CNN example 0.5 GB.
template <class Net, class T>
constexpr std::size_t evaluate_chunk() {
    constexpr std::size_t per_sample =
        sizeof(T) * (activation_floats_per_sample<Net> + 2 * gradient_floats_per_sample<Net>);
    return std::clamp<std::size_t>(evaluate_workspace_bytes / std::max<std::size_t>(per_sample, 1),
                                   1, 1024);
}

} // namespace detail

/// evaluate()'s `batch` for chunks sized by ctnn: detail::evaluate_chunk (at most 64 MiB of
/// workspace, at most 1024 samples).
inline constexpr std::size_t auto_batch = 0;

namespace detail {

/// What evaluate() runs: a Model<Net, P> or a QuantizedModel<Net> (model/quantized.hpp), with its
/// network, scalar type, forward(x, batch) and loss(l, targets).
template <class M>
concept EvaluableModel = requires {
    typename M::network;
    typename M::scalar;
};

} // namespace detail

/// Loss (and accuracy, for classification) of `model` (a Model or a QuantizedModel) on `data`,
/// in inference mode, in chunks of `batch` samples (auto_batch: as many as 64 MiB of workspace
/// holds, at most 1024). The model's workspace grows to the chunk if it is smaller.
template <detail::EvaluableModel M, Loss L>
Evaluation evaluate(M& model, const Dataset& data, const L& loss, std::size_t batch = auto_batch) {
    using Net = typename M::network;
    using T = typename M::scalar;
    static_assert(L::template check<typename Net::out_shape>());
    if (batch == auto_batch) batch = detail::evaluate_chunk<Net, T>();
    detail::check_dataset<Net, L>(data, "evaluate");
    const std::size_t n = data.size();
    const std::size_t bs_max = std::min(batch, n);
    std::vector<T> x(bs_max * Net::in_size), targets(bs_max * data.target_count);
    std::vector<std::int32_t> labels(bs_max);
    double loss_sum = 0;
    std::size_t correct = 0;
    for (std::size_t b0 = 0; b0 < n; b0 += bs_max) {
        const std::size_t bs = std::min(bs_max, n - b0);
        detail::gather(
            data, [](std::size_t k) { return k; }, b0, b0 + bs, x, labels, targets);
        auto y = model.forward(std::span<const T>(x.data(), bs * Net::in_size), bs);
        const loss::Targets<T> t = detail::batch_targets(data, labels, targets, bs);
        loss_sum += static_cast<double>(model.loss(loss, t)) * static_cast<double>(bs);
        if constexpr (detail::has_accuracy<L>)
            correct += detail::count_correct(y.data(), bs, Net::out_size, t);
    }
    Evaluation e;
    e.loss = loss_sum / static_cast<double>(n);
    if constexpr (detail::has_accuracy<L>)
        e.accuracy = static_cast<double>(correct) /
                     static_cast<double>(L::uses_labels ? n : n * Net::out_size);
    return e;
}

/// Trains `model` on `data` with `loss` and optimizer `opt`; returns the per-epoch history.
/// The data is checked against the model first (features, labels or targets): a mismatch throws
/// ctnn::shape_error before any step is taken. No allocation happens inside the step loop.
/// Each step checks that the loss and the gradients are finite before it updates the parameters;
/// options.on_non_finite says what a batch that fails the check does (NonFinite).
template <class Net, class P, Loss L, Optimizer O>
History train(Model<Net, P>& model, const Dataset& data, const L& loss, const O& opt,
              const TrainOptions& options = {}) {
    using T = scalar_of<P>;
    static_assert(L::template check<typename Net::out_shape>());
    if (options.batch == 0) throw argument_error("train: batch size is 0");
    if (!(options.clip_grad_norm >= 0.0f) || !std::isfinite(options.clip_grad_norm))
        throw argument_error("train: clip_grad_norm is " + std::to_string(options.clip_grad_norm) +
                             ", expected 0 (off) or a positive finite norm");
    detail::check_dataset<Net, L>(data, "train");
    if (options.validation) detail::check_dataset<Net, L>(*options.validation.ptr, "validation");

    const std::size_t n = data.size(), bs_max = std::min(options.batch, n);
    const std::size_t steps = (n + bs_max - 1) / bs_max;
    std::vector<T> x(bs_max * Net::in_size), targets(bs_max * data.target_count);
    std::vector<std::int32_t> labels(bs_max);
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    model.reserve(bs_max); // workspace for the batch, not more (validation: evaluate's chunks)
    OptimizerState<O, T> state(opt, Net::param_count);
    ProgressBar bar(options.progress, options.out);
    History history;
    // BatchNorm's running statistics, as before the current batch (a training pass updates
    // them): put back when a batch is rejected.
    std::vector<T> buffers_before(Net::buffer_count);

    for (std::size_t epoch = 0; epoch < options.epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        // The epoch's first rate (a per-step schedule changes it at every step below).
        const float lr = optim::lr_at_step(options.schedule, opt.lr, epoch, epoch * steps,
                                           options.epochs * steps);
        if (options.shuffle) { // Fisher-Yates with a counter-based stream: reproducible
            const CounterRng rng{options.seed, 0x5AFF1E00ull + epoch};
            for (std::size_t i = n; i > 1; --i) {
                const auto j =
                    static_cast<std::size_t>(rng.uniform_double(i) * static_cast<double>(i));
                std::swap(idx[i - 1], idx[std::min(j, i - 1)]);
            }
        }
        bar.start_epoch(epoch + 1, options.epochs, steps);
        double loss_sum = 0;
        std::size_t correct = 0, used = 0, skipped = 0; // used: samples of the accepted batches
        std::size_t scale_skipped = 0;
        for (std::size_t s = 0; s < steps; ++s) {
            const std::size_t b0 = s * bs_max, bs = std::min(bs_max, n - b0);
            detail::gather(
                data, [&](std::size_t k) { return idx[k]; }, b0, b0 + bs, x, labels, targets);
            const loss::Targets<T> t = detail::batch_targets(data, labels, targets, bs);
            if constexpr (Net::buffer_count > 0) {
                const auto b = std::as_const(model).buffers();
                std::copy(b.begin(), b.end(), buffers_before.begin());
            }
            auto y =
                model.forward(std::span<const T>(x.data(), bs * Net::in_size), bs, Mode::training);
            const T l = model.loss(loss, t);
            // Checked before the update: a bad batch leaves the parameters and optimizer state
            // as they were (the check costs one pass over the gradients).
            const bool loss_ok = std::isfinite(l);
            if (loss_ok) model.backward();
            // fp16: backward() has checked the gradients (loss scaling); a non-finite one
            // overflowed fp16 and skips the step, which is not a bad batch.
            constexpr bool scaled = gemm_operands_of<P> == GemmOperands::fp16;
            bool scaled_overflow = false;
            if constexpr (scaled) scaled_overflow = loss_ok && model.loss_scaler().take_skip();
            if (!loss_ok || (!scaled && !detail::all_finite(std::as_const(model).gradients()))) {
                if constexpr (Net::buffer_count > 0) {
                    const auto b = model.buffers();
                    std::copy(buffers_before.begin(), buffers_before.end(), b.begin());
                }
                if (options.on_non_finite == NonFinite::skip_batch) {
                    ++skipped;
                    continue;
                }
                const std::string what =
                    std::string("train: ") +
                    (loss_ok ? "a gradient is not finite (loss " : "the loss is not finite (") +
                    std::to_string(static_cast<double>(l)) + ") at epoch " +
                    std::to_string(epoch + 1) + ", step " + std::to_string(s + 1);
                if (options.on_non_finite == NonFinite::throw_error)
                    throw numeric_error(what +
                                        "; the parameters are as before this batch (NaN or "
                                        "infinity in the data, or the learning rate too high?)");
                history.stopped = what + "; training stopped, the parameters are as before "
                                         "this batch";
                break;
            }
            if constexpr (detail::has_accuracy<L>)
                correct += detail::count_correct(y.data(), bs, Net::out_size, t);
            if (scaled_overflow) { // fp16: the step is skipped, the scale has backed off
                ++scale_skipped;
            } else {
                // The gradients are finite here (checked above), so is their norm.
                if (options.clip_grad_norm > 0.0f) model.clip_grad_norm(options.clip_grad_norm);
                model.update(state,
                             optim::per_step(options.schedule)
                                 ? optim::lr_at_step(options.schedule, opt.lr, epoch,
                                                     epoch * steps + s, options.epochs * steps)
                                 : lr);
            }
            loss_sum += static_cast<double>(l) * static_cast<double>(bs);
            used += bs;
            bar.step(s + 1, loss_sum / static_cast<double>(used));
        }
        EpochStats st;
        st.epoch = epoch + 1;
        st.lr = lr;
        st.skipped = skipped;
        st.scale_skipped = scale_skipped;
        // Over the accepted batches (NaN when there was none).
        st.train.loss =
            used ? loss_sum / static_cast<double>(used) : std::numeric_limits<double>::quiet_NaN();
        if constexpr (detail::has_accuracy<L>)
            st.train.accuracy =
                used ? static_cast<double>(correct) /
                           static_cast<double>(L::uses_labels ? used : used * Net::out_size)
                     : std::numeric_limits<double>::quiet_NaN();
        if (options.validation) st.validation = evaluate(model, *options.validation.ptr, loss);
        st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        bar.end_epoch(st.train.loss, st.train.accuracy, st.validation.loss, st.validation.accuracy,
                      st.seconds, st.skipped, st.scale_skipped);
        history.epochs.push_back(st);
        if (!options.history_csv.empty()) history.write_csv(options.history_csv);
        if (!history.stopped.empty()) {
            bar.note(history.stopped);
            break;
        }
    }
    return history;
}

/// Same as train() (Keras spelling).
template <class Net, class P, Loss L, Optimizer O>
History fit(Model<Net, P>& model, const Dataset& data, const L& loss, const O& opt,
            const TrainOptions& options = {}) {
    return train(model, data, loss, opt, options);
}

} // namespace ctnn
