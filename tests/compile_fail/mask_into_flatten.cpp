// Compile-fail: a masked sequence (Embedding with MaskZero) flattened into a Dense, which would
// read the padding as tokens.
// expect: reads a masked sequence .after Embedding<V, D, MaskZero>. but would read the padding
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net =
    Sequential<Input<4>, Embedding<10, 3, MaskZero>, LSTM<4, ReturnSequences>, LastStep, Dense<2>>;
#else
using Net =
    Sequential<Input<4>, Embedding<10, 3, MaskZero>, LSTM<4, ReturnSequences>, Flatten, Dense<2>>;
#endif

int main() { return static_cast<int>(activation_floats_per_sample<Net> == 0); }
