// Compile-fail: a depthwise Conv2D whose outputs are not a multiple of its inputs.
// expect: Conv2D: the output channels must be divisible by the number of groups
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4, 8, 8>, Conv2D<8, 3, Depthwise>>;
#else
using Net = Sequential<Input<4, 8, 8>, Conv2D<6, 3, Depthwise>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
