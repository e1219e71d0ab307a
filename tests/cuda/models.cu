// Models compiled by nvcc: every kernel a training step of the test models and of the
// Fashion-MNIST example instantiates (tests/unit/cuda_*.cpp run the same models in host
// execution), for CMAKE_CUDA_ARCHITECTURES with ptxas statistics in the build log.
//
// Run on a machine without a GPU (CI), the program checks the CPU fallback of a CUDA build:
// device::best() picks the CPU (printing one notice), device::cuda() is refused with the
// driver's reason, and a model compiled by nvcc trains on the CPU. With a GPU it trains the same
// model on both devices and compares the losses, bf16 mixed-precision models (tensor cores)
// against fp32, and int8 quantized models (dp4a) against the same on the CPU.
//
// The models are in models_dense.cu, models_dense_graph.cu, models_conv.cu, models_conv_norm.cu,
// models_join.cu, models_pool.cu, models_recurrent.cu, models_sequence.cu and models_decoder.cu
// (one TU each, each under a minute of nvcc here: nvcc builds them in parallel); models.cuh has
// the training loop they share. The bf16 and int8 checks are in models_mixed.cu, part of this
// program in every build (models.cu with it was the slowest test TU, 60 s).
#include "models.cuh"

// CTNN_CUDA_DEVICE_ONLY builds this file alone, the families for the device only.
#ifndef CTNN_TEST_MODEL_FAMILIES
#define CTNN_TEST_MODEL_FAMILIES 1
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

using namespace ctnn;
using namespace models;

namespace {
/// Model::input_gradient, compiled by nvcc (the kernels of a backward pass that goes on to the
/// input): the gradient on the CPU and, with a GPU, the same on the device.
bool input_gradient_check(bool gpu) {
    using Net =
        Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, Flatten, Dense<3>>;
    const std::size_t batch = 4;
    std::vector<float> x(batch * Net::in_size);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
    const std::vector<std::int32_t> labels{0, 1, 2, 1};
    Model<Net> cpu(device::cpu());
    cpu.init(3);
    const auto want = cpu.input_gradient(x, loss::SoftmaxCrossEntropy{}, {labels});
    double scale = 0;
    for (float v : want) scale = std::max(scale, double(std::fabs(v)));
    if (!(scale > 0)) {
        std::printf("FAIL input gradient: zero on the CPU\n");
        return false;
    }
    if (!gpu) return true;
    Model<Net> dev(device::cuda());
    dev.init(3);
    const auto got = dev.input_gradient(x, loss::SoftmaxCrossEntropy{}, {labels});
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, double(std::fabs(got[i] - want[i])));
    const bool ok = worst <= 1e-4 * scale;
    std::printf("%s input gradient: largest difference %g (scale %g)\n", ok ? "ok  " : "FAIL",
                worst, scale);
    return ok;
}
} // namespace

int main() {
    try {
        const ctnn::cuda::DeviceProbe p = ctnn::cuda::probe();
        const bool gpu = p.count > 0;
        std::printf("CUDA devices: %d%s%s\n", p.count, gpu ? "" : " - ", p.reason.c_str());
        const Device best = device::best();
        std::printf("device::best(): %s\n", best.str().c_str());
        if (!gpu) {
            if (best != device::cpu()) return 1;
            try {
                Model<Sequential<Input<3>, Dense<2>>> m(device::cuda());
                std::printf("FAIL: Model(device::cuda()) succeeded without a device\n");
                return 1;
            } catch (const argument_error& e) {
                std::printf("device::cuda() refused: %s\n", e.what());
            }
        }
        bool ok = true;
#if CTNN_TEST_MODEL_FAMILIES
        ok &= models::dense_models(gpu);
        ok &= models::dense_graph_models(gpu);
        ok &= models::conv_models(gpu);
        ok &= models::conv_norm_models(gpu);
        ok &= models::join_models(gpu);
        ok &= models::pool_models(gpu);
        ok &= models::recurrent_models(gpu);
        ok &= models::sequence_models(gpu);
        ok &= models::decoder_models(gpu);
#else
        std::printf("model families compiled for the device only (CTNN_CUDA_DEVICE_ONLY)\n");
#endif
        ok &= input_gradient_check(gpu);
        ok &= models::reduced_precision_models(gpu);
        std::printf("%s\n", ok ? "all models ok" : "FAILED");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::printf("FAIL: %s\n", e.what());
        return 1;
    }
}
