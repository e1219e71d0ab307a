// Compile-fail: an Input inside a branch.
// expect: Branch: Input cannot appear in a branch
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Add<Branch<Dense<4>>, Branch<>>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Add<Branch<Input<4>, Dense<4>>, Branch<>>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
