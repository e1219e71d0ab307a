// Compile-fail: Conv2D on a 1-D input.
// expect: Conv2D expects a 3-D input \[channels, height, width\]
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 28, 28>, Conv2D<8, 3>>;
#else
using Net = Sequential<Input<784>, Conv2D<8, 3>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
