// ctnn/model.hpp — Model<Net>: a network type with its parameters, on a device.
//
// The parameters of the whole model live in ONE flat buffer (param_count floats, offsets known at
// compile time, PyTorch names and layouts). Gradients mirror it. A Model runs the forward pass,
// the backward pass and optimizer updates through its backend; the training loop (train/train.hpp)
// and checkpoint IO (save/load) are built on these.
//
// Backends: the CPU always (cpu::executor_for: the fused MLP executor, Eigen split by batch, or
// Eigen); CUDA (model/cuda_side.hpp) where CTNN_CUDA_BACKEND is 1 (nvcc, or CTNN_HOST_EXECUTION=1
// for tests). Each flat buffer (parameters, gradients, BatchNorm's running statistics) is a Mirror
// (model/state.hpp): a host copy in PyTorch's layout, and the backend's copy (on the device, or the
// fused executor's packed layout), with a record of which is newest. parameters(), gradients(),
// buffers() and save() refresh the host copy with one copy of the buffer when the backend has
// newer values; a host write through parameters() or buffers() reaches the backend before its
// next use. The backend sides are held through interfaces, so Model<Net> has the same members in
// every translation unit whatever it was compiled with.
#pragma once
#include "backend/cpu/denormal.hpp"
#include "backend/cpu/eigen/update.hpp"
#include "backend/cpu/executor.hpp"
#include "backend/cuda/memory.hpp"
#include "backend/cuda/schedule.hpp"
#include "backend/device.hpp"
#include "config.hpp"
#include "core/aligned.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/init.hpp"
#include "core/precision.hpp"
#include "graph/sequential.hpp"
#include "loss/loss.hpp"
#include "model/checkpoint.hpp"
#include "model/core.hpp"
#include "model/cpu_side.hpp"
#include "model/cuda_side.hpp"
#include "model/describe.hpp"
#include "model/loss_scale.hpp"
#include "model/state.hpp"
#include "optim/optimizer.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ctnn {

/// A model of type Net with its parameters and workspace, on a device. P is its number format
/// (core/precision.hpp): float (the default), double (for gradient checks and science), or a
/// mixed precision, precision::bf16 or precision::fp16, whose matrix products read 16-bit
/// operands (on CUDA's tensor cores; on the CPU rounded copies multiplied in fp32) while its
/// stored values stay float. fp16 trains with dynamic loss scaling (loss_scaler()).
template <Network Net, ModelNumber P = float>
class Model : public detail::ModelCore<scalar_of<P>> {
    using T = scalar_of<P>;
    using Core = detail::ModelCore<T>;
    /// fp16: loss() scales the gradient, backward() unscales and checks it (model/loss_scale.hpp).
    static constexpr bool loss_scaled = gemm_operands_of<P> == GemmOperands::fp16;

public:
    using network = Net;
    /// The type of stored values: parameters, activations, gradients (float for a mixed P).
    using scalar = T;
    /// The number format P.
    using number = P;
    /// The format the matrix products read their operands in (GemmOperands::scalar: T itself).
    static constexpr GemmOperands gemm_operands = gemm_operands_of<P>;
    static constexpr std::size_t in_size = Net::in_size;
    static constexpr std::size_t out_size = Net::out_size;
    static constexpr std::size_t param_count = Net::param_count;
    /// Values of non-trainable state (BatchNorm's running statistics), stored apart from the
    /// parameters: saved and loaded with them, never touched by an optimizer.
    static constexpr std::size_t buffer_count = Net::buffer_count;

private:
    using Buf = detail::Buf;
    using Newest = detail::Newest;
    using cpu_exec = cpu::executor_for<Net, T, gemm_operands_of<P>>;
    using CpuSide = detail::CpuSide<cpu_exec, T>;
    /// The CPU executor trains in its own layout (cpu::FusedExecutor): backward() leaves the
    /// gradients there and update() updates its packed weights (the Mirrors' backend copy).
    static constexpr bool native_cpu = CpuSide::native;
    static constexpr bool cuda_ok = kernel_schedule<Net>::cuda_supported;

public:
    /// A model on `dev`. Parameters start at zero: call init() (or load()) before use.
    /// Throws ctnn::argument_error if `dev` cannot run this model (a CUDA device in a build without
    /// CUDA, no such GPU, a layer without CUDA kernels), ctnn::cuda_error if the GPU fails.
    explicit Model(Device dev = best_device()) : Core(param_count, initial_buffers()) {
        attach(dev);
    }

    /// device::best() for this model: the GPU only when every layer of Net has CUDA kernels
    /// (otherwise the CPU, saying so once on stderr). The default device of a Model.
    static Device best_device() { return Core::best_device_for(cuda_ok); }

    /// A copy on the same device, with the same parameters, gradients, seed, step and loss
    /// scaling (the workspace is not shared; on CUDA the copy needs a forward() before
    /// loss()/backward()).
    Model(const Model& o) : Core(o), scaler_(o.scaler_), seed_scale_(o.seed_scale_) {
        attach(o.device_);
    }
    Model& operator=(const Model& o) {
        if (this != &o) *this = Model(o);
        return *this;
    }
    Model(Model&&) noexcept = default;
    Model& operator=(Model&&) noexcept = default;
    ~Model() = default;

    using Core::device;

    /// Moves the model to `dev` (parameters are copied as one flat buffer; workspaces are
    /// released). Gradients of the last backward() are kept. Optimizer states follow at their
    /// next update (their copy is read back and made again on the new device).
    void to(Device dev) {
        const Use use(use_, "Model::to");
        if (dev == device_) return;
        this->leave_device();
        attach(dev); // on failure the model is left on the CPU with its parameters
    }

    /// Initializes all parameters from `seed` (reproducible: the same seed gives the same model on
    /// every backend and machine). Also seeds Dropout masks.
    void init(std::uint64_t seed_value, Init scheme = Init::kaiming_uniform) {
        const Use use(use_, "Model::init");
        this->initialize(seed_value, scheme, parameter_table<Net>(), initial_buffers());
    }

    // parameters(), buffers(), gradients(), clip_grad_norm(), step(), set_step(), seed() and
    // read_state(): detail::ModelCore (model/core.hpp).
    using Core::buffers, Core::clip_grad_norm, Core::gradients, Core::parameters, Core::read_state,
        Core::seed, Core::set_step, Core::step;

    /// The CPU executor (cpu::executor_for<Net, T>), for inspection: e.g. how many threads the
    /// last pass was split into (cpu::BatchParallel::last_parts).
    [[nodiscard]] const cpu_exec& cpu_executor() const { return cpu(); }

    /// An optimizer state for this model: `optimizer` and its buffers, sized for its parameters.
    template <Optimizer O>
    [[nodiscard]] OptimizerState<O, T> make_state(const O& optimizer) const {
        return OptimizerState<O, T>(optimizer, param_count);
    }

    /// An fp16 model's dynamic loss scaling: its scale, the steps it skipped, whether the last
    /// backward() overflowed; assign LossScaler(LossScaling{...}) for other settings.
    LossScaler& loss_scaler() noexcept requires loss_scaled { return scaler_; }
    const LossScaler& loss_scaler() const noexcept requires loss_scaled { return scaler_; }

    /// Preallocates workspace for batches of up to `batch` samples, so that later forward and
    /// backward passes of at most that size do not allocate.
    void reserve(std::size_t batch) {
        const Use use(use_, "Model::reserve");
        if (on_cuda()) return on_device([&](auto& c) { c.reserve(batch); });
        cpu().reserve(batch);
    }

    /// Forward pass on `batch` samples ([batch, in_size] row-major). Returns the output
    /// [batch, out_size], valid until the next forward(). In training mode, keeps what backward()
    /// needs (x must stay alive until then) and draws a new Dropout mask per call.
    std::span<const T> forward(std::span<const T> x, std::size_t batch,
                               Mode mode = Mode::inference) {
        const Use use(use_, "Model::forward");
        if (batch == 0) throw argument_error("Model::forward: batch size is 0");
        if (x.size() != batch * in_size)
            detail::throw_bad_input(x.size(), batch, in_size, Net::in_shape::str());
        const ElemCtx ctx = pass_context(mode);
        batch_ = batch;
        if (on_cuda()) {
            push(params_, Buf::params);
            push(buffers_, Buf::buffers);
            const auto y = on_device<std::span<const T>>(
                [&](auto& c) { return c.forward(x.data(), batch, ctx); });
            if (ctx.training && buffer_count > 0) buffers_.mark(Newest::backend);
            return y;
        }
        auto& e = cpu_ready();
        const T* y = e.forward(params_.host.data(), x.data(), batch, ctx, buffers_.host.data());
        return {y, batch * out_size};
    }

    /// Forward pass on as many samples as x holds ([batch, in_size] row-major; batch =
    /// x.size() / in_size). Throws ctnn::shape_error if x.size() is not a positive multiple of
    /// in_size.
    std::span<const T> forward(std::span<const T> x, Mode mode = Mode::inference) {
        return forward(x, batch_of(x), mode);
    }

    /// Inference on as many samples as x holds (batch = x.size() / in_size), returning a copy of
    /// the outputs ([batch, out_size]). Safe to call from many threads at once on one model
    /// (docs/reliability.md, "Threads"): each call runs on an executor of the model's own, taken
    /// from a pool that grows to the number of concurrent calls (on CUDA the calls take turns on
    /// one). It leaves the last forward() pass alone. Throws ctnn::shape_error if x.size() is not
    /// a positive multiple of in_size, ctnn::concurrency_error if another call than predict()
    /// is using the model.
    [[nodiscard]] std::vector<T> predict(std::span<const T> x) const {
        std::vector<T> y(batch_of(x) * out_size);
        predict(x, std::span<T>(y));
        return y;
    }

    /// predict(x) into caller memory: y must hold batch * out_size values (batch = x.size() /
    /// in_size), else ctnn::shape_error; x and y must not overlap.
    void predict(std::span<const T> x, std::span<T> y) const {
        const std::size_t batch = batch_of(x);
        check_output(y.size(), batch);
        const typename detail::UseCheck::Shared use(use_, "Model::predict");
        const ElemCtx ctx = inference_context();
        if (on_cuda()) {
            device_predict([&](auto& c) { c.predict(x.data(), batch, ctx, y.data()); });
            return;
        }
        // (fresh: the fused executor's update leaves the parameters in its layout)
        detail::predict_on_pool<cpu_exec>(
            *pool_, params_, [&] { fresh(params_, Buf::params); }, buffers_.host.data(), x.data(),
            batch, ctx, y.data(), out_size);
    }

    /// predict(x, y) from and into page-locked host buffers (cuda::HostBuffer, e.g. reused for
    /// every frame of a camera). On CUDA a mapped x is read by the kernels in place (no copy: on
    /// a Jetson, CPU and GPU share the memory) and a mapped y is written by one copy on the device
    /// (no host staging); pinned buffers are copied by DMA. On the CPU, predict(x, y) on their
    /// memory. The batch is x.size() / in_size; y.size() must be batch * out_size.
    void predict(const cuda::HostBuffer<T>& x, cuda::HostBuffer<T>& y) const {
        const std::span<const T> xs(x.data(), x.size());
        if (!on_cuda()) return predict(xs, std::span<T>(y.data(), y.size()));
        const std::size_t batch = batch_of(xs);
        check_output(y.size(), batch);
        const typename detail::UseCheck::Shared use(use_, "Model::predict");
        const ElemCtx ctx = inference_context();
        device_predict([&](auto& c) { c.predict_buffers(x, batch, ctx, y); });
    }

    /// CUDA: runs the model's work from now on on `stream` (a stream the caller created and
    /// keeps alive; nullptr: the legacy default stream) instead of its own, so that it orders
    /// with the caller's kernels and copies without a device-wide synchronization. Waits for the
    /// work already queued on the previous stream first. Throws ctnn::argument_error when the
    /// model is not on CUDA.
    void set_cuda_stream(cuda::stream_t stream) {
        const Use use(use_, "Model::set_cuda_stream");
        require_cuda("Model::set_cuda_stream");
        on_device([&](auto& c) { c.set_stream(stream); });
    }
    /// CUDA: predict(const HostBuffer&, HostBuffer&) captures its pass (input copy or binding,
    /// kernels, output copy) into a CUDA graph at the first call for a pair of buffers and a
    /// batch, and replays it with one launch at the next ones (the buffers' addresses are part
    /// of the graph: reuse the same buffers, as a camera loop does; other buffers, another batch
    /// or another stream capture anew). Off by default; the parameters may change between calls
    /// (the graph reads them where they are). Throws ctnn::argument_error when the model is not
    /// on CUDA.
    void use_cuda_graphs(bool on) {
        const Use use(use_, "Model::use_cuda_graphs");
        require_cuda("Model::use_cuda_graphs");
        on_device([&](auto& c) { c.set_graphs(on); });
    }

    /// The CUDA stream the model's work runs on (its own unless set_cuda_stream gave one).
    [[nodiscard]] cuda::stream_t cuda_stream() const {
        require_cuda("Model::cuda_stream");
        return const_cast<Model&>(*this).template on_device<cuda::stream_t>(
            [](auto& c) { return c.current_stream(); });
    }

    /// Computes the loss of the last forward pass against `targets`, and dLoss/dOutput for
    /// backward(). Returns the mean loss of the batch. The targets the loss reads must match the
    /// batch: one label per sample (losses on classes), or batch x out_size values; otherwise
    /// throws ctnn::shape_error naming both sizes. A label outside [0, out_size) throws
    /// ctnn::argument_error. (fp16: dLoss/dOutput is multiplied by loss_scaler().scale(); the
    /// returned loss is not.)
    template <Loss L>
    T loss(const L& l, loss::Targets<T> targets) {
        const Use use(use_, "Model::loss");
        static_assert(L::template check<typename Net::out_shape>());
        if (batch_ == 0) throw argument_error("Model::loss: call forward() first");
        loss::check_targets<L, typename Net::out_shape>(targets, batch_);
        T scale = T(1);
        if constexpr (loss_scaled) scale = seed_scale_ = scaler_.scale();
        if (on_cuda()) return on_device<T>([&](auto& c) { return c.loss(l, targets, scale); });
        auto& e = cpu();
        const T value = l(e.output(), targets, batch_, out_size, e.output_grad());
        if constexpr (loss_scaled)
            for (std::size_t i = 0; i < batch_ * out_size; ++i) e.output_grad()[i] *= scale;
        return value;
    }

    /// Backward pass of the last training-mode forward(): fills gradients(). (fp16: divides
    /// them by the loss scale of the last loss() and checks them; a non-finite one makes the
    /// next update() a skipped step and backs the scale off.)
    void backward() {
        const Use use(use_, "Model::backward");
        if (batch_ == 0) throw argument_error("Model::backward: call forward() and loss() first");
        [[maybe_unused]] const T inv = T(1) / seed_scale_;
        if (on_cuda()) {
            on_device([](auto& c) { c.backward(); });
            grads_.mark(Newest::backend);
            if constexpr (loss_scaled)
                scaler_.checked(on_device<bool>([&](auto& c) { return c.unscale(inv); }));
            return;
        }
        auto& e = cpu_ready();
        e.backward(params_.host.data(), native_cpu ? nullptr : grads_.host.data());
        grads_.newest = native_cpu ? Newest::backend : Newest::both;
        if constexpr (loss_scaled) // no fused executor for a mixed precision: grads_ is the copy
            scaler_.checked(detail::unscale_gradients(grads_.host.data(), param_count, inv));
    }

    /// The gradient of the mean loss `l` against `targets` with respect to the input x
    /// ([batch, in_size] row-major; batch = x.size() / in_size), [batch, in_size]: what
    /// torch.autograd.grad(loss, x) gives, for saliency maps and adversarial examples. Runs a
    /// forward pass in `mode` (inference by default: BatchNorm's running statistics, no Dropout;
    /// a training pass updates the statistics and advances step() as forward() does), the loss
    /// and a backward pass through every stage to the input, on the model's device, with a
    /// workspace of its own (made at the first call; on the CPU single-threaded, on Eigen's
    /// evaluators): gradients() and the output of the last forward() are left as they were.
    /// Throws ctnn::shape_error if x.size() is not a positive multiple of in_size or the targets
    /// do not match the batch, ctnn::argument_error for a label outside [0, out_size).
    template <Loss L>
    std::vector<T> input_gradient(std::span<const T> x, const L& l, loss::Targets<T> targets,
                                  Mode mode = Mode::inference) {
        const Use use(use_, "Model::input_gradient");
        static_assert(L::template check<typename Net::out_shape>());
        const std::size_t batch = batch_of(x);
        loss::check_targets<L, typename Net::out_shape>(targets, batch, "Model::input_gradient",
                                                        "the batch of the input");
        const ElemCtx ctx = pass_context(mode);
        std::vector<T> dx(x.size());
        if (on_cuda()) {
            push(params_, Buf::params);
            push(buffers_, Buf::buffers);
            on_device(
                [&](auto& c) { c.input_gradient(x.data(), batch, ctx, l, targets, dx.data()); });
            if (ctx.training && buffer_count > 0) buffers_.mark(Newest::backend);
            return dx;
        }
        if (!input_grad_) input_grad_ = std::make_unique<InputGradSide>();
        auto& s = static_cast<InputGradSide&>(*input_grad_);
        const T* params = fresh(params_, Buf::params).data();
        s.exec.forward(params, x.data(), batch, ctx, buffers_.host.data());
        l(s.exec.output(), targets, batch, out_size, s.exec.output_grad());
        const T* g = s.exec.backward(params, s.grads.data());
        std::copy_n(g, dx.size(), dx.begin());
        return dx;
    }

    /// Applies one optimizer update with learning rate `lr` (a schedule's value for this step; it
    /// replaces state.optimizer.lr, which update(state) uses) to all parameters (one pass). Throws
    /// ctnn::argument_error if `state` was made for another number of parameters. (fp16: after
    /// a backward() with a non-finite gradient, a skipped step: nothing changes.)
    template <Optimizer O>
    void update(OptimizerState<O, T>& state, float lr) {
        const Use use(use_, "Model::update");
        if (state.m.size() != (O::state_count >= 1 ? param_count : 0) ||
            state.v.size() != (O::state_count >= 2 ? param_count : 0))
            Core::throw_state_size(O::name(), state.m.size(), state.v.size(), param_count);
        if constexpr (loss_scaled) {
            if (scaler_.take_skip()) return;
            scaler_.stepped();
        }
        if (on_cuda()) {
            push(params_, Buf::params);
            push(grads_, Buf::grads); // written on the host (clip_grad_norm)
            on_device([&](auto& c) { c.update(state, lr); });
            params_.mark(Newest::backend);
            return;
        }
        // Denormal optimizer state (decayed where gradients stay zero) is flushed to zero: on x86
        // each vector instruction touching one takes a ~100-cycle assist
        // (backend/cpu/denormal.hpp).
        const cpu::FlushDenormals flush;
        auto& e = cpu_ready();
        push(grads_, Buf::grads); // written on the host (clip_grad_norm)
        ++state.step;
        const auto scalars = state.optimizer.scalars(lr, state.step);
        if constexpr (native_cpu) {
            // The executor's accumulators hold the current gradients (a copy of the model copies
            // the executor with them).
            auto& st = detail::cpu_state_copy<cpu_exec>(state, [&] { read_state(state); });
            e.update(state.optimizer, scalars, params_.host.data(),
                     st.m.empty() ? nullptr : st.m.data(), st.v.empty() ? nullptr : st.v.data());
            params_.mark(Newest::backend);
        } else {
            read_state(state); // a copy another backend made comes back first
            state.copy.reset();
            eigen::apply_update(state.optimizer, scalars, params_.host.data(), grads_.host.data(),
                                state.m.data(), state.v.data(), param_count);
            params_.mark(Newest::host);
        }
    }

    /// One optimizer update at the optimizer's own learning rate (state.optimizer.lr).
    template <Optimizer O>
    void update(OptimizerState<O, T>& state) {
        update(state, state.optimizer.lr);
    }

    /// Saves the parameters and buffers as safetensors (PyTorch names and layouts, F32; PyTorch's
    /// load_state_dict converts num_batches_tracked back to int64). The file is replaced
    /// atomically: a failed save leaves any previous file intact.
    void save(const std::filesystem::path& path) const {
        const Use use(use_, "Model::save");
        detail::save_checkpoint<Net, T>(path, fresh(params_, Buf::params),
                                        fresh(buffers_, Buf::buffers), seed_);
    }

    /// Loads parameters and buffers saved by save() (or by PyTorch's safetensors for the same
    /// architecture). Every tensor of the model must be present with the same shape, and no
    /// other tensor may be: otherwise throws ctnn::shape_error naming the file and tensor,
    /// leaving the model unchanged.
    void load(const std::filesystem::path& path) {
        const Use use(use_, "Model::load");
        detail::load_checkpoint<Net>(path, params_.host, buffers_.host);
        params_.mark(Newest::host);
        buffers_.mark(Newest::host);
    }

    /// describe<Net>(): layers, parameters, and the stages of a pass; for a mixed precision, what
    /// runs in it (detail::precision_lines).
    static std::string describe() {
        if constexpr (gemm_operands == GemmOperands::scalar) return ctnn::describe<Net>();
        else return ctnn::describe<Net>() + detail::precision_lines<Net>(gemm_operands);
    }

private:
    /// The samples in x ([batch, in_size]); throws ctnn::shape_error unless x.size() is a
    /// positive multiple of in_size.
    static std::size_t batch_of(std::span<const T> x) {
        if (x.empty() || x.size() % in_size != 0)
            detail::throw_bad_input(x.size(), 0, in_size, Net::in_shape::str());
        return x.size() / in_size;
    }

    /// Throws ctnn::shape_error unless an output of n values fits a batch of `batch` samples.
    static void check_output(std::size_t n, std::size_t batch) {
        if (n != batch * out_size)
            throw shape_error("Model::predict: the output holds " + std::to_string(n) +
                              " values, but " + std::to_string(batch) + " samples of " +
                              std::to_string(out_size) + " outputs need " +
                              std::to_string(batch * out_size));
    }

    /// Throws ctnn::argument_error naming `who` unless the model is on CUDA.
    void require_cuda(const char* who) const {
        if (!on_cuda())
            throw argument_error(std::string(who) + ": the model is on " + device_.str() +
                                 ", not on CUDA");
    }

    /// The element context of an inference pass (no Dropout, no step).
    ElemCtx inference_context() const {
        ElemCtx ctx;
        ctx.seed = seed_;
        return ctx;
    }

    /// predict() on the CUDA side: the current parameters and buffers uploaded, f(the side),
    /// the concurrent predict() calls taking turns.
    template <class F>
    void device_predict(F&& f) const {
        auto& self = const_cast<Model&>(*this);
        const std::lock_guard lock(pool_->mutex);
        self.push(params_, Buf::params);
        self.push(buffers_, Buf::buffers);
        self.on_device(std::forward<F>(f));
    }

    /// The element context of a pass in `mode`: a training pass takes the next step (Dropout).
    ElemCtx pass_context(Mode mode) {
        ElemCtx ctx;
        ctx.seed = seed_;
        ctx.training = mode == Mode::training;
        ctx.step = ctx.training ? ++step_ : 0;
        return ctx;
    }

    /// This translation unit can run the model on CUDA.
    static constexpr bool cuda_built = CTNN_CUDA_BACKEND && cuda_ok;

    using Use = detail::UseCheck::Exclusive;

    /// input_gradient's CPU executor (gradients to the input) and its unread parameter gradients.
    struct InputGradSide final : detail::Workspace {
        eigen::Executor<Net, T, true, gemm_operands_of<P>> exec;
        std::vector<T> grads = std::vector<T>(param_count);
    };

    /// Every buffer at its initial value (BatchNorm: running_mean 0, running_var 1, count 0).
    static std::vector<T> initial_buffers() {
        return Core::initial_buffers(buffer_count, buffer_table<Net>());
    }

    /// The CPU executor of this translation unit's configuration. A model made or last run where
    /// the executor type differs (another cpu::executor_for) reads the values the old one holds
    /// back, then replaces it (a new executor packs its weights from the host copy at first use).
    cpu_exec& cpu() const {
        if (!cpu_ || cpu_->kind != &CpuSide::tag) {
            if (cpu_ && !device_side_) {
                fresh(params_, Buf::params);
                fresh(grads_, Buf::grads);
            }
            cpu_ = std::make_unique<CpuSide>();
        }
        return static_cast<CpuSide&>(*cpu_).exec;
    }
    /// cpu(), after handing it the host's newer parameters.
    cpu_exec& cpu_ready() {
        cpu_exec& e = cpu();
        push(params_, Buf::params);
        return e;
    }

    /// f(the device side), where this translation unit can run the model on CUDA. A model moved
    /// to CUDA where that was compiled, then used where it was not, keeps its values readable
    /// (parameters(), save()) but cannot run a pass here.
    template <class R = void, class F>
    R on_device(F&& f) {
#if CTNN_CUDA_BACKEND
        if constexpr (cuda_ok)
            return f(static_cast<detail::CudaSide<Net, T, gemm_operands>&>(*device_side_));
#endif
        (void)f;
        throw argument_error(std::string("Model: this model is on ") + device_.str() +
                             ", but this translation unit was compiled without CUDA for it");
    }

    /// Makes `dev` the model's device (from the CPU state): checks it can run the model and
    /// uploads the flat buffers. On failure the model stays on the CPU.
    void attach(Device dev) {
        device_ = device::cpu();
        if (dev.kind == Device::Kind::cpu) return;
        if constexpr (!cuda_ok) {
            throw argument_error(std::string("Model: device ") + dev.str() +
                                 " cannot run this model: a layer has no CUDA kernel yet (see "
                                 "the 'cuda kernels' lines of describe())");
        } else if constexpr (!cuda_built) {
            throw argument_error(std::string("Model: device ") + dev.str() +
                                 " is not available: this translation unit was compiled without "
                                 "CUDA (build it with nvcc, or define CTNN_HOST_EXECUTION=1 to "
                                 "run the CUDA kernels on the CPU for testing)");
        } else {
#if CTNN_CUDA_BACKEND
            auto side = detail::CudaSide<Net, T, gemm_operands>::make(dev);
            side->push(Buf::params, params_.host.data());
            side->push(Buf::grads, grads_.host.data());
            side->push(Buf::buffers, buffers_.host.data());
            this->attached(std::move(side), dev);
#endif
        }
    }

    /// fp16: the loss scaling, and the scale the last loss() seeded backward() with.
    [[no_unique_address]] std::conditional_t<loss_scaled, LossScaler, detail::NoLossScaler> scaler_;
    T seed_scale_ = T(1);

    using Core::batch_, Core::buffers_, Core::cpu_, Core::device_, Core::device_side_, Core::fresh,
        Core::grads_, Core::input_grad_, Core::on_cuda, Core::params_, Core::pool_, Core::push,
        Core::seed_, Core::step_, Core::use_;
};

/// Clips the gradients of `model`'s last backward() by their global L2 norm and returns that norm
/// before clipping: PyTorch's torch.nn.utils.clip_grad_norm_ (see Model::clip_grad_norm).
template <class Net, class P>
float clip_grad_norm(Model<Net, P>& model, float max_norm) {
    return model.clip_grad_norm(max_norm);
}

} // namespace ctnn
