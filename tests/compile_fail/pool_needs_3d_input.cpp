// Compile-fail: MaxPool2D on a 1-D input.
// expect: MaxPool2D expects a 3-D input \[channels, height, width\]
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 28, 28>, MaxPool2D<2>>;
#else
using Net = Sequential<Input<784>, MaxPool2D<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
