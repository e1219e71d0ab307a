// Sequence models on device::cuda() (host execution of the CUDA kernels) against the CPU: RNN,
// LSTM, GRU (last state and every step, stacked, bidirectional, an epilogue after them, a layer
// with an epilogue before them), a Dense at every step, LastStep, MeanOverSteps, and training.
// Variable-length batches, Embedding and the kernel counts: cuda_sequence.cpp (a TU of its own to
// keep each test TU's compile time short). Models and helpers: cuda_recurrent_checks.hpp.
#include "cuda_recurrent_checks.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;
using namespace ctnn::test::recurrent_checks;

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
