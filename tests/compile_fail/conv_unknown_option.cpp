// Compile-fail: a type that is not a Conv2D option.
// expect: Conv2D options are Same, Valid, Padding<P>, Stride<S>, Dilation<D>, Groups<G>, Depthwise
// and NoBias
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 8, 8>, Conv2D<8, 3>, ReLU>;
#else
using Net = Sequential<Input<1, 8, 8>, Conv2D<8, 3, ReLU>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
