// Shared by tests/cuda/models*.cu: a few training steps of a model on the CPU and, with a GPU,
// on the device, and their comparison.
#pragma once
#if CTNN_TEST_DEVICE_KERNELS_ONLY
// Compiled for the device alone (ctnn_cuda_model_families under CTNN_CUDA_DEVICE_ONLY): only what
// a CUDA training step needs, no CPU executor and no Eigen. nvcc's front end then reads and
// instantiates about half as much (models_pool.cu: cicc 21 -> 9.5 s) for the same kernels.
#include <ctnn/graph/residual.hpp>
#include <ctnn/graph/sequential.hpp>
#include <ctnn/layers.hpp>
#include <ctnn/loss/classification.hpp>
#include <ctnn/loss/regression.hpp>
#include <ctnn/model/cuda_side.hpp>
#include <ctnn/optim/adam.hpp>
#include <ctnn/optim/sgd.hpp>
#else
#include <ctnn/ctnn.hpp>
#endif

#include <cmath>
#include <cstdio>
#include <vector>

namespace models {

using namespace ctnn;

/// Net reads token ids (an Embedding): its inputs are small integers, not waves.
template <class Net>
inline constexpr bool reads_token_ids = []<class... S>(type_list<S...>) {
    return ((S::kind == LayerKind::embedding) || ...);
}(stages_of<Net>{});

/// Token i of a batch of samples of n ids at step s: sample b has 1 + (b + s) % n ids in [1, 5),
/// then padding (0), valid with and without MaskZero.
inline float token(std::size_t i, std::size_t n, std::size_t s) {
    const std::size_t b = i / n, t = i % n;
    return t < 1 + (b + s) % n ? static_cast<float>(1 + (i * 7 + s) % 4) : 0.0f;
}

#if CTNN_TEST_DEVICE_KERNELS_ONLY
/// The kernels of a CUDA training step of Net, instantiated through the model's CUDA side (what
/// Model<Net> runs on a device) with nothing of the CPU path; never run.
template <class Net, class L, class O>
bool check(const char*, const L& loss, const O& opt, bool) {
    detail::CudaSide<Net, float> side;
    OptimizerState<O> state(opt, Net::param_count);
    std::vector<float> x(Net::in_size), t(Net::out_size);
    std::vector<std::int32_t> labels(1);
    ElemCtx ctx;
    ctx.training = true;
    (void)side.forward(x.data(), 1, ctx);
    (void)side.loss(loss, {labels, t});
    side.backward();
    side.update(state, 1e-3f);
    return true;
}
#else
/// Mean loss of `steps` training steps of Net on `dev` (same data and seed on every device).
template <class Net, class L, class O>
double train_steps(Device dev, const L& loss, const O& opt, int steps) {
    Model<Net> m(dev);
    m.init(7);
    OptimizerState<O> state(opt, Net::param_count);
    const std::size_t batch = 8;
    std::vector<float> x(batch * Net::in_size), t(batch * Net::out_size);
    std::vector<std::int32_t> labels(batch);
    double last = 0;
    for (int s = 0; s < steps; ++s) {
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = reads_token_ids<Net>
                       ? token(i, Net::in_size, static_cast<std::size_t>(s))
                       : std::sin(0.37f * static_cast<float>(i) + static_cast<float>(s));
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = 0.5f + 0.4f * std::cos(0.1f * float(i));
        for (std::size_t b = 0; b < batch; ++b)
            labels[b] =
                static_cast<std::int32_t>((b + static_cast<std::size_t>(s)) % Net::out_size);
        (void)m.forward(x, batch, Mode::training);
        last = m.loss(loss, {labels, t});
        m.backward();
        m.update(state, 1e-3f);
    }
    return last;
}

template <class Net, class L, class O>
bool check(const char* name, const L& loss, const O& opt, bool gpu) {
    const double cpu = train_steps<Net>(device::cpu(), loss, opt, 5);
    if (!std::isfinite(cpu)) {
        std::printf("FAIL %s: loss %g on the CPU\n", name, cpu);
        return false;
    }
    if (!gpu) return true;
    const double dev = train_steps<Net>(device::cuda(), loss, opt, 5);
    const bool ok = std::fabs(dev - cpu) <= 1e-3 * std::fabs(cpu) + 1e-6;
    std::printf("%s %s: cpu %.7f, cuda %.7f\n", ok ? "ok  " : "FAIL", name, cpu, dev);
    return ok;
}
#endif

/// The model groups, one translation unit each (nvcc compiles them in parallel): true when every
/// model of the group trains (and, with a GPU, agrees with the CPU).
bool dense_models(bool gpu);
bool dense_graph_models(bool gpu);
bool conv_models(bool gpu);
bool conv_norm_models(bool gpu);
bool join_models(bool gpu);
bool pool_models(bool gpu);
bool recurrent_models(bool gpu);
bool sequence_models(bool gpu);
bool decoder_models(bool gpu);
/// bf16 mixed precision against fp32 and int8 quantized inference against the CPU
/// (models_mixed.cu; not a family: built without a GPU too).
bool reduced_precision_models(bool gpu);

} // namespace models
