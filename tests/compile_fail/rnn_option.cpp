// Compile-fail: an RNN option that is not a nonlinearity or ReturnSequences.
// expect: RNN's options are ReLU or Tanh
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<5, 3>, RNN<4, ReLU, ReturnSequences>, RNN<4, Tanh>>;
#else
using Net = Sequential<Input<5, 3>, RNN<4, Sigmoid>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
