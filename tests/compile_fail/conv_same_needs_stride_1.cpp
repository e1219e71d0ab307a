// Compile-fail: Same padding with a stride (PyTorch rejects it too).
// expect: Conv2D: Same padding needs stride 1
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 8, 8>, Conv2D<8, 3, Padding<1>, Stride<2>>>;
#else
using Net = Sequential<Input<1, 8, 8>, Conv2D<8, 3, Same, Stride<2>>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
