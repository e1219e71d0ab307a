// Compile-fail: Softmax over a 2-D sample.
// expect: Softmax expects a 1-D input
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 3>, Flatten, Softmax>;
#else
using Net = Sequential<Input<2, 3>, Softmax>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
