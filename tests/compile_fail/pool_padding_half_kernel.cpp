// Compile-fail: pooling padding of more than half the kernel (PyTorch rejects it too).
// expect: AvgPool2D: padding must be at most half the kernel size
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 8, 8>, AvgPool2D<3, Padding<1>>>;
#else
using Net = Sequential<Input<1, 8, 8>, AvgPool2D<3, Padding<2>>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
