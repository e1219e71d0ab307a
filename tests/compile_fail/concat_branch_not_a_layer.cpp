// Compile-fail: a branch of a Concat that is neither a Branch<...> nor a layer.
// expect: Concat: every branch must be a Branch<L\.\.\.> or a ctnn layer
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Concat<Dense<4>, Branch<Tanh>>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Concat<Dense<4>, int>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
