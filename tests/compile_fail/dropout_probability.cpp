// Compile-fail: a Dropout probability outside [0, 1).
// expect: Dropout probability must be in \[0, 1\)
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dropout<0.5f>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Dropout<1.5f>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
