// Compile-fail: an Embedding that reads a computed value rather than the model input (token ids).
// expect: Embedding reads token ids, which have no gradient: it must read the model input
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 4>, Flatten, Embedding<10, 3>, LSTM<4>>;
#else
using Net = Sequential<Input<8>, Dense<8>, Embedding<10, 3>, LSTM<4>>;
#endif

int main() { return static_cast<int>(ctnn::forward_stage_count<Net>); }
