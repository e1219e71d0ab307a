// Compile-fail: a Concat with a single branch.
// expect: Concat needs at least two branches
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Concat<Dense<3>, Dense<2>>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Concat<Dense<3>>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
