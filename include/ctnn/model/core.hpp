// ctnn/model/core.hpp — the part of Model<Net, T> that does not depend on Net: its device, the
// mirrors of its flat buffers, its backend sides behind their interfaces, seed, step and batch.
//
// Model<Net, T> derives from ModelCore<T>. Everything here (copying, moving and destroying a
// model, refreshing a host copy, handing newer values to the backend, the parameter and gradient
// accessors, gradient clipping) is compiled once per precision, not once per network type: a test
// or program with a hundred models compiles it once.
#pragma once
#include "../backend/device.hpp"
#include "../core/aligned.hpp"
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/init.hpp"
#include "../graph/sequential.hpp"
#include "../optim/optimizer.hpp"
#include "state.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ctnn::detail {

/// A Model's thread rule, checked: any number of predict() calls at once (Shared), or one other
/// call (Exclusive). A call that breaks it throws ctnn::concurrency_error instead of racing. Two
/// atomics, checked in opposite orders (each side publishes itself, then looks for the other),
/// so that of two overlapping calls at least one sees the other. Copies and moves start unused.
class UseCheck {
public:
    UseCheck() = default;
    UseCheck(const UseCheck&) noexcept {}
    UseCheck(UseCheck&&) noexcept {}
    UseCheck& operator=(const UseCheck&) noexcept { return *this; }
    UseCheck& operator=(UseCheck&&) noexcept { return *this; }
    ~UseCheck() = default;

    /// Held by a call that needs the model to itself.
    class Exclusive {
    public:
        Exclusive(UseCheck& u, const char* who) : u_(u) {
            if (u_.busy_.exchange(true)) refuse(who);
            if (u_.readers_.load() > 0) {
                u_.busy_.store(false);
                refuse(who);
            }
        }
        Exclusive(const Exclusive&) = delete;
        Exclusive& operator=(const Exclusive&) = delete;
        ~Exclusive() { u_.busy_.store(false); }

    private:
        UseCheck& u_;
    };

    /// Held by predict(): other predict() calls may run beside it.
    class Shared {
    public:
        Shared(UseCheck& u, const char* who) : u_(u) {
            u_.readers_.fetch_add(1);
            if (u_.busy_.load()) {
                u_.readers_.fetch_sub(1);
                refuse(who);
            }
        }
        Shared(const Shared&) = delete;
        Shared& operator=(const Shared&) = delete;
        ~Shared() { u_.readers_.fetch_sub(1); }

    private:
        UseCheck& u_;
    };

private:
    [[noreturn]] static void refuse(const char* who) {
        throw concurrency_error(
            std::string(who) +
            ": this model is in use by another call (another thread, or a loss or layer calling "
            "back into it). A Model runs any number of predict() calls at once, or one other "
            "call: give each training thread its own model (a copy), or serialize the calls");
    }

    std::atomic<bool> busy_{false};
    std::atomic<int> readers_{0};
};

/// Model::predict's executors: idle ones wait here between calls, so that concurrent calls each
/// take one (and make one when none is idle) and later calls reuse them.
struct InferencePool {
    std::mutex mutex;
    std::vector<std::unique_ptr<Workspace>> idle;
};

template <class T>
class ModelCore {
public:
    [[nodiscard]] Device device() const noexcept { return device_; }

    /// The flat parameter buffer (PyTorch layout; see parameter_table<Net>() for names/offsets).
    /// A host copy, refreshed from the backend if needed; writes through it reach the backend
    /// before its next use.
    [[nodiscard]] std::span<T> parameters() { return written(params_, Buf::params); }
    [[nodiscard]] std::span<const T> parameters() const { return fresh(params_, Buf::params); }
    /// The flat buffer storage: non-trainable state such as BatchNorm's running_mean, running_var
    /// and num_batches_tracked (see buffer_table<Net>() for names and offsets). Updated by
    /// training-mode forward passes, read by inference; empty for most models. On CUDA a host
    /// copy, refreshed when a training pass has updated the statistics there: call buffers()
    /// again after a pass rather than keeping the span.
    [[nodiscard]] std::span<T> buffers() { return written(buffers_, Buf::buffers); }
    [[nodiscard]] std::span<const T> buffers() const { return fresh(buffers_, Buf::buffers); }
    /// Gradients of the last backward(), same layout as parameters().
    [[nodiscard]] std::span<const T> gradients() const { return fresh(grads_, Buf::grads); }

    /// Clips the gradients of the last backward() by their global L2 norm and returns that norm
    /// before clipping, as PyTorch's torch.nn.utils.clip_grad_norm_ (optim::clip_factor; the next
    /// update() applies the clipped gradients). A NaN or infinite norm is returned with the
    /// gradients unchanged. Throws ctnn::argument_error if max_norm is not positive and finite.
    float clip_grad_norm(float max_norm) {
        const double norm = optim::global_norm(fresh(grads_, Buf::grads));
        const double factor = optim::clip_factor(norm, max_norm);
        if (factor != 1.0)
            for (T& g : written(grads_, Buf::grads)) g *= static_cast<T>(factor);
        return static_cast<float>(norm);
    }

    /// The training-step counter that keys Dropout masks (incremented by each training-mode
    /// forward). Restoring it replays a step exactly: used to resume training and by gradient
    /// checks.
    [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
    void set_step(std::uint64_t step) noexcept { step_ = step; }
    /// The seed given to init(): it keys Dropout masks as well.
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    /// Copies the model's copy of an optimizer state (on the CUDA device, or in the fused CPU
    /// executor's layout) back into state.m and state.v, in the parameters' layout: call it
    /// before reading or saving them. A no-op when the state has no such copy (no update yet,
    /// or an executor that updates state.m and state.v directly).
    template <Optimizer O>
    void read_state(OptimizerState<O, T>& state) const {
        if (!state.copy) return;
        if (device_side_) device_side_->synchronize();
        state.copy->read_into(state.m, state.v);
    }

protected:
    /// device::best() for a model whose layers all have CUDA kernels (cuda_ok) or not (then the
    /// CPU, saying so once on stderr).
    static Device best_device_for(bool cuda_ok) {
        const Device d = device::best();
        if (!cuda_ok && d.kind == Device::Kind::cuda) {
            [[maybe_unused]] static const bool told =
                std::fputs("ctnn: this model has layers without CUDA kernels; running it on the "
                           "CPU (Eigen)\n",
                           stderr) >= 0;
            return device::cpu();
        }
        return d;
    }

    /// A model on the CPU with `params` parameters (zero) and the given buffers.
    ModelCore(std::size_t params, std::vector<T> initial_buffers)
        : pool_(std::make_unique<InferencePool>()) {
        params_.host.assign(params, T(0));
        grads_.host.assign(params, T(0));
        buffers_.host = std::move(initial_buffers);
    }
    /// A copy on the CPU (the model attaches it to o's device) with o's values, seed and step.
    ModelCore(const ModelCore& o)
        : params_(o.current(o.params_, Buf::params)), grads_(o.current(o.grads_, Buf::grads)),
          buffers_(o.current(o.buffers_, Buf::buffers)), cpu_(o.cpu_ ? o.cpu_->clone() : nullptr),
          pool_(std::make_unique<InferencePool>()), seed_(o.seed_), step_(o.step_),
          batch_(o.on_cuda() ? 0 : o.batch_) {}
    ModelCore& operator=(const ModelCore&) = delete;
    ModelCore(ModelCore&&) noexcept = default;
    ModelCore& operator=(ModelCore&&) noexcept = default;
    ~ModelCore() = default;

    [[nodiscard]] bool on_cuda() const noexcept { return device_.kind == Device::Kind::cuda; }

    /// Model::init: every parameter tensor of `table` from `seed_value`, the buffers at `initial`.
    void initialize(std::uint64_t seed_value, Init scheme, const std::vector<ParamEntry>& table,
                    std::vector<T> initial) {
        seed_ = seed_value;
        step_ = 0;
        for (const ParamEntry& e : table)
            init_tensor(params_.host.data() + e.offset, e.offset, e.spec, scheme, seed_value);
        buffers_.host = std::move(initial);
        params_.mark(Newest::host);
        buffers_.mark(Newest::host);
    }

    /// `count` buffer values, each tensor of `table` at its initial value (BatchNorm:
    /// running_mean 0, running_var 1, count 0).
    static std::vector<T> initial_buffers(std::size_t count,
                                          const std::vector<BufferEntry>& table) {
        std::vector<T> b(count, T(0));
        for (const BufferEntry& e : table)
            std::fill_n(b.begin() + static_cast<std::ptrdiff_t>(e.offset), e.size,
                        static_cast<T>(e.spec.init));
        return b;
    }

    /// The host copy of flat buffer b, refreshed from the backend when it has newer values.
    template <class M>
    std::span<T> fresh(M& m, Buf b) const {
        if (m.newest == Newest::backend) {
            if (device_side_) device_side_->pull(b, m.host.data());
            else if (cpu_) cpu_->pull(b, m.host.data());
            m.newest = Newest::both;
        }
        return m.host;
    }
    /// A copy of a mirror with its host copy current.
    template <class M>
    M current(M& m, Buf b) const {
        fresh(m, b);
        return {m.host, Newest::both};
    }
    /// The host copy, to be written: the backend copy is refreshed from it before its next use.
    template <class M>
    std::span<T> written(M& m, Buf b) {
        fresh(m, b);
        m.mark(Newest::host);
        return m.host;
    }
    /// Hands the host copy's newer values to the backend (the device, or the fused executor,
    /// which repacks its weights at its next use).
    template <class M>
    void push(M& m, Buf b) {
        if (m.newest != Newest::host) return;
        if (device_side_) device_side_->push(b, m.host.data());
        else if (cpu_) cpu_->push(b, m.host.data());
        m.newest = Newest::both;
    }

    /// Brings every host copy up to date and leaves the device (to()).
    void leave_device() {
        fresh(params_, Buf::params);
        fresh(grads_, Buf::grads);
        fresh(buffers_, Buf::buffers);
        detach();
    }

    /// Leaves the device (host copies must be current): frees the device side.
    void detach() noexcept {
        device_side_.reset();
        device_ = Device{};
        batch_ = 0;
        params_.mark(Newest::host); // the CPU executor repacks from the host copy
        grads_.newest = buffers_.newest = Newest::both;
    }

    /// Takes over a device side holding copies of all flat buffers (attach()).
    void attached(std::unique_ptr<DeviceSide<T>> side, Device dev) noexcept {
        device_side_ = std::move(side);
        device_ = dev;
        params_.newest = grads_.newest = buffers_.newest = Newest::both;
    }

    /// Model::update's error for an optimizer state whose m and v (m, v values) do not hold
    /// `count` parameters. Called only on the error path: an update builds no string.
    [[noreturn]] static void throw_state_size(const std::string& optimizer, std::size_t m,
                                              std::size_t v, std::size_t count) {
        throw argument_error("Model::update: the " + optimizer + " state holds " +
                             std::to_string(std::max(m, v)) + " values per buffer, the model has " +
                             std::to_string(count) + " parameters");
    }

    Device device_{};
    /// The flat buffers (mutable: refreshed from the backend), cache-line aligned for the CPU
    /// kernels.
    mutable Mirror<T, CacheAligned<T>> params_, grads_;
    mutable Mirror<T> buffers_;
    mutable std::unique_ptr<CpuSideBase<T>> cpu_; ///< made at first CPU use
    /// Model::input_gradient's CPU executor, made at first use; a copy makes its own.
    std::unique_ptr<Workspace> input_grad_;
    /// Model::predict's executors (a copy starts with none).
    std::unique_ptr<InferencePool> pool_;
    /// The thread rule's check (mutable: const calls such as save() and predict() hold it too).
    mutable UseCheck use_;
    std::unique_ptr<DeviceSide<T>> device_side_; ///< on CUDA
    std::uint64_t seed_ = 0, step_ = 0;
    std::size_t batch_ = 0;
};

} // namespace ctnn::detail
