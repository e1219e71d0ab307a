// Compile-fail: a Residual whose body only reinterprets its input (y = 2x by accident).
// expect: Residual: the body must compute something \(it has only views\)
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Residual<Reshape<2, 2>, Tanh, Flatten>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Residual<Reshape<2, 2>, Flatten>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
