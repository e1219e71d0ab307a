// Compile-fail: binary cross-entropy on a 2-D output.
// expect: BCEWithLogits expects the model to output a 1-D vector of logits
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dense<6>>;
#else
using Net = Sequential<Input<4>, Dense<6>, Reshape<2, 3>>;
#endif

int main() {
    Model<Net> m;
    Dataset d;
    evaluate(m, d, loss::BCEWithLogits{});
}
