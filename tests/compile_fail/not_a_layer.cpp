// Compile-fail: a type that is not a layer in the list.
// expect: every element after Input must be a ctnn layer
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dense<2>>;
#else
using Net = Sequential<Input<4>, int, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
