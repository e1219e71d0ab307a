// Compile-fail: a type that is not a Dense option (Dense takes option types, like Conv2D).
// expect: Dense's only option is NoBias
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<8>, Dense<4, NoBias>, ReLU>;
#else
using Net = Sequential<Input<8>, Dense<4, Same>, ReLU>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
