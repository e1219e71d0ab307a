// Compile-fail: Dense after a 3-D input without Flatten.
// expect: Dense expects a 1-D input .features. or a sequence .steps, features.; insert Flatten
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 28, 28>, Flatten, Dense<10>>;
#else
using Net = Sequential<Input<1, 28, 28>, Dense<10>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
