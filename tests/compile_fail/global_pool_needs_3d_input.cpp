// Compile-fail: GlobalAvgPool on a 1-D input.
// expect: GlobalAvgPool expects a 3-D input \[channels, height, width\]
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4, 3, 3>, GlobalAvgPool, Flatten, Dense<2>>;
#else
using Net = Sequential<Input<36>, GlobalAvgPool, Flatten, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
