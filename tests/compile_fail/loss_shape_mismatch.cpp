// Compile-fail: a loss that does not fit the model's output (cross-entropy over one logit).
// expect: SoftmaxCrossEntropy expects the model to output a 1-D vector of at least 2 class logits
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dense<3>>;
#else
using Net = Sequential<Input<4>, Dense<1>>;
#endif

int main() {
    Model<Net> m;
    Dataset d;
    train(m, d, loss::SoftmaxCrossEntropy{}, optim::SGD{});
}
