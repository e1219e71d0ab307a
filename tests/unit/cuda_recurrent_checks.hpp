// Models and helpers of the CUDA sequence-model tests (cuda_recurrent.cpp, cuda_sequence.cpp):
// host execution of the CUDA kernels against the CPU. Tolerances and check_step: cuda_checks.hpp.
#pragma once
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ctnn::test::recurrent_checks {
using namespace ctnn;
using namespace ctnn::test::cuda_checks;

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
inline std::vector<float> token_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = float((i * 5 + seed * 3 + i / 3) % vocab);
    return x;
}

/// Sample b: 1 + (b % 6) tokens in [1, vocab), then padding (0) up to `steps`.
inline std::vector<float> padded_ids(std::size_t batch, std::size_t steps, std::size_t vocab) {
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

} // namespace ctnn::test::recurrent_checks
