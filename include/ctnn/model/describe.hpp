// ctnn/model/describe.hpp — describe<Net>(): a model's layers, parameters, stages and kernels.
//
// The backend-neutral part is the graph's (graph/describe.hpp, describe_stages); each backend adds
// its own: the CPU how it computes each convolution (backend/cpu/describe.hpp), CUDA its kernel
// listing (backend/cuda/describe.hpp).
#pragma once
#include "../backend/cpu/describe.hpp"
#include "../backend/cuda/describe.hpp"
#include "../backend/cuda/schedule.hpp"
#include "../config.hpp"
#include "../core/precision.hpp"
#include "../graph/describe.hpp"
#include "../loss/loss.hpp"

#include <string>

namespace ctnn {

/// A human-readable description of Net: layers with output shapes, parameters with their PyTorch
/// names, the schedule of stages a forward and a backward pass run, with their fused epilogues,
/// and the CUDA kernels of each pass.
template <class Net>
std::string describe() {
    return describe_stages<Net, cpu::StageNotes>() + detail::kernel_lines<Net>();
}

/// describe<Net>() followed by the loss and optimizer stages of a training step.
template <class Net, Loss L>
std::string describe(const L&) {
    return describe<Net>() + "loss: " + L::name() +
           std::string(" (one fused pass: loss value and dL/dY)\noptimizer: one "
                       "elementwise pass over all ") +
           detail::group_digits(Net::param_count) + " parameters\n" +
           detail::training_step_line<Net>(L::name());
}

namespace detail {

/// The precision section of a mixed-precision model's describe() (Model<Net, precision::bf16>):
/// what stays fp32, and per backend which stages read reduced-precision operands.
template <class Net>
std::string precision_lines(GemmOperands g) {
    const std::string name = operands_name<float>(g);
    return "precision: " + name +
           " mixed: master weights, gradients, optimizer state, loss, softmax and normalization "
           "statistics in fp32\n" +
           cuda_precision_lines<Net>(g) + "  cpu, " + name +
           " operands as rounded fp32 copies multiplied with fp32 FMAs (no " + name +
           " instructions used yet): every Dense and Conv2D stage, no direct or Winograd "
           "convolutions\n" +
           (g == GemmOperands::fp16
                ? "  dynamic loss scaling: the loss gradient times the scale, the gradients "
                  "unscaled and checked after backward, a step with a non-finite one skipped\n"
                : "");
}

} // namespace detail

} // namespace ctnn
