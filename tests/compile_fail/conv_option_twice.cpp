// Compile-fail: two padding options on one Conv2D.
// expect: Conv2D: give each option at most once
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 8, 8>, Conv2D<8, 3, Padding<1>>>;
#else
using Net = Sequential<Input<1, 8, 8>, Conv2D<8, 3, Same, Padding<1>>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
