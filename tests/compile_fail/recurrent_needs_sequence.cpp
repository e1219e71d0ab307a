// Compile-fail: an LSTM given a flat input [784] instead of a sequence [steps, features].
// expect: RNN, LSTM and GRU read a sequence
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<784>, Reshape<28, 28>, LSTM<16>, Dense<10>>;
#else
using Net = Sequential<Input<784>, LSTM<16>, Dense<10>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
