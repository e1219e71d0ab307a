// Compile-fail: a rectangular kernel with no columns.
// expect: Conv2D needs a kernel size of at least 1
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 8, 8>, Conv2D<2, Kernel{3, 1}>>;
#else
using Net = Sequential<Input<1, 8, 8>, Conv2D<2, Kernel{3, 0}>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
