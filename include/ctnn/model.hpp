// ctnn/model.hpp — Model<Net>: a network type with its parameters, on a device.
//
// The parameters of the whole model live in ONE flat buffer (param_count floats, offsets known at
// compile time, PyTorch names and layouts). Gradients mirror it. A Model runs the forward pass,
// the backward pass and optimizer updates through its backend; the training loop (train/train.hpp)
// and checkpoint IO (save/load) are built on these.
//
// Backends: the CPU (Eigen, backend/cpu/eigen) always; CUDA (backend/cuda) when CTNN_CUDA_BACKEND
// is 1 (nvcc, or CTNN_HOST_EXECUTION=1 for tests). On CUDA the parameter, gradient and
// optimizer-state buffers live on the device; the host copies that parameters() and gradients()
// return are refreshed with one copy of the flat buffer when the device has newer values, and a
// host write through parameters() is uploaded with one copy before the next device use. The buffers
// (BatchNorm's running statistics) follow the same rules: on CUDA they live on the device, a
// training-mode forward updates them there, and buffers() (and save()) reads them back lazily.
// The fused CPU executor of MLPs (cpu::FusedExecutor) is treated the same way: it trains on its
// own copy of the weights and optimizer state (W^T, padded), and parameters() and gradients()
// are written from it in PyTorch's layout when read.
#pragma once
#include "backend/cpu/denormal.hpp"
#include "backend/cpu/eigen/executor.hpp"
#include "backend/cpu/eigen/update.hpp"
#include "backend/cpu/executor.hpp"
#include "backend/device.hpp"
#include "config.hpp"
#include "core/aligned.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/init.hpp"
#include "graph/describe.hpp"
#include "graph/sequential.hpp"
#include "io/safetensors.hpp"
#include "loss/loss.hpp"
#include "optim/optimizer.hpp"

#if CTNN_CUDA_BACKEND
#include "backend/cuda/executor.hpp"
#include "backend/cuda/kernels/optimizer.hpp"
#include "backend/cuda/memory.hpp"
#include "graph/schedule.hpp"
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ctnn {

/// Forward-pass mode: training enables Dropout (and, later, batch statistics).
enum class Mode { inference, training };

/// The optimizer's state buffers and step count, as large as the model's parameter buffer.
template <Optimizer O, class T = float>
struct OptimizerState {
    O optimizer;
    /// State buffers (those the optimizer uses), in the parameters' layout. After the first
    /// update the model keeps its own copy (on the CUDA device; on the CPU, in the fused
    /// executor's layout) and updates that: Model::read_state(state) copies it back here.
    std::vector<T> m, v;
    std::uint64_t step = 0; ///< number of updates applied
    /// The model's copy of m and v (opaque; empty until the first update of a model that keeps
    /// one) and which backend of which model type made it.
    std::shared_ptr<void> device_state;
    const void* device_owner = nullptr;

    OptimizerState(const O& opt, std::size_t param_count)
        : optimizer(opt), m(O::state_count >= 1 ? param_count : 0, T(0)),
          v(O::state_count >= 2 ? param_count : 0, T(0)) {}
};

/// A model of type Net with its parameters and workspace, on a device. T is the precision of
/// parameters and activations: float (the default), or double (for gradient checks and science).
template <Network Net, class T = float>
class Model {
public:
    using network = Net;
    using scalar = T;
    static constexpr std::size_t in_size = Net::in_size;
    static constexpr std::size_t out_size = Net::out_size;
    static constexpr std::size_t param_count = Net::param_count;
    /// Values of non-trainable state (BatchNorm's running statistics), stored apart from the
    /// parameters: saved and loaded with them, never touched by an optimizer.
    static constexpr std::size_t buffer_count = Net::buffer_count;

private:
    using cpu_exec = cpu::executor_for<Net, T>;
    /// The CPU executor trains in its own layout (cpu::FusedExecutor): backward() leaves the
    /// gradients there and update() updates its packed weights, so the parameters and
    /// gradients are written in PyTorch's layout only when read (as on CUDA).
    static constexpr bool native_cpu = requires { cpu_exec::native_floats; };

public:
    /// A model on `dev`. Parameters start at zero: call init() (or load()) before use.
    /// Throws ctnn::argument_error if `dev` cannot run this model (a CUDA device in a build without
    /// CUDA, no such GPU, a layer without CUDA kernels), ctnn::cuda_error if the GPU fails.
    explicit Model(Device dev = best_device())
        : device_(dev), params_(param_count, T(0)), grads_(param_count, T(0)),
          buffers_(initial_buffers()) {
        attach(dev);
    }

    /// device::best() for this model: the GPU only when every layer of Net has CUDA kernels
    /// (otherwise the CPU, saying so once on stderr). The default device of a Model.
    static Device best_device() {
        const Device d = device::best();
#if CTNN_CUDA_BACKEND
        if constexpr (!kernel_schedule<Net>::cuda_supported) {
            if (d.kind == Device::Kind::cuda) {
                static const bool told = [] {
                    std::fputs("ctnn: this model has layers without CUDA kernels; running it on "
                               "the CPU (Eigen)\n",
                               stderr);
                    return true;
                }();
                (void)told;
                return device::cpu();
            }
        }
#endif
        return d;
    }

    /// A copy on the same device, with the same parameters, gradients, seed and step (the
    /// workspace is not shared; on CUDA the copy needs a forward() before loss()/backward()).
    Model(const Model& o)
        : params_((o.sync_host_params(), o.params_)), grads_((o.sync_host_grads(), o.grads_)),
          buffers_((o.sync_host_buffers(), o.buffers_)), exec_(o.exec_), seed_(o.seed_),
          step_(o.step_), batch_(o.on_cuda() ? 0 : o.batch_) {
        attach(o.device_);
    }
    Model& operator=(const Model& o) {
        if (this != &o) *this = Model(o);
        return *this;
    }
    Model(Model&&) noexcept = default;
    Model& operator=(Model&&) noexcept = default;
    ~Model() = default;

    [[nodiscard]] Device device() const noexcept { return device_; }

    /// Moves the model to `dev` (parameters are copied as one flat buffer; workspaces are
    /// released). Gradients of the last backward() are kept. Optimizer states stay where they
    /// are: start a new OptimizerState (or read_state() it first) after moving.
    void to(Device dev) {
        if (dev == device_) return;
        sync_host_params();
        sync_host_grads();
        sync_host_buffers();
        detach();
        attach(dev); // on failure the model is left on the CPU with its parameters
    }

    /// Initializes all parameters from `seed` (reproducible: the same seed gives the same model on
    /// every backend and machine). Also seeds Dropout masks.
    void init(std::uint64_t seed, Init scheme = Init::kaiming_uniform) {
        seed_ = seed;
        step_ = 0;
        for (const ParamEntry& e : parameter_table<Net>())
            detail::init_tensor(params_.data() + e.offset, e.offset, e.spec, scheme, seed);
        buffers_ = initial_buffers();
        host_params_stale_ = false;
        device_params_stale_ = true;
        host_buffers_stale_ = false;
        device_buffers_stale_ = true;
        cpu::parameters_changed(exec_);
    }

    /// The flat parameter buffer (PyTorch layout; see parameter_table<Net>() for names/offsets).
    /// On CUDA: a host copy, refreshed from the device if needed; writes through it reach the
    /// device before its next use.
    [[nodiscard]] std::span<T> parameters() {
        sync_host_params();
        device_params_stale_ = on_cuda();
        cpu::parameters_changed(exec_);
        return params_;
    }
    [[nodiscard]] std::span<const T> parameters() const {
        sync_host_params();
        return params_;
    }
    /// The flat buffer storage: non-trainable state such as BatchNorm's running_mean, running_var
    /// and num_batches_tracked (see buffer_table<Net>() for names and offsets). Updated by
    /// training-mode forward passes, read by inference; empty for most models.
    /// On CUDA: a host copy, refreshed from the device (one copy) when a training pass has
    /// updated the statistics there, so call buffers() again after a pass rather than keeping the
    /// span; writes through it reach the device before its next use.
    [[nodiscard]] std::span<T> buffers() {
        sync_host_buffers();
        device_buffers_stale_ = on_cuda();
        return buffers_;
    }
    [[nodiscard]] std::span<const T> buffers() const {
        sync_host_buffers();
        return buffers_;
    }
    /// Gradients of the last backward(), same layout as parameters().
    [[nodiscard]] std::span<const T> gradients() const {
        sync_host_grads();
        return grads_;
    }

    /// The CPU executor (cpu::executor_for<Net, T>), for inspection: e.g. how many threads the
    /// last pass was split into (cpu::BatchParallel::last_parts).
    [[nodiscard]] const cpu::executor_for<Net, T>& cpu_executor() const noexcept { return exec_; }

    /// The training-step counter that keys Dropout masks (incremented by each training-mode
    /// forward). Restoring it replays a step exactly: used to resume training and by gradient
    /// checks.
    [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
    void set_step(std::uint64_t step) noexcept { step_ = step; }
    /// The seed given to init(): it keys Dropout masks as well.
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    /// Preallocates workspace for batches of up to `batch` samples, so that later forward and
    /// backward passes of at most that size do not allocate.
    void reserve(std::size_t batch) {
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok) {
            if (on_cuda()) {
                cuda_->exec.reserve(batch);
                return;
            }
        }
#endif
        exec_.reserve(batch);
    }

    /// Forward pass on `batch` samples ([batch, in_size] row-major). Returns the output
    /// [batch, out_size], valid until the next forward(). In training mode, keeps what backward()
    /// needs (x must stay alive until then) and draws a new Dropout mask per call.
    std::span<const T> forward(std::span<const T> x, std::size_t batch,
                               Mode mode = Mode::inference) {
        if (batch == 0) throw argument_error("Model::forward: batch size is 0");
        if (x.size() != batch * in_size)
            throw shape_error(std::string("Model::forward: input holds ") +
                              std::to_string(x.size()) + std::string(" values, expected batch ") +
                              std::to_string(batch) + " x " + std::to_string(in_size) +
                              " (input shape " + Net::in_shape::str() + ")");
        ElemCtx ctx;
        ctx.seed = seed_;
        ctx.training = mode == Mode::training;
        ctx.step = ctx.training ? ++step_ : 0;
        batch_ = batch;
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok) {
            if (on_cuda()) {
                sync_device_params();
                sync_device_buffers();
                cuda_->exec.forward(cuda_->params.data(), x.data(), batch, ctx,
                                    cuda_->buffers.data());
                if (ctx.training && buffer_count > 0) host_buffers_stale_ = true;
                out_.resize(batch * out_size);
                cuda_->exec.download_output(out_.data());
                return {out_.data(), out_.size()};
            }
        }
#endif
        const T* y = exec_.forward(params_.data(), x.data(), batch, ctx, buffers_.data());
        return {y, batch * out_size};
    }

    /// Forward pass on as many samples as x holds ([batch, in_size] row-major; batch =
    /// x.size() / in_size). Throws ctnn::shape_error if x.size() is not a positive multiple of
    /// in_size.
    std::span<const T> forward(std::span<const T> x, Mode mode = Mode::inference) {
        if (x.empty() || x.size() % in_size != 0)
            throw shape_error(std::string("Model::forward: input holds ") +
                              std::to_string(x.size()) + " values, not a positive multiple of " +
                              std::to_string(in_size) + " (input shape " + Net::in_shape::str() +
                              ")");
        return forward(x, x.size() / in_size, mode);
    }

    /// Inference on as many samples as x holds (as forward(x)), returning a copy of the outputs
    /// ([batch, out_size]) that stays valid after later passes.
    std::vector<T> predict(std::span<const T> x) {
        const std::span<const T> y = forward(x, Mode::inference);
        return {y.begin(), y.end()};
    }

    /// Computes the loss of the last forward pass against `targets`, and dLoss/dOutput for
    /// backward(). Returns the mean loss of the batch.
    template <Loss L>
    T loss(const L& l, loss::Targets<T> targets) {
        static_assert(L::template check<typename Net::out_shape>());
        if (batch_ == 0) throw argument_error("Model::loss: call forward() first");
        if constexpr (L::uses_labels) {
            if (targets.labels == nullptr) throw argument_error("Model::loss: no labels given");
            for (std::size_t b = 0; b < batch_; ++b)
                if (targets.labels[b] < 0 ||
                    static_cast<std::size_t>(targets.labels[b]) >= out_size)
                    throw argument_error(std::string("Model::loss: label ") +
                                         std::to_string(targets.labels[b]) + " of sample " +
                                         std::to_string(b) + " is outside [0, " +
                                         std::to_string(out_size) + ")");
        } else {
            if (targets.values == nullptr)
                throw argument_error("Model::loss: no target values given");
        }
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok) {
            if (on_cuda()) {
                if constexpr (cuda::has_device_loss<L>) {
                    return cuda_->exec.loss(l, targets);
                } else {
                    throw argument_error(std::string("Model::loss: loss ") + L::name() +
                                         " has no CUDA kernel (it needs a CTNN_HOST_DEVICE "
                                         "row() or value()/grad())");
                }
            }
        }
#endif
        return l(exec_.output(), targets, batch_, out_size, exec_.output_grad());
    }

    /// Backward pass of the last training-mode forward(): fills gradients().
    void backward() {
        if (batch_ == 0) throw argument_error("Model::backward: call forward() and loss() first");
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok) {
            if (on_cuda()) {
                cuda_->exec.backward(cuda_->params.data(), cuda_->grads.data());
                host_grads_stale_ = true;
                return;
            }
        }
#endif
        if constexpr (native_cpu) {
            exec_.backward(params_.data(), nullptr);
            host_grads_stale_ = true;
        } else {
            exec_.backward(params_.data(), grads_.data());
        }
    }

    /// Applies one optimizer update with learning rate `lr` (a schedule's value for this step; it
    /// replaces state.optimizer.lr, which update(state) uses) to all parameters (one pass). Throws
    /// ctnn::argument_error if `state` was made for another number of parameters.
    template <Optimizer O>
    void update(OptimizerState<O, T>& state, float lr) {
        if (state.m.size() != (O::state_count >= 1 ? param_count : 0) ||
            state.v.size() != (O::state_count >= 2 ? param_count : 0))
            throw argument_error("Model::update: the " + O::name() + " state holds " +
                                 std::to_string(std::max(state.m.size(), state.v.size())) +
                                 " values per buffer, the model has " +
                                 std::to_string(param_count) + " parameters");
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok) {
            if (on_cuda()) {
                sync_device_params();
                auto* dev = device_state(state);
                ++state.step;
                cuda::apply_update(state.optimizer, state.optimizer.scalars(lr, state.step),
                                   cuda_->params.data(), cuda_->grads.data(), dev->m.data(),
                                   dev->v.data(), param_count, cuda_->stream.get());
                host_params_stale_ = true;
                return;
            }
        }
#endif
        // Denormal optimizer state (decayed where gradients stay zero) is flushed to zero: on x86
        // each vector instruction touching one takes a ~100-cycle assist
        // (backend/cpu/denormal.hpp).
        const cpu::FlushDenormals flush;
        if constexpr (native_cpu) {
            // The executor's accumulators always hold the current gradients: a model on the fused
            // executor never leaves the CPU (its kernels are not compiled in CUDA translation
            // units), and a copy of the model copies the executor with them.
            CpuOptState& st = cpu_state(state);
            ++state.step;
            exec_.update(state.optimizer, state.optimizer.scalars(lr, state.step), params_.data(),
                         st.m.empty() ? nullptr : st.m.data(),
                         st.v.empty() ? nullptr : st.v.data());
            host_params_stale_ = true;
        } else {
            ++state.step;
            eigen::apply_update(state.optimizer, state.optimizer.scalars(lr, state.step),
                                params_.data(), grads_.data(), state.m.data(), state.v.data(),
                                param_count);
            cpu::parameters_changed(exec_);
        }
    }

    /// One optimizer update at the optimizer's own learning rate (state.optimizer.lr).
    template <Optimizer O>
    void update(OptimizerState<O, T>& state) {
        update(state, state.optimizer.lr);
    }

    /// Copies the model's copy of an optimizer state (on the CUDA device, or in the fused CPU
    /// executor's layout) back into state.m and state.v, in the parameters' layout: call it
    /// before reading or saving them. A no-op when the state has no such copy (no update yet,
    /// or an executor that updates state.m and state.v directly).
    template <Optimizer O>
    void read_state(OptimizerState<O, T>& state) const {
        if (!state.device_state) return;
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok) {
            if (state.device_owner == &cuda_owner) {
                auto* dev = static_cast<CudaOptState*>(state.device_state.get());
                cuda::copy_to_host(state.m.data(), dev->m.data(), state.m.size(),
                                   cuda_ ? cuda_->stream.get() : nullptr);
                cuda::copy_to_host(state.v.data(), dev->v.data(), state.v.size(),
                                   cuda_ ? cuda_->stream.get() : nullptr);
            }
        }
#endif
        if constexpr (native_cpu) {
            if (state.device_owner == &cpu_owner) {
                const auto* st = static_cast<const CpuOptState*>(state.device_state.get());
                if (!st->m.empty()) cpu_exec::from_native(st->m.data(), state.m.data());
                if (!st->v.empty()) cpu_exec::from_native(st->v.data(), state.v.data());
            }
        }
    }

    /// Saves the parameters and buffers as safetensors (PyTorch names and layouts, F32; PyTorch's
    /// load_state_dict converts num_batches_tracked back to int64). The file is replaced
    /// atomically: a failed save leaves any previous file intact.
    void save(const std::filesystem::path& path) const {
        std::vector<float> f32;
        const float* base = nullptr;
        sync_host_params();
        if constexpr (std::is_same_v<T, float>) {
            base = params_.data();
        } else {
            f32.assign(params_.begin(), params_.end());
            base = f32.data();
        }
        std::vector<io::TensorView> views;
        for (const ParamEntry& e : parameter_table<Net>())
            views.push_back(
                {e.name, e.spec.shape(), std::span<const float>(base + e.offset, e.size)});
        sync_host_buffers();
        std::vector<float> buffers(buffers_.begin(), buffers_.end());
        for (const BufferEntry& e : buffer_table<Net>())
            views.push_back({e.name, e.spec.shape(),
                             std::span<const float>(buffers.data() + e.offset, e.size)});
        io::save_safetensors(path, views, {{"format", "pt"}, {"ctnn.seed", std::to_string(seed_)}});
    }

    /// Loads parameters and buffers saved by save() (or by PyTorch's safetensors for the same
    /// architecture).
    /// Every tensor of the model must be present with the same shape, and no other tensor may be:
    /// otherwise throws ctnn::shape_error naming the file and tensor, leaving the model unchanged.
    void load(const std::filesystem::path& path) {
        const io::SafetensorsFile file = io::load_safetensors(path);
        const auto table = parameter_table<Net>();
        const auto buffer_entries = buffer_table<Net>();
        std::vector<T, CacheAligned<T>> next(param_count);
        std::vector<T> next_buffers(buffer_count);
        auto read = [&](const std::string& name, const std::vector<std::int64_t>& shape,
                        std::size_t size, std::span<T> to, std::size_t offset) {
            const io::Tensor* t = file.find(name);
            if (!t)
                throw shape_error(path.string() + ": tensor '" + name +
                                  "' of the model is missing from the file");
            if (t->shape != shape || t->data.size() != size)
                throw shape_error(path.string() + ": tensor '" + name + "' has shape " +
                                  detail::dims_str(t->shape) + ", the model expects " +
                                  detail::dims_str(shape));
            std::copy(t->data.begin(), t->data.end(),
                      to.begin() + static_cast<std::ptrdiff_t>(offset));
        };
        for (const ParamEntry& e : table) read(e.name, e.spec.shape(), e.size, next, e.offset);
        for (const BufferEntry& e : buffer_entries)
            read(e.name, e.spec.shape(), e.size, next_buffers, e.offset);
        if (file.tensors.size() != table.size() + buffer_entries.size()) {
            for (const io::Tensor& t : file.tensors) {
                bool known = false;
                for (const ParamEntry& e : table) known = known || e.name == t.name;
                for (const BufferEntry& e : buffer_entries) known = known || e.name == t.name;
                if (!known)
                    throw shape_error(path.string() + ": tensor '" + t.name +
                                      "' in the file is not a parameter of the model");
            }
        }
        params_ = std::move(next);
        buffers_ = std::move(next_buffers);
        host_params_stale_ = false;
        device_params_stale_ = on_cuda();
        host_buffers_stale_ = false;
        device_buffers_stale_ = on_cuda();
        cpu::parameters_changed(exec_);
    }

    /// describe<Net>(): layers, parameters, and the stages of a pass.
    static std::string describe() { return ctnn::describe<Net>(); }

private:
    [[nodiscard]] bool on_cuda() const noexcept { return device_.kind == Device::Kind::cuda; }

    /// Every buffer at its initial value (BatchNorm: running_mean 0, running_var 1, count 0).
    static std::vector<T> initial_buffers() {
        std::vector<T> b(buffer_count, T(0));
        for (const BufferEntry& e : buffer_table<Net>())
            std::fill_n(b.begin() + static_cast<std::ptrdiff_t>(e.offset), e.size,
                        static_cast<T>(e.spec.init));
        return b;
    }

#if CTNN_CUDA_BACKEND
    static constexpr bool cuda_ok = kernel_schedule<Net>::cuda_supported;
    /// Device-side state of a model on CUDA: its stream, parameters, gradients and executor.
    struct CudaState {
        cuda::Stream stream;
        cuda::DeviceBuffer<T> params{param_count};
        cuda::DeviceBuffer<T> grads{param_count};
        cuda::DeviceBuffer<T> buffers{buffer_count}; ///< BatchNorm's running statistics
        std::conditional_t<cuda_ok, cuda::Executor<Net, T>, int> exec;
        CudaState() : exec(make_exec(stream.get())) {}
        static auto make_exec(cuda::stream_t s) {
            if constexpr (cuda_ok) return cuda::Executor<Net, T>(s);
            else return 0;
        }
    };
    /// An optimizer's m and v on the device.
    struct CudaOptState {
        cuda::DeviceBuffer<T> m, v;
    };

    template <Optimizer O>
    CudaOptState* device_state(OptimizerState<O, T>& state) {
        if (!state.device_state || state.device_owner != &cuda_owner) {
            read_state(state); // values another backend of this model type holds come back first
            auto dev = std::make_shared<CudaOptState>();
            dev->m = cuda::DeviceBuffer<T>(state.m.size());
            dev->v = cuda::DeviceBuffer<T>(state.v.size());
            cuda::copy_to_device(dev->m.data(), state.m.data(), state.m.size(),
                                 cuda_->stream.get());
            cuda::copy_to_device(dev->v.data(), state.v.data(), state.v.size(),
                                 cuda_->stream.get());
            state.device_state = std::move(dev);
            state.device_owner = &cuda_owner;
        }
        return static_cast<CudaOptState*>(state.device_state.get());
    }
    static constexpr char cuda_owner = 0; ///< its address marks an OptimizerState's CUDA copy
#endif

    /// An optimizer's m and v in the fused CPU executor's layout.
    struct CpuOptState {
        std::vector<T, CacheAligned<T>> m, v;
    };
    static constexpr char cpu_owner = 0; ///< its address marks an OptimizerState's CPU copy

    template <Optimizer O>
    CpuOptState& cpu_state(OptimizerState<O, T>& state) {
        if (!state.device_state || state.device_owner != &cpu_owner) {
            read_state(state); // values another backend of this model type holds come back first
            auto st = std::make_shared<CpuOptState>();
            if (!state.m.empty()) {
                st->m.assign(cpu_exec::native_floats, T(0));
                cpu_exec::to_native(state.m.data(), st->m.data());
            }
            if (!state.v.empty()) {
                st->v.assign(cpu_exec::native_floats, T(0));
                cpu_exec::to_native(state.v.data(), st->v.data());
            }
            state.device_state = std::move(st);
            state.device_owner = &cpu_owner;
        }
        return *static_cast<CpuOptState*>(state.device_state.get());
    }

    /// Makes `dev` the model's device (from the CPU state): checks it can run the model and
    /// uploads the parameters. On failure the model stays on the CPU.
    void attach(Device dev) {
        device_ = device::cpu();
        if (dev.kind == Device::Kind::cpu) return;
#if CTNN_CUDA_BACKEND
        if constexpr (!cuda_ok) {
            throw argument_error(std::string("Model: device ") + dev.str() +
                                 " cannot run this model: a layer has no CUDA kernel yet (see "
                                 "the 'cuda kernels' lines of describe())");
        } else {
#if CTNN_DEVICE_COMPILE
            const cuda::DeviceProbe p = cuda::probe();
            if (dev.index < 0 || dev.index >= p.count)
                throw argument_error(
                    std::string("Model: device ") + dev.str() + " is not available (" +
                    (p.count == 0 ? p.reason : std::to_string(p.count) + " device(s)") +
                    "); device::best() falls back to the CPU");
            cuda::detail::set_device(dev.index, {__FILE__, __LINE__});
#else
            if (dev.index != 0)
                throw argument_error(std::string("Model: device ") + dev.str() +
                                     " is not available: host execution has one device, cuda:0");
#endif
            cuda_ = std::make_unique<CudaState>();
            device_ = dev;
            device_params_stale_ = true;
            sync_device_params();
            cuda::copy_to_device(cuda_->grads.data(), grads_.data(), param_count,
                                 cuda_->stream.get());
            device_buffers_stale_ = true;
            sync_device_buffers();
            host_params_stale_ = false;
            host_grads_stale_ = false;
            host_buffers_stale_ = false;
        }
#else
        throw argument_error(std::string("Model: device ") + dev.str() +
                             " is not available: this translation unit was compiled without "
                             "CUDA (build it with nvcc, or define CTNN_HOST_EXECUTION=1 to run "
                             "the CUDA kernels on the CPU for testing)");
#endif
    }

    /// Leaves the device (host copies must be current): frees the device state.
    void detach() noexcept {
#if CTNN_CUDA_BACKEND
        cuda_.reset();
#endif
        device_ = device::cpu();
        batch_ = 0;
        host_params_stale_ = device_params_stale_ = host_grads_stale_ = false;
        host_buffers_stale_ = device_buffers_stale_ = false;
        cpu::parameters_changed(exec_);
    }

    void sync_host_params() const {
        if (!host_params_stale_) return;
#if CTNN_CUDA_BACKEND
        if (cuda_) {
            cuda::copy_to_host(params_.data(), cuda_->params.data(), param_count,
                               cuda_->stream.get());
            host_params_stale_ = false;
            return;
        }
#endif
        if constexpr (native_cpu) exec_.read_parameters(params_.data());
        host_params_stale_ = false;
    }
    void sync_host_grads() const {
        if (!host_grads_stale_) return;
#if CTNN_CUDA_BACKEND
        if (cuda_) {
            cuda::copy_to_host(grads_.data(), cuda_->grads.data(), param_count,
                               cuda_->stream.get());
            host_grads_stale_ = false;
            return;
        }
#endif
        if constexpr (native_cpu) exec_.read_gradients(grads_.data());
        host_grads_stale_ = false;
    }
    void sync_host_buffers() const {
#if CTNN_CUDA_BACKEND
        if (host_buffers_stale_ && cuda_) {
            cuda::copy_to_host(buffers_.data(), cuda_->buffers.data(), buffer_count,
                               cuda_->stream.get());
            host_buffers_stale_ = false;
        }
#endif
    }
    void sync_device_buffers() {
#if CTNN_CUDA_BACKEND
        if (device_buffers_stale_ && cuda_) {
            cuda::copy_to_device(cuda_->buffers.data(), buffers_.data(), buffer_count,
                                 cuda_->stream.get());
            device_buffers_stale_ = false;
        }
#endif
    }
    void sync_device_params() {
#if CTNN_CUDA_BACKEND
        if (device_params_stale_ && cuda_) {
            cuda::copy_to_device(cuda_->params.data(), params_.data(), param_count,
                                 cuda_->stream.get());
            device_params_stale_ = false;
        }
#endif
    }

    Device device_;
    /// Host copies (mutable: refreshed from the device), cache-line aligned for the CPU kernels.
    mutable std::vector<T, CacheAligned<T>> params_, grads_;
    mutable std::vector<T> buffers_; // non-trainable state (host copy; refreshed from the device)
    cpu::executor_for<Net, T> exec_; // fused, batch-parallel Eigen or Eigen (cpu::executor_for)
#if CTNN_CUDA_BACKEND
    std::unique_ptr<CudaState> cuda_;
    std::vector<T> out_; // host copy of the device output
#endif
    /// The device (or the fused CPU executor) has newer parameters / gradients than params_ /
    /// grads_; the host has newer parameters than the device.
    mutable bool host_params_stale_ = false;
    bool device_params_stale_ = false;
    mutable bool host_grads_stale_ = false;
    mutable bool host_buffers_stale_ = false; ///< the device has newer buffers (a training pass)
    bool device_buffers_stale_ = false;       ///< the host has newer buffers
    std::uint64_t seed_ = 0, step_ = 0;
    std::size_t batch_ = 0;
};

} // namespace ctnn
