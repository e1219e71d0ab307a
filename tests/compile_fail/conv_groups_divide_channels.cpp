// Compile-fail: input channels not divisible by Groups.
// expect: Conv2D: the input channels must be divisible by the number of groups
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4, 8, 8>, Conv2D<8, 3, Groups<2>>>;
#else
using Net = Sequential<Input<3, 8, 8>, Conv2D<8, 3, Groups<2>>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
