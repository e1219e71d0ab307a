// Sequence models on device::cuda() (host execution of the CUDA kernels) against the CPU:
// variable-length batches (MaskZero), Embedding's gather and gradient, token ids checked before
// the upload, the kernel counts of describe(). The cells themselves: cuda_recurrent.cpp. Models
// and helpers: cuda_recurrent_checks.hpp.
#include "cuda_recurrent_checks.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;
using namespace ctnn::test::recurrent_checks;

TEST_CASE("cuda: variable-length batches (MaskZero) as on the CPU") {
    // Batch 9: lengths 1 .. 6 and 1 .. 3, samples split over three blocks of the time loop.
    check_training<MaskedNet>(9, 24, 3, padded_ids(9, 6, 11));
    check_training<MaskedLastNet>(7, 25, 3, padded_ids(7, 6, 11));
    check_training<MaskedMeanNet>(6, 26, 3, padded_ids(6, 6, 11));
    static_assert(kernel_schedule<MaskedNet>::forward == 2 + 6 + 1 + 3 + 1 + 1);
    check_launches<MaskedNet>(padded_ids(5, 6, 11), 5);
}

TEST_CASE("cuda: Embedding gathers and its gradient adds repeated ids, as on the CPU") {
    // Ids repeat within and across samples (the backward kernel's per-row sums).
    const auto x = token_ids(7 * 6, 11, 2);
    Model<EmbedNet> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(4);
    gpu.init(4);
    for (const Mode mode : {Mode::inference, Mode::training}) {
        const auto yc = cpu.forward(x, 7, mode);
        const std::vector<float> y_cpu(yc.begin(), yc.end());
        check_close(gpu.forward(x, 7, mode), y_cpu);
    }
    const auto labels = labels_for(7, 3);
    const loss::Targets<float> t{labels};
    CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, t) ==
          doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, t)).epsilon(2e-5));
    cpu.backward();
    gpu.backward();
    check_close(gpu.gradients(), cpu.gradients());
}

TEST_CASE("cuda: a bad token id is refused before the upload, naming sample and step") {
    Model<EmbedNet> gpu(device::cuda());
    gpu.init(1);
    auto x = token_ids(3 * 6, 11, 3);
    x[2 * 6 + 4] = 11.0f;
    try {
        (void)gpu.forward(x, 3, Mode::training);
        FAIL("no error for a bad token id");
    } catch (const argument_error& e) {
        const std::string what = e.what();
        CHECK(what.find("Embedding<11, 4> (layer 0): sample 2, step 4: token id 11") !=
              std::string::npos);
    }
    x[2 * 6 + 4] = 0.5f;
    CHECK_THROWS_AS((void)gpu.predict(x), argument_error);
}

TEST_CASE("cuda: the kernels of sequence models, counted and described") {
    using K = kernel_schedule<LstmSeqNet>;
    static_assert(K::cuda_supported && kernel_schedule<EmbedNet>::cuda_supported);
    // Dense (per step), LSTM (transpose, projection, time loop, Dropout's map), LastStep, Dense.
    static_assert(K::forward == 1 + 4 + 1 + 1);
    // Dense: dW; LSTM: time loop, dW_ih, dW_hh, dX; LastStep: dX; Dense: dW, dX.
    static_assert(K::backward == 1 + 4 + 1 + 2);
    static_assert(kernel_schedule<BiNet>::forward == 6 + 6 + 1 &&
                  kernel_schedule<BiNet>::backward == 8 + 6 + 2);
    static_assert(kernel_schedule<EmbedNet>::backward == 1 + 4 + 4 + 2);
    // Too wide for the time loop's shared memory: falls back to the CPU.
    static_assert(!kernel_schedule<Sequential<Input<2, 2>, LSTM<2048>>>::cuda_supported);
    check_launches<LstmSeqNet>(uniform(5 * LstmSeqNet::in_size, 1), 5);
    check_launches<BiNet>(uniform(5 * BiNet::in_size, 2), 5);
    check_launches<EmbedNet>(token_ids(5 * 6, 11, 4), 5);

    const std::string d = describe<LstmSeqNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 7\n") != std::string::npos);
    CHECK(d.find("stage 1: recurrent LSTM<7, ReturnSequences> [4, 5] -> [4, 7]: transpose W_hh | "
                 "gemm G = X W_ih^T + b | time loop (4 steps in one kernel) | map") !=
          std::string::npos);
    CHECK(d.find("stage 0: gemm      Z = X W^T at every step") != std::string::npos);
    CHECK(d.find("LSTM<7, ReturnSequences>: time loop backward (dG)") != std::string::npos);
}
