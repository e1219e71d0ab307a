// BatchNorm and LayerNorm on device::cuda(): kernel counts, describe(), buffers (read back,
// written through, saved, loaded, moved, copied) and BatchNorm folded into the previous stage in
// inference. Helpers and tolerances: cuda_checks.hpp; the values and gradients: cuda_norm.cpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;
namespace fs = std::filesystem;

TEST_CASE("kernel counts of BatchNorm and LayerNorm stages") {
    using K = kernel_schedule<NormCountNet>;
    static_assert(K::cuda_supported && kernel_schedule<BnCnnNet>::cuda_supported &&
                  kernel_schedule<LnImageNet>::cuda_supported);
    // dense+ReLU | BatchNorm | dense | LayerNorm+Tanh | dense: one kernel each forward.
    static_assert(K::forward == 5);
    // dense: dW, dX; LayerNorm: rows (dX), columns (dw, db); dense: dW, dX; BatchNorm: one
    // kernel (dgamma, dbeta, dX); the first dense: dW only.
    static_assert(K::backward_kernels[3] == 2 && K::backward_kernels[1] == 1);
    static_assert(K::backward == 2 + 2 + 2 + 1 + 1);
    static_assert(K::training_step == 5 + 1 + 8 + 1);
    // A first-stage BatchNorm or LayerNorm still computes its parameter gradients.
    static_assert(kernel_schedule<BnFirstNet>::backward_kernels[0] == 1);
    static_assert(kernel_schedule<LnImageNet>::backward_kernels[0] == 2);

    Model<NormCountNet> m(device::cuda());
    m.init(5);
    const std::size_t batch = 4;
    const auto x = uniform(batch * NormCountNet::in_size, 3);
    const auto labels = labels_for(batch, NormCountNet::out_size);
    OptimizerState<optim::Adam> state(optim::Adam{}, NormCountNet::param_count);
    m.reserve(batch);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::inference);
    CHECK(cuda::launch_count() == K::forward);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::training);
    CHECK(cuda::launch_count() == K::forward);
    (void)m.loss(loss::SoftmaxCrossEntropy{}, {labels});
    m.backward();
    CHECK(cuda::launch_count() == K::forward + K::loss + K::backward);
    m.update(state, 1e-3f);
    CHECK(cuda::launch_count() == 15);
    (void)m.buffers(); // reading the statistics back is a copy, not a kernel
    CHECK(cuda::launch_count() == 15);
}

TEST_CASE("describe() lists the BatchNorm and LayerNorm kernels") {
    const std::string d = describe<NormCountNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 5") != std::string::npos);
    CHECK(d.find("k1 stage 1: batchnorm BatchNorm [16] per channel") != std::string::npos);
    CHECK(d.find("k3 stage 3: layernorm LayerNorm [8] per sample, fused: Tanh") !=
          std::string::npos);
    CHECK(d.find("stage 3: LayerNorm backward rows: statistics, dX x epilogue'(stage 2) | "
                 "LayerNorm backward columns: dweight, dbias") != std::string::npos);
    CHECK(d.find("stage 1: BatchNorm backward: dgamma, dbeta (per-channel sums), dX x "
                 "epilogue'(stage 0)") != std::string::npos);
    CHECK(d.find("cuda kernels, training step: 15") != std::string::npos);
    const std::string first = describe<BnFirstNet>();
    CHECK(first.find("stage 0: BatchNorm backward: dgamma, dbeta (per-channel sums)\n") !=
          std::string::npos);
}

TEST_CASE("buffers on CUDA: read back, written through, saved, loaded, moved and copied") {
    using Net = BnCnnNet;
    const std::size_t batch = 6;
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(81);
    gpu.init(81);
    auto train_both = [&](int steps) {
        for (int s = 0; s < steps; ++s) {
            const auto x = uniform(batch * Net::in_size, 500 + static_cast<std::uint64_t>(s));
            (void)cpu.forward(x, batch, Mode::training);
            (void)gpu.forward(x, batch, Mode::training);
        }
    };
    train_both(3);
    const std::vector<float> trained(gpu.buffers().begin(), gpu.buffers().end());
    check_close(trained, cpu.buffers());
    CHECK(trained[2 * 4] == 3.0f); // num_batches_tracked of the first BatchNorm
    const auto x = uniform(batch * Net::in_size, 900);
    auto infer = [&](Model<Net>& m) {
        const auto y = m.forward(x, batch, Mode::inference);
        return std::vector<float>(y.begin(), y.end());
    };
    const std::vector<float> y_trained = infer(cpu);
    check_close(infer(gpu), y_trained);

    // A write through buffers() reaches the device before the next pass.
    cpu.buffers()[0] += 0.5f;
    gpu.buffers()[0] += 0.5f;
    cpu.buffers()[4 + 1] *= 3.0f;
    gpu.buffers()[4 + 1] *= 3.0f;
    const std::vector<float> y_written = infer(cpu);
    check_close(infer(gpu), y_written);

    // Copies take the device's statistics (newer than the host's after a training pass).
    train_both(1);
    const Model<Net> copy = gpu;
    CHECK(copy.device() == device::cuda());
    check_close(copy.buffers(), cpu.buffers());
    Model<Net> copy2 = copy;
    check_close(infer(copy2), infer(cpu));

    // save() reads the device statistics; load() uploads them.
    const fs::path file = scratch("cuda_model_buffers.safetensors");
    gpu.save(file);
    Model<Net> loaded_cpu(device::cpu()), loaded_gpu(device::cuda());
    loaded_cpu.load(file);
    loaded_gpu.load(file);
    CHECK(std::equal(loaded_cpu.buffers().begin(), loaded_cpu.buffers().end(),
                     gpu.buffers().begin()));
    const std::vector<float> y_loaded = infer(loaded_cpu);
    check_close(infer(loaded_gpu), y_loaded);
    check_close(infer(gpu), y_loaded);

    // to(): the statistics move with the model, both ways, bit for bit.
    Model<Net> mover(device::cpu());
    mover.load(file);
    mover.to(device::cuda());
    check_close(infer(mover), y_loaded);
    const auto xt = uniform(batch * Net::in_size, 901);
    (void)mover.forward(xt, batch, Mode::training); // statistics change on the device
    (void)loaded_cpu.forward(xt, batch, Mode::training);
    mover.to(device::cpu());
    check_close(mover.buffers(), loaded_cpu.buffers());
    const std::vector<float> moved(mover.buffers().begin(), mover.buffers().end());
    mover.to(device::cuda());
    mover.to(device::cpu());
    CHECK(std::equal(moved.begin(), moved.end(), mover.buffers().begin()));

    // init() resets the device statistics too.
    gpu.init(81);
    Model<Net> fresh(device::cpu());
    fresh.init(81);
    CHECK(std::equal(fresh.buffers().begin(), fresh.buffers().end(), gpu.buffers().begin()));
    check_close(infer(gpu), infer(fresh));
}

// --- BatchNorm folded into the previous stage in inference (folds_into_previous) -----------------

TEST_CASE("fold: inference on CUDA folds BatchNorm into the GEMM store and equals the CPU") {
    using K = kernel_schedule<FoldCnnNet>;
    static_assert(K::forward == 10 && K::forward_inference == 5);
    static_assert(kernel_schedule<BnCnnNet>::forward_inference ==
                  kernel_schedule<BnCnnNet>::forward - 1);
    // Trained on the CPU (running statistics, gamma and beta away from their initial values),
    // then inference with folding on both devices from the same parameters and buffers: outputs,
    // the loss and the gradients of a backward pass after the inference forward agree. (Training
    // is compared by the BatchNorm tests above; a conv bias right before a BatchNorm has a
    // gradient that is zero up to rounding, which Adam's first steps turn into different signs.)
    for (const std::size_t batch : {std::size_t{1}, std::size_t{6}}) {
        CAPTURE(batch);
        Model<FoldCnnNet> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(91);
        OptimizerState<optim::Adam> state(optim::Adam{.lr = 5e-2f}, FoldCnnNet::param_count);
        const auto t = uniform(batch * FoldCnnNet::out_size, 94, 0.0f, 1.0f);
        const auto ts = uniform(6 * FoldCnnNet::out_size, 7, 0.0f, 1.0f);
        for (std::uint64_t step = 0; step < 4; ++step) {
            const auto xs = uniform(6 * FoldCnnNet::in_size, 95 + step, -2.0f, 3.0f);
            (void)cpu.forward(xs, 6, Mode::training);
            (void)cpu.loss(loss::MSE{}, {.values = ts});
            cpu.backward();
            cpu.update(state, 5e-2f);
        }
        std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
        {
            const auto b = cpu.buffers();
            std::copy(b.begin(), b.end(), gpu.buffers().begin());
        }
        const auto xi = uniform(batch * FoldCnnNet::in_size, 96, -2.0f, 3.0f);
        const auto yc = cpu.forward(xi, batch, Mode::inference);
        const std::vector<float> y_cpu(yc.begin(), yc.end());
        check_close(gpu.forward(xi, batch, Mode::inference), y_cpu);
        CHECK(gpu.loss(loss::MSE{}, {.values = t}) ==
              doctest::Approx(cpu.loss(loss::MSE{}, {.values = t})).epsilon(2e-5));
        cpu.backward();
        gpu.backward();
        check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
        check_close(gpu.buffers(), cpu.buffers()); // inference leaves them alone
    }

    Model<FoldCnnNet> m(device::cuda());
    m.init(92);
    const std::size_t batch = 3;
    const auto x = uniform(batch * FoldCnnNet::in_size, 93);
    m.reserve(batch);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::inference);
    CHECK(cuda::launch_count() == 5);
    cuda::reset_launch_count();
    (void)m.forward(x, batch, Mode::training);
    CHECK(cuda::launch_count() == 10);

    const std::string d = describe<FoldCnnNet>();
    INFO(d);
    CHECK(d.find("cuda kernels, inference forward: 5") != std::string::npos);
    CHECK(d.find("; inference: + BatchNorm, ReLU (stage 1 folded in)\n") != std::string::npos);
    CHECK(d.find("k1 stage 1: batchnorm BatchNorm") != std::string::npos);
    CHECK(d.find("fused: ReLU; inference: folded into k0\n") != std::string::npos);
}
