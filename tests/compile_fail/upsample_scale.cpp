// Compile-fail: Upsample with a scale factor of 0.
// expect: Upsample needs a scale factor of at least 1
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 4, 4>, Upsample<1>>;
#else
using Net = Sequential<Input<2, 4, 4>, Upsample<0>>;
#endif

int main() { return static_cast<int>(Net::out_shape::size % 2); }
