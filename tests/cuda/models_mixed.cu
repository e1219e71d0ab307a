// Models compiled by nvcc (tests/cuda/models.cu): bf16 mixed precision and int8 quantized
// inference, part of ctnn_cuda_models in every build (not a model family: they run without a GPU
// too).
#include "models.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace models {
namespace {

/// Mixed precision (Model<Net, precision::bf16>): its Dense GEMMs on tensor cores (gemm_mma),
/// compiled by nvcc. It trains beside the fp32 model from the same start, on the GPU
/// when there is one (else on the CPU: rounded operands), and their losses stay within bf16's
/// reach.
template <class Net>
bool mixed_precision_check(bool gpu, const char* name) {
    const std::size_t batch = 64;
    std::vector<float> x(batch * Net::in_size);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.11f * static_cast<float>(i));
    std::vector<std::int32_t> labels(batch);
    for (std::size_t b = 0; b < batch; ++b) labels[b] = static_cast<std::int32_t>((3 * b + 1) % 10);
    const loss::Targets<float> t{labels, {}};
    const Device dev = gpu ? device::cuda() : device::cpu();
    Model<Net, precision::bf16> mixed(dev);
    Model<Net> full(dev);
    mixed.init(5);
    full.init(5);
    auto sm = mixed.make_state(optim::Adam{.lr = 1e-3f});
    auto sf = full.make_state(optim::Adam{.lr = 1e-3f});
    float first = 0, lm = 0, lf = 0;
    for (int step = 0; step < 20; ++step) {
        mixed.forward(x, batch, Mode::training);
        lm = mixed.loss(loss::SoftmaxCrossEntropy{}, t);
        mixed.backward();
        mixed.update(sm);
        full.forward(x, batch, Mode::training);
        lf = full.loss(loss::SoftmaxCrossEntropy{}, t);
        full.backward();
        full.update(sf);
        if (step == 0) first = lm;
    }
    const bool ok = lm < 0.75f * first && std::fabs(lm - lf) <= 0.05f * lf + 0.01f;
    std::printf("%s bf16 %s training on %s: loss %g -> %g (fp32 %g)\n", ok ? "ok  " : "FAIL", name,
                dev.str().c_str(), double(first), double(lm), double(lf));
    return ok;
}

/// A QuantizedModel (int8; its CUDA side: quantize_rows, im2col_s8, gemm_s8 with dequantizing
/// stores, compiled by nvcc) on the GPU when there is one, against the same model on the CPU:
/// equal integer sums, float tails within a few ulps (nvcc may contract the dequantization and
/// the bias into one fma; an ulp at an int8 stage's input can move one code there).
template <class Net>
bool int8_check(bool gpu, const char* name) {
    Model<Net> m(device::cpu());
    m.init(11);
    std::vector<float> x(32 * Net::in_size);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.23f * static_cast<float>(i));
    QuantizedModel<Net> cpu = quantize(m, x);
    QuantizedModel<Net> dev = cpu;
    if (gpu) dev.to(device::cuda());
    const std::vector<float> want = cpu.predict(x), got = dev.predict(x);
    double worst = 0, top = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, double(std::fabs(got[i] - want[i])));
        top = std::max(top, double(std::fabs(want[i])));
    }
    const bool ok = got.size() == want.size() && worst <= 1e-3 * top;
    std::printf("%s int8 %s inference on %s: largest difference from the CPU %g (largest output "
                "%g)\n",
                ok ? "ok  " : "FAIL", name, dev.device().str().c_str(), worst, top);
    return ok;
}

} // namespace

bool reduced_precision_models(bool gpu) {
    // bf16: the MLP here; the CNN's bf16 kernels are compiled by fashion_mnist_cnn_cuda (its
    // --bf16 model) and checked in host execution by tests/unit/cuda_mixed.cpp.
    using Mlp = Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>;
    using Cnn =
        Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<64, 3, Same>,
                   ReLU, MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dense<10>>;
    bool ok = mixed_precision_check<Mlp>(gpu, "MLP");
    ok &= int8_check<Mlp>(gpu, "MLP");
    ok &= int8_check<Cnn>(gpu, "CNN");
    return ok;
}

} // namespace models
