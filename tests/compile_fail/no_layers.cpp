// Compile-fail: a model with nothing to compute.
// expect: Sequential needs at least one layer after Input
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, ReLU>;
#else
using Net = Sequential<Input<4>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
