// Compile-fail: an Add whose branches give different shapes.
// expect: Add: every branch must give the same output shape
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<6>, Add<Dense<4>, Branch<Dense<4>, Tanh>>, Dense<2>>;
#else
using Net = Sequential<Input<6>, Add<Dense<4>, Branch<Dense<3>, Tanh>>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
