// Models compiled by nvcc (tests/cuda/models.cu): bf16 mixed precision, part of ctnn_cuda_models
// in every build (not a model family: it runs without a GPU too).
#include "models.cuh"

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

} // namespace

bool mixed_precision_models(bool gpu) {
    // bf16: the MLP here; the CNN's bf16 kernels are compiled by fashion_mnist_cnn_cuda (its
    // --bf16 model) and checked in host execution by tests/unit/cuda_mixed.cpp.
    return mixed_precision_check<Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>>(gpu, "MLP");
}

} // namespace models
