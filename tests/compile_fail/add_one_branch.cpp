// Compile-fail: an Add with a single branch (a join needs two).
// expect: Add needs at least two branches
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Add<Branch<>, Branch<Dense<4>, Tanh>>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Add<Branch<Dense<4>, Tanh>>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
