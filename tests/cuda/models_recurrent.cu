// Models compiled by nvcc (tests/cuda/models.cu): sequence models, the kernels of
// tests/unit/cuda_recurrent.cpp (with models_sequence.cu; the LSTM<128> of the examples is
// compiled by their _cuda builds).
#include "models.cuh"

namespace models {
namespace {

// Every cell, last state and every step, stacked, a Dense at every step with an epilogue before
// a recurrent layer, an epilogue after one, both step poolings, Bidirectional, Embedding, and the
// kernels' shapes: W_hh in shared memory (H = 5), read from global memory (LSTM<64>), two hidden
// units per thread (RNN<300>, models_sequence.cu). Few models, one H for the small layers: the
// host code of each model costs nvcc ~15 s (cicc twice, c++ once), each (cell, H) another pair
// of time-loop kernels; the three models in one TU took 80 s, so the third is in its own.
using StackNet = Sequential<Input<4, 3>, Dense<5>, Tanh, LSTM<5, ReturnSequences>, Dropout<0.2f>,
                            GRU<5, ReturnSequences>, RNN<5, ReturnSequences>,
                            RNN<5, ReLU, ReturnSequences>, LastStep, Dense<3>>;
using BiNet = Sequential<Input<4, 3>, Bidirectional<LSTM<5, ReturnSequences>>,
                         Bidirectional<GRU<5, ReturnSequences>>,
                         Bidirectional<RNN<5, ReturnSequences>>, MeanOverSteps, Dense<3>>;
} // namespace

bool recurrent_models(bool gpu) {
    bool ok = true;
    ok &= check<StackNet>("lstm, gru, rnn stacked, dense at every step, last step",
                          loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<BiNet>("bidirectional lstm, gru and rnn, mean over steps",
                       loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    return ok;
}

} // namespace models
