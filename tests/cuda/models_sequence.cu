// Models compiled by nvcc (tests/cuda/models.cu): an Embedding before recurrent layers whose
// recurrent weight does not fit in shared memory (LSTM<64>) or which run two hidden units per
// thread (RNN<300>); models_recurrent.cu has the others.
#include "models.cuh"

namespace models {
namespace {

using WideEmbedNet =
    Sequential<Input<6>, Embedding<11, 4>, LSTM<64, ReturnSequences>, RNN<300>, Dense<3>>;

} // namespace

bool sequence_models(bool gpu) {
    return check<WideEmbedNet>("embedding, lstm<64>, rnn<300>", loss::SoftmaxCrossEntropy{},
                               optim::Adam{}, gpu);
}

} // namespace models
