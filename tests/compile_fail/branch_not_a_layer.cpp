// Compile-fail: something that is not a layer inside a Branch.
// expect: Branch: every element must be a ctnn layer
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Add<Branch<Dense<4>, Tanh>, Dense<4>>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Add<Branch<Dense<4>, float>, Dense<4>>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
