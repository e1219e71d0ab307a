// Compile-fail: a Reshape that changes the number of values.
// expect: Reshape must keep the number of values of a sample
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<12>, Reshape<3, 4>, Flatten, Dense<2>>;
#else
using Net = Sequential<Input<12>, Reshape<5, 4>, Flatten, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
