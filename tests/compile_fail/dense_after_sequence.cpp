// Compile-fail: Dense given a recurrent layer's whole sequence [steps, H] (ReturnSequences).
// expect: needs Flatten, or a recurrent layer without ReturnSequences before Dense
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<28, 28>, GRU<16, ReturnSequences>, GRU<16>, Dense<10>>;
#else
using Net = Sequential<Input<28, 28>, GRU<16, ReturnSequences>, Dense<10>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
