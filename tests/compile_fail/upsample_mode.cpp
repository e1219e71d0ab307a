// Compile-fail: Upsample with something other than a mode as its second argument.
// expect: Upsample: the mode is Nearest or Bilinear
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 4, 4>, Upsample<2, Bilinear>>;
#else
using Net = Sequential<Input<2, 4, 4>, Upsample<2, Same>>;
#endif

int main() { return static_cast<int>(Net::out_shape::size % 2); }
