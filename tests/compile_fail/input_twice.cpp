// Compile-fail: Input in the middle of a model.
// expect: Input may appear only once
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Dense<2>, Input<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
