// Models compiled by nvcc (tests/cuda/models.cu): an Embedding before recurrent layers whose
// recurrent weight does not fit in shared memory (LSTM<64>) or which run two hidden units per
// thread (RNN<300>), and a padded batch (MaskZero); models_recurrent.cu has the others.
#include "models.cuh"

namespace models {
namespace {

using WideEmbedNet =
    Sequential<Input<6>, Embedding<11, 4>, LSTM<64, ReturnSequences>, RNN<300>, Dense<3>>;
// A variable-length batch (MaskZero): the time loops' padded steps, both directions, and the
// step pooling over each sample's length.
using MaskedNet = Sequential<Input<6>, Embedding<11, 4, MaskZero>,
                             Bidirectional<LSTM<5, ReturnSequences>>, MeanOverSteps, Dense<3>>;

} // namespace

bool sequence_models(bool gpu) {
    bool ok = check<WideEmbedNet>("embedding, lstm<64>, rnn<300>", loss::SoftmaxCrossEntropy{},
                                  optim::Adam{}, gpu);
    ok &= check<MaskedNet>("padded batch (MaskZero), bidirectional lstm, mean over steps",
                           loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    return ok;
}

} // namespace models
