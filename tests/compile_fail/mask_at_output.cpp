// Compile-fail: a model whose output is a masked sequence: a loss would read its padding.
// expect: the model's output is a masked sequence
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Embedding<10, 3, MaskZero>, GRU<4>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Embedding<10, 3, MaskZero>, GRU<4, ReturnSequences>, Dense<2>>;
#endif

int main() { return static_cast<int>(activation_floats_per_sample<Net> == 0); }
