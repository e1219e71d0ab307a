// ctnn/model/quantized.hpp — int8 post-training quantization: quantize() and QuantizedModel<Net>.
//
//   Model<Net> m;  ... train(m, ...);
//   QuantizedModel<Net> q = quantize(m, calibration_images);            // max |x| calibration
//   auto q99 = quantize(m, calibration_images, Calibration::percentile_of(99.99));
//   q.forward(x);  evaluate(q, test, loss::SoftmaxCrossEntropy{});  q.save("m.int8.safetensors");
//   q.to(device::cuda());                       // int8 inference on the GPU (dp4a GEMMs)
//
// A quantized model runs inference only. Its Dense stages on flat features and its Conv2D
// stages multiply int8 inputs by int8 weights in int32 (per-output-channel weight scales,
// per-tensor input scales from calibration; arithmetic: core/quantize.hpp) and dequantize the
// sums before the bias and the fused epilogue; every other stage runs in fp32 as in the source
// model (describe() lists which). It keeps the source model's fp32 parameters, from which the
// int8 weights are made (again, identically, after load()), and saves them with the input scales
// ("<layer>.input_scale" tensors beside the weights). On the CPU (eigen::Executor with
// GemmOperands::int8, eigen/eval/int8.hpp) or on CUDA (cuda::Executor with GemmOperands::int8,
// cuda/eval/int8.hpp: dp4a GEMMs, model/cuda_side.hpp's QuantizedCudaSide) where the translation
// unit has the CUDA backend; quantize() puts it where the source model is.
#pragma once
#include "../backend/cpu/describe.hpp"
#include "../backend/cpu/eigen/executor.hpp"
#include "../backend/cuda/schedule.hpp"
#include "../config.hpp"
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/quantize.hpp"
#include "../expr/context.hpp"
#include "../graph/describe.hpp"
#include "../graph/sequential.hpp"
#include "../io/safetensors.hpp"
#include "../loss/loss.hpp"
#include "checkpoint.hpp"
#include "cuda_side.hpp"
#include "state.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ctnn {

/// The int8 inference model of Net made by quantize() (or load()), on the CPU or a CUDA device
/// (to()). Its calls run on one executor of its own: one call at a time (unlike Model::predict,
/// not from many threads at once; copy the model for that). Copies and moves keep its int8
/// weights, scales and device (a copy on CUDA uploads its own).
template <Network Net>
class QuantizedModel {
    using Exec = eigen::Executor<Net, float, false, GemmOperands::int8>;
    using Layout = typename Exec::int8_layout;

public:
    using network = Net;
    using scalar = float;
    static constexpr std::size_t in_size = Net::in_size;
    static constexpr std::size_t out_size = Net::out_size;
    static constexpr std::size_t param_count = Net::param_count;
    static constexpr std::size_t buffer_count = Net::buffer_count;
    /// The stages that run in int8 (Dense on flat features, Conv2D), each with an input scale.
    static constexpr std::size_t int8_stages = Layout::totals.stages;
    static_assert(int8_stages > 0, "ctnn::QuantizedModel: the model has no Dense or Conv2D layer "
                                   "that int8 could run (a Dense applied at every step of a "
                                   "sequence stays in float)");

    /// A quantized model from fp32 parameters and buffers (Net's layouts) and the input scale of
    /// each int8 stage, in stage order (quantize() calibrates them), on device `dev`. Throws
    /// ctnn::argument_error for wrong sizes, a scale that is not positive and finite or a device
    /// that cannot run it (to()), ctnn::numeric_error for a non-finite weight.
    QuantizedModel(std::span<const float> params, std::span<const float> buffers,
                   std::span<const float> input_scales, Device dev = device::cpu())
        : params_(params.begin(), params.end()), buffers_(buffers.begin(), buffers.end()),
          scales_(input_scales.begin(), input_scales.end()) {
        if (params.size() != param_count || buffers.size() != buffer_count)
            throw argument_error("QuantizedModel: " + std::to_string(params.size()) +
                                 " parameters and " + std::to_string(buffers.size()) +
                                 " buffer values for a model of " + std::to_string(param_count) +
                                 " and " + std::to_string(buffer_count));
        exec_.set_int8(params_.data(), scales_);
        to(dev);
    }

    QuantizedModel(const QuantizedModel& o)
        : params_(o.params_), buffers_(o.buffers_), scales_(o.scales_), exec_(o.exec_) {
        to(o.device_);
    }
    QuantizedModel& operator=(const QuantizedModel& o) {
        if (this != &o) *this = QuantizedModel(o);
        return *this;
    }
    QuantizedModel(QuantizedModel&&) noexcept = default;
    QuantizedModel& operator=(QuantizedModel&&) noexcept = default;
    ~QuantizedModel() = default;

    /// Runs the model on `dev` from now on: the CPU, or a CUDA device (its int8 weights and fp32
    /// parameters uploaded once). Throws ctnn::argument_error where this translation unit has no
    /// CUDA backend, for a device that does not exist, or for a model with a layer that has no
    /// CUDA kernel; the model then stays where it was.
    void to(Device dev) {
        if (dev.kind == Device::Kind::cpu) {
            side_.reset();
        } else if constexpr (!kernel_schedule<Net>::cuda_supported) {
            throw argument_error("QuantizedModel: device " + dev.str() +
                                 " cannot run this model: a layer has no CUDA kernel yet (see "
                                 "the 'cuda kernels' lines of describe<Net>())");
        } else {
#if CTNN_CUDA_BACKEND
            detail::use_cuda_device(dev, "QuantizedModel");
            side_ = std::make_unique<detail::QuantizedCudaSide<Net>>(params_, buffers_, scales_);
#else
            throw argument_error("QuantizedModel: device " + dev.str() +
                                 " is not available: this translation unit was compiled "
                                 "without CUDA (build it with nvcc, or define "
                                 "CTNN_HOST_EXECUTION=1 to run the CUDA kernels on the CPU for "
                                 "testing)");
#endif
        }
        device_ = dev;
        out_ = {};
    }

    /// Where the model runs.
    [[nodiscard]] Device device() const noexcept { return device_; }

    /// Inference on `batch` samples ([batch, in_size] row-major). Returns the output
    /// [batch, out_size], valid until the next forward(). Throws ctnn::shape_error for an input
    /// of another size, ctnn::numeric_error for a NaN reaching an int8 stage.
    std::span<const float> forward(std::span<const float> x, std::size_t batch) {
        if (batch == 0) throw argument_error("QuantizedModel::forward: batch size is 0");
        if (x.size() != batch * in_size)
            detail::throw_bad_input(x.size(), batch, in_size, Net::in_shape::str(),
                                    "QuantizedModel::forward");
        out_ = {};
        if (side_) {
            out_ = side_->forward(x.data(), batch);
        } else {
            const float* y = exec_.forward(params_.data(), x.data(), batch, ElemCtx{},
                                           buffer_count > 0 ? buffers_.data() : nullptr);
            out_ = {y, batch * out_size};
        }
        return out_;
    }

    /// Inference on as many samples as x holds (x.size() / in_size).
    std::span<const float> forward(std::span<const float> x) {
        if (x.empty() || x.size() % in_size != 0)
            detail::throw_bad_input(x.size(), 0, in_size, Net::in_shape::str(),
                                    "QuantizedModel::forward");
        return forward(x, x.size() / in_size);
    }

    /// A copy of forward(x)'s outputs.
    [[nodiscard]] std::vector<float> predict(std::span<const float> x) {
        const auto y = forward(x);
        return {y.begin(), y.end()};
    }

    /// The mean loss of the last forward() against `targets` (checked as Model::loss checks
    /// them); no gradient.
    template <Loss L>
    float loss(const L& l, loss::Targets<float> targets) {
        static_assert(L::template check<typename Net::out_shape>());
        if (out_.empty()) throw argument_error("QuantizedModel::loss: call forward() first");
        const std::size_t batch = out_.size() / out_size;
        loss::check_targets<L, typename Net::out_shape>(targets, batch);
        return l(out_.data(), targets, batch, out_size, static_cast<float*>(nullptr));
    }

    /// The fp32 parameters the int8 weights are made from (Net's layout).
    [[nodiscard]] std::span<const float> parameters() const noexcept { return params_; }
    /// BatchNorm's running statistics, as in the source model.
    [[nodiscard]] std::span<const float> buffers() const noexcept { return buffers_; }
    /// The input scale of each int8 stage, in stage order: s such that an input value v is
    /// quantized to round(v / s), clamped to [-127, 127].
    [[nodiscard]] std::span<const float> input_scales() const noexcept { return scales_; }

    /// describe<Net>() and which stages run in int8 with their scales.
    [[nodiscard]] std::string describe() const {
        std::string s = ctnn::describe_stages<Net, cpu::StageNotes>() +
                        "precision: int8 post-training quantization on " + device_.str() +
                        (side_ ? " (dp4a GEMMs; a pooling after an int8 convolution runs as "
                                 "its own kernel)"
                               : "") +
                        ": symmetric int8 inputs (one scale per tensor) and weights (one scale "
                        "per output channel), int32 sums dequantized before the bias and the "
                        "epilogue\n";
        for_each_type(stages_of<Net>{}, [&]<class S, std::size_t I>() {
            s += "  stage " + std::to_string(I) + ": ";
            if constexpr (Layout::stage[I].index != Layout::no_int8) {
                s += "int8  " + std::string(S::anchor::layer::name()) + ", input scale " +
                     std::to_string(scales_[Layout::stage[I].index]) + "\n";
            } else {
                s += "fp32  " + std::string(S::anchor::layer::name()) + "\n";
            }
        });
        return s;
    }

    /// Writes the parameters, buffers and input scales as a safetensors file (F32 tensors;
    /// "<layer>.input_scale" of shape [1] beside each int8 layer's weight, metadata
    /// "ctnn.quantization"), replaced atomically.
    void save(const std::filesystem::path& path) const {
        const auto names = scale_names();
        std::vector<io::TensorView> extra;
        for (std::size_t j = 0; j < int8_stages; ++j)
            extra.push_back({names[j], {1}, std::span<const float>(scales_).subspan(j, 1)});
        detail::save_checkpoint<Net, float>(path, params_, buffers_, 0, extra,
                                            {{"ctnn.quantization", quantization_tag}});
    }

    /// Reads a file written by save(). Every tensor of the model and every input scale must be
    /// present with its shape, and nothing else: otherwise throws ctnn::shape_error naming the
    /// file and tensor; a file without the quantization metadata (an fp32 checkpoint) throws
    /// ctnn::io_error.
    static QuantizedModel load(const std::filesystem::path& path) {
        const io::SafetensorsFile file = io::load_safetensors(path);
        const auto tag = file.metadata.find("ctnn.quantization");
        if (tag == file.metadata.end() || tag->second != quantization_tag)
            throw io_error(path.string(), "not a quantized ctnn model (no \"ctnn.quantization\" "
                                          "metadata of \"" +
                                              std::string(quantization_tag) +
                                              "\"); quantize the fp32 model with ctnn::quantize()");
        const auto names = scale_names();
        std::vector<float> scales(int8_stages);
        for (std::size_t j = 0; j < int8_stages; ++j) {
            const io::Tensor* t = file.find(names[j]);
            if (!t)
                throw shape_error(path.string() + ": tensor '" + names[j] +
                                  "' of the quantized model is missing from the file");
            if (t->data.size() != 1 || t->shape != std::vector<std::int64_t>{1})
                throw shape_error(path.string() + ": tensor '" + names[j] + "' has shape " +
                                  detail::dims_str(t->shape) + ", the model expects [1]");
            scales[j] = t->data[0];
        }
        std::vector<float> params, buffers;
        detail::load_checkpoint<Net>(file, path, params, buffers, names);
        return QuantizedModel(params, buffers, scales);
    }

private:
    static constexpr const char* quantization_tag =
        "int8 symmetric, weights per output channel, inputs per tensor";

    /// "<weight name without .weight>.input_scale" of each int8 stage, in stage order.
    static std::vector<std::string> scale_names() {
        std::vector<std::string> names(int8_stages);
        const auto table = parameter_table<Net>();
        for_each_type(stages_of<Net>{}, [&]<class S, std::size_t I>() {
            if constexpr (Layout::stage[I].index != Layout::no_int8) {
                for (const ParamEntry& e : table)
                    if (e.offset == S::anchor::param_offset) {
                        std::string n = e.name;
                        const std::string suffix = "weight";
                        if (n.size() >= suffix.size() &&
                            n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
                            n.erase(n.size() - suffix.size());
                        names[Layout::stage[I].index] = n + "input_scale";
                    }
            }
        });
        return names;
    }

    std::vector<float> params_, buffers_, scales_;
    Exec exec_;
    Device device_ = device::cpu();
    std::unique_ptr<detail::Int8Side> side_; ///< the CUDA side, when on CUDA
    std::span<const float> out_;             ///< the last forward()'s output
};

namespace detail {

/// A model type quantize() accepts: a Model<Net, P> with float values (or anything with its
/// network, parameters() and buffers()).
template <class M>
concept QuantizableModel = requires(const M& m) {
    typename M::network;
    { m.parameters() } -> std::convertible_to<std::span<const float>>;
    { m.buffers() } -> std::convertible_to<std::span<const float>>;
};

} // namespace detail

/// Quantizes `model` to int8 (QuantizedModel): weights per output channel from its parameters,
/// the input scale of each int8 stage from the fp32 model's inference on `calibration` (samples
/// [n, in_size], a few hundred are plenty) by the method of `cal`. Throws ctnn::shape_error for
/// calibration data that is empty or not a multiple of in_size, ctnn::argument_error for a bad
/// percentile, ctnn::numeric_error for a non-finite weight or calibration activation. The
/// calibration runs on the CPU; the quantized model is put on `model.device()` (where M has one).
template <detail::QuantizableModel M>
QuantizedModel<typename M::network> quantize(const M& model, std::span<const float> calibration,
                                             const Calibration& cal = Calibration::max_abs()) {
    using Net = typename M::network;
    using Q = QuantizedModel<Net>;
    using Layout = eigen::detail::Int8Layout<stages_of<Net>>;
    detail::check_calibration(cal);
    if (calibration.empty() || calibration.size() % Net::in_size != 0)
        throw shape_error(
            "quantize: the calibration data holds " + std::to_string(calibration.size()) +
            " values, not a positive multiple "
            "of the model's input size " +
            std::to_string(Net::in_size) + " (input shape " + Net::in_shape::str() + ")");
    const std::span<const float> params = model.parameters();
    const std::span<const float> buffers_view = model.buffers();
    std::vector<float> buffers(buffers_view.begin(), buffers_view.end());
    const std::size_t n = calibration.size() / Net::in_size;
    constexpr std::size_t chunk = 256;
    eigen::Executor<Net, float> exec;
    std::vector<std::vector<float>> magnitudes(Q::int8_stages);
    std::vector<float> amax(Q::int8_stages, 0.0f);
    const bool keep_all = cal.method == Calibration::Method::percentile;
    for (std::size_t s0 = 0; s0 < n; s0 += chunk) {
        const std::size_t b = std::min(chunk, n - s0);
        exec.forward(params.data(), calibration.data() + s0 * Net::in_size, b, ElemCtx{},
                     Net::buffer_count > 0 ? buffers.data() : nullptr);
        for_each_type(stages_of<Net>{}, [&]<class S, std::size_t I>() {
            if constexpr (Layout::stage[I].index != Layout::no_int8) {
                const std::size_t j = Layout::stage[I].index;
                for (const float v : exec.stage_input(I)) {
                    if (!std::isfinite(v))
                        throw numeric_error("quantize: the fp32 model's input to " +
                                            eigen::detail::int8_stage_name<S>() +
                                            " is not finite on the calibration data (sample " +
                                            std::to_string(s0) + " or after)");
                    const float a = std::fabs(v);
                    amax[j] = std::max(amax[j], a);
                    if (keep_all) magnitudes[j].push_back(a);
                }
            }
        });
    }
    std::vector<float> scales(Q::int8_stages);
    for (std::size_t j = 0; j < Q::int8_stages; ++j) {
        // A percentile of 0 (a mostly-zero input, as after a ReLU) would leave no range: the
        // maximum then.
        const float p = keep_all ? detail::calibrated_amax(magnitudes[j], cal) : amax[j];
        scales[j] = detail::int8_scale(p > 0.0f ? p : amax[j]);
    }
    Device dev = device::cpu();
    if constexpr (requires { model.device(); }) dev = model.device();
    return Q(params, buffers, scales, dev);
}

} // namespace ctnn
