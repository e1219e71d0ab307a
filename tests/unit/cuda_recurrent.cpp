// Sequence models on device::cuda() (host execution of the CUDA kernels) against the CPU: RNN,
// LSTM, GRU (last state and every step, stacked, bidirectional, an epilogue after them, a layer
// with an epilogue before them), Embedding, a Dense at every step, LastStep, MeanOverSteps,
// variable-length batches (MaskZero); the kernel counts of describe(); token ids checked before
// the upload. Helpers and tolerances:
// cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

namespace {

// Hidden sizes cover the kernels' shapes: H < 32 (one partial warp), W_hh in shared memory
// (small H) and read from global memory (LSTM<64>: 64 KiB), two units per thread (RNN<300>).
using LstmNet = Sequential<Input<5, 3>, LSTM<6>, Dense<4>>;
// A Dense with an epilogue at every step before the LSTM (its Tanh' is fused into the LSTM's
// input-gradient store), an epilogue after it (Dropout: one elementwise kernel), LastStep.
using LstmSeqNet = Sequential<Input<4, 3>, Dense<5>, Tanh, LSTM<7, ReturnSequences>, Dropout<0.2f>,
                              LastStep, Dense<3>>;
using GruNet = Sequential<Input<4, 3>, GRU<5, ReturnSequences>, GRU<6>, Dense<3>>;
using RnnNet = Sequential<Input<3, 4>, RNN<5, ReturnSequences>, RNN<4, ReLU, ReturnSequences>,
                          MeanOverSteps, Dense<3>>;
using BiNet = Sequential<Input<4, 3>, Bidirectional<LSTM<5, ReturnSequences>>,
                         Bidirectional<GRU<4>>, Dense<3>>;
using BiRnnNet =
    Sequential<Input<3, 2>, Bidirectional<RNN<6, ReturnSequences>>, MeanOverSteps, Dense<2>>;
using WideLstmNet = Sequential<Input<3, 5>, LSTM<64>, Dense<3>>;
using WideRnnNet = Sequential<Input<3, 4>, RNN<300>, Dense<2>>;
using PerStepNet = Sequential<Input<4, 3>, Dense<5>, ReLU, Dense<6>, MeanOverSteps, Dense<3>>;
using SeqOutNet = Sequential<Input<3, 2>, GRU<4, ReturnSequences>, Dense<2>>; // output [3, 2]
using EmbedNet = Sequential<Input<6>, Embedding<11, 4>, LSTM<5, ReturnSequences>, GRU<4>, Dense<3>>;
// Variable-length batches (MaskZero): every step masked kind, both directions, both outputs.
using MaskedNet =
    Sequential<Input<6>, Embedding<11, 4, MaskZero>, Bidirectional<LSTM<5, ReturnSequences>>,
               Dense<6>, Tanh, GRU<4, ReturnSequences>, LastStep, Dense<3>>;
using MaskedLastNet = Sequential<Input<6>, Embedding<11, 3, MaskZero>,
                                 RNN<4, ReLU, ReturnSequences>, Bidirectional<GRU<4>>, Dense<3>>;
using MaskedMeanNet = Sequential<Input<6>, Embedding<11, 2, MaskZero>, RNN<3, ReturnSequences>,
                                 MeanOverSteps, Dense<3>>;

/// Token ids in [0, vocab) as the model input.
std::vector<float> token_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = float((i * 5 + seed * 3 + i / 3) % vocab);
    return x;
}

/// Sample b: 1 + (b % 6) tokens in [1, vocab), then padding (0) up to `steps`.
std::vector<float> padded_ids(std::size_t batch, std::size_t steps, std::size_t vocab) {
    std::vector<float> x(batch * steps, 0.0f);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t t = 0; t < 1 + b % steps; ++t)
            x[b * steps + t] = float(1 + (b * 3 + t * 5) % (vocab - 1));
    return x;
}

/// `steps` SGD steps of Net on both backends from the same start: outputs, losses, gradients
/// and the parameters after each step agree (the transposed recurrent weight is remade every
/// pass from the updated parameters).
template <class Net>
void check_training(std::size_t batch, std::uint64_t seed, int steps,
                    const std::vector<float>& x_fixed = {}) {
    CAPTURE(batch);
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(seed);
    gpu.init(seed);
    const optim::SGD sgd{.lr = 5e-2f, .momentum = 0.9f};
    OptimizerState<optim::SGD> s_cpu(sgd, Net::param_count), s_gpu(sgd, Net::param_count);
    const auto labels = labels_for(batch, Net::out_size);
    const loss::Targets<float> t{labels};
    for (int step = 0; step < steps; ++step) {
        CAPTURE(step);
        const auto x = !x_fixed.empty()
                           ? x_fixed
                           : uniform(batch * Net::in_size,
                                     seed + 10 + static_cast<std::uint64_t>(step), -2.0f, 2.0f);
        const auto yc = cpu.forward(x, batch, Mode::training);
        const std::vector<float> y_cpu(yc.begin(), yc.end());
        check_close(gpu.forward(x, batch, Mode::training), y_cpu, 1e-4, 1e-6);
        CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, t) ==
              doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, t)).epsilon(1e-4));
        cpu.backward();
        gpu.backward();
        check_close(gpu.gradients(), cpu.gradients(), 1e-4, 1e-6);
        cpu.update(s_cpu, 5e-2f);
        gpu.update(s_gpu, 5e-2f);
    }
    check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
}

/// The launches of a training-mode forward pass and of a backward pass are the schedule's.
template <class Net>
void check_launches(const std::vector<float>& x, std::size_t batch) {
    using K = kernel_schedule<Net>;
    Model<Net> gpu(device::cuda());
    gpu.init(1);
    gpu.reserve(batch);
    cuda::reset_launch_count();
    (void)gpu.forward(x, batch, Mode::training);
    CHECK(cuda::launch_count() == K::forward);
    (void)gpu.loss(loss::SoftmaxCrossEntropy{}, {labels_for(batch, Net::out_size)});
    cuda::reset_launch_count();
    gpu.backward();
    CHECK(cuda::launch_count() == K::backward);
}

} // namespace

TEST_CASE("cuda: RNN, LSTM and GRU, last state and every step, against the CPU") {
    for (const std::size_t batch : {1u, 5u, 9u}) {
        check_step<LstmNet>(loss::SoftmaxCrossEntropy{}, batch, 3);
        check_step<LstmSeqNet>(loss::SoftmaxCrossEntropy{}, batch, 4);
        check_step<GruNet>(loss::SoftmaxCrossEntropy{}, batch, 5);
        check_step<RnnNet>(loss::SoftmaxCrossEntropy{}, batch, 6);
    }
    check_step<SeqOutNet>(loss::MSE{}, 5, 7);
}

TEST_CASE("cuda: Bidirectional layers, wide layers, a Dense at every step") {
    check_step<BiNet>(loss::SoftmaxCrossEntropy{}, 5, 8);
    check_step<BiRnnNet>(loss::SoftmaxCrossEntropy{}, 6, 9);
    check_step<WideLstmNet>(loss::SoftmaxCrossEntropy{}, 5, 10);
    check_step<WideRnnNet>(loss::SoftmaxCrossEntropy{}, 3, 11);
    check_step<PerStepNet>(loss::SoftmaxCrossEntropy{}, 5, 12);
}

TEST_CASE("cuda: sequence models train as on the CPU") {
    check_training<LstmSeqNet>(6, 21, 4);
    check_training<BiNet>(5, 22, 3);
    check_training<EmbedNet>(7, 23, 4, token_ids(7 * 6, 11, 1));
}

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
