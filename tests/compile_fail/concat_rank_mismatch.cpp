// Compile-fail: a Concat of a 3-D and a 1-D branch output.
// expect: Concat: the branch outputs must agree in every dimension but the first
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 4, 4>, Concat<Branch<Flatten, Dense<3>>, Flatten>, Dense<2>>;
#else
using Net = Sequential<Input<2, 4, 4>, Concat<Branch<Flatten, Dense<3>>, Conv2D<2, 1>>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
