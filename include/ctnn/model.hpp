// ctnn/model.hpp — Model<Net>: a network type with its parameters, on a device.
//
// The parameters of the whole model live in ONE flat buffer (param_count floats, offsets known at
// compile time, PyTorch names and layouts). Gradients mirror it. A Model runs the forward pass,
// the backward pass and optimizer updates through its backend; the training loop (train/train.hpp)
// and checkpoint IO (save/load) are built on these.
#pragma once
#include "backend/eigen/executor.hpp"
#include "backend/eigen/update.hpp"
#include "config.hpp"
#include "core/device.hpp"
#include "core/error.hpp"
#include "core/init.hpp"
#include "graph/describe.hpp"
#include "graph/sequential.hpp"
#include "io/safetensors.hpp"
#include "loss/loss.hpp"
#include "optim/optimizer.hpp"

#include <cstdint>
#include <filesystem>
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
    std::vector<T> m, v;    ///< state buffers (those the optimizer uses)
    std::uint64_t step = 0; ///< number of updates applied

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

    /// A model on `dev`. Parameters start at zero: call init() (or load()) before use.
    explicit Model(Device dev = device::best())
        : device_(dev), params_(param_count, T(0)), grads_(param_count, T(0)) {
        if (dev.kind != Device::Kind::cpu)
            throw argument_error(std::string("Model: device ") + dev.str() +
                                 " is not available: ctnn was built without CUDA support");
    }

    [[nodiscard]] Device device() const noexcept { return device_; }

    /// Initializes all parameters from `seed` (reproducible: the same seed gives the same model on
    /// every backend and machine). Also seeds Dropout masks.
    void init(std::uint64_t seed, Init scheme = Init::kaiming_uniform) {
        seed_ = seed;
        step_ = 0;
        for (const ParamEntry& e : parameter_table<Net>())
            detail::init_tensor(params_.data() + e.offset, e.offset, e.spec, scheme, seed);
    }

    /// The flat parameter buffer (PyTorch layout; see parameter_table<Net>() for names/offsets).
    [[nodiscard]] std::span<T> parameters() noexcept { return params_; }
    [[nodiscard]] std::span<const T> parameters() const noexcept { return params_; }
    /// Gradients of the last backward(), same layout as parameters().
    [[nodiscard]] std::span<const T> gradients() const noexcept { return grads_; }

    /// The training-step counter that keys Dropout masks (incremented by each training-mode
    /// forward). Restoring it replays a step exactly: used to resume training and by gradient
    /// checks.
    [[nodiscard]] std::uint64_t step() const noexcept { return step_; }
    void set_step(std::uint64_t step) noexcept { step_ = step; }
    /// The seed given to init(): it keys Dropout masks as well.
    [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

    /// Preallocates workspace for batches of up to `batch` samples, so that later forward and
    /// backward passes of at most that size do not allocate.
    void reserve(std::size_t batch) { exec_.reserve(batch); }

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
        const T* y = exec_.forward(params_.data(), x.data(), batch, ctx);
        return {y, batch * out_size};
    }

    /// Computes the loss of the last forward pass against `targets`, and dLoss/dOutput for
    /// backward(). Returns the mean loss of the batch.
    template <Loss L>
    T loss(const L& l, loss::Targets<T> targets) {
        static_assert(L::template check<typename Net::out_shape>());
        if (batch_ == 0) throw argument_error("Model::loss: call forward() first");
        return l(exec_.output(), targets, batch_, out_size, exec_.output_grad());
    }

    /// Backward pass of the last training-mode forward(): fills gradients().
    void backward() {
        if (batch_ == 0) throw argument_error("Model::backward: call forward() and loss() first");
        exec_.backward(params_.data(), grads_.data());
    }

    /// Applies one optimizer update with learning rate `lr` to all parameters (one pass).
    template <Optimizer O>
    void update(OptimizerState<O, T>& state, float lr) {
        ++state.step;
        eigen::apply_update(state.optimizer, state.optimizer.scalars(lr, state.step),
                            params_.data(), grads_.data(), state.m.data(), state.v.data(),
                            param_count);
    }

    /// Saves the parameters as safetensors (PyTorch names and layouts, F32). The file is replaced
    /// atomically: a failed save leaves any previous file intact.
    void save(const std::filesystem::path& path) const {
        std::vector<float> f32;
        const float* base = nullptr;
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
        io::save_safetensors(path, views, {{"format", "pt"}, {"ctnn.seed", std::to_string(seed_)}});
    }

    /// Loads parameters saved by save() (or by PyTorch's safetensors for the same architecture).
    /// Every tensor of the model must be present with the same shape, and no other tensor may be:
    /// otherwise throws ctnn::shape_error naming the file and tensor, leaving the model unchanged.
    void load(const std::filesystem::path& path) {
        const io::SafetensorsFile file = io::load_safetensors(path);
        const auto table = parameter_table<Net>();
        std::vector<T> next(param_count);
        for (const ParamEntry& e : table) {
            const io::Tensor* t = file.find(e.name);
            if (!t)
                throw shape_error(path.string() + ": tensor '" + e.name +
                                  "' of the model is missing from the file");
            if (t->shape != e.spec.shape() || t->data.size() != e.size)
                throw shape_error(path.string() + ": tensor '" + e.name + "' has shape " +
                                  detail::dims_str(t->shape) + ", the model expects " +
                                  detail::dims_str(e.spec.shape()));
            std::copy(t->data.begin(), t->data.end(),
                      next.begin() + static_cast<std::ptrdiff_t>(e.offset));
        }
        if (file.tensors.size() != table.size()) {
            for (const io::Tensor& t : file.tensors) {
                bool known = false;
                for (const ParamEntry& e : table) known = known || e.name == t.name;
                if (!known)
                    throw shape_error(path.string() + ": tensor '" + t.name +
                                      "' in the file is not a parameter of the model");
            }
        }
        params_ = std::move(next);
    }

    /// describe<Net>(): layers, parameters, and the stages of a pass.
    static std::string describe() { return ctnn::describe<Net>(); }

private:
    Device device_;
    std::vector<T> params_, grads_;
    eigen::Executor<Net, T> exec_;
    std::uint64_t seed_ = 0, step_ = 0;
    std::size_t batch_ = 0;
};

} // namespace ctnn
