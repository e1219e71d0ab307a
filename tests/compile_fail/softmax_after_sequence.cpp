// Compile-fail: Softmax given a recurrent layer's whole sequence (ReturnSequences).
// expect: after a sequence .steps, features.: LastStep or MeanOverSteps
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<28, 28>, GRU<16, ReturnSequences>, Dense<10>, MeanOverSteps, Softmax>;
#else
using Net = Sequential<Input<28, 28>, GRU<16, ReturnSequences>, Dense<10>, Softmax>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
