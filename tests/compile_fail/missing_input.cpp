// Compile-fail: a model without Input.
// expect: Sequential must start with Input<...>
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dense<2>>;
#else
using Net = Sequential<Dense<4>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
