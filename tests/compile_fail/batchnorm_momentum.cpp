// Compile-fail: a BatchNorm momentum outside [0, 1].
// expect: BatchNorm momentum must be in \[0, 1\]
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<4>, Dense<8>, BatchNormWith<0.05f, 1e-5f>, Dense<2>>;
#else
using Net = Sequential<Input<4>, Dense<8>, BatchNormWith<1.5f, 1e-5f>, Dense<2>>;
#endif

int main() { return static_cast<int>(Net::param_count % 2); }
