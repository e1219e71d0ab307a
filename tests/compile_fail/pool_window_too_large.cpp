// Compile-fail: a pooling window larger than the input.
// expect: MaxPool2D: the window is larger than the padded input
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 4, 4>, MaxPool2D<4>>;
#else
using Net = Sequential<Input<1, 3, 3>, MaxPool2D<4>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
