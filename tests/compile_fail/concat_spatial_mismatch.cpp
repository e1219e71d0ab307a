// Compile-fail: a Concat whose branches disagree in height and width (only channels may differ).
// expect: Concat: the branch outputs must agree in every dimension but the first
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<3, 8, 8>, Concat<Conv2D<4, 3, Same>, Conv2D<2, 1>>, Flatten, Dense<2>>;
#else
using Net = Sequential<Input<3, 8, 8>, Concat<Conv2D<4, 3>, Conv2D<2, 1>>, Flatten, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
