// Compile-fail: Upsample on a 1-D input.
// expect: Upsample expects a 3-D input \[channels, height, width\]
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 4, 4>, Upsample<2>>;
#else
using Net = Sequential<Input<32>, Upsample<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
