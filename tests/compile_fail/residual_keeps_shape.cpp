// Compile-fail: a Residual whose body changes the shape of its input.
// expect: Residual: the body must keep the shape of its input
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<8, 8, 8>, Residual<Conv2D<8, 3, Same>, ReLU>, Flatten, Dense<2>>;
#else
using Net = Sequential<Input<8, 8, 8>, Residual<Conv2D<16, 3>, ReLU>, Flatten, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
