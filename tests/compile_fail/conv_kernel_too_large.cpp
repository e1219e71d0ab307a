// Compile-fail: a Conv2D kernel larger than the padded input.
// expect: Conv2D: the kernel \(with its dilation\) is larger than the padded input
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 4, 4>, Conv2D<8, 5, Padding<1>>>;
#else
using Net = Sequential<Input<1, 4, 4>, Conv2D<8, 5>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
