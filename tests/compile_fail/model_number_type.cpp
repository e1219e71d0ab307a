// Compile-fail: a Model's number type must be float, double or a mixed precision.
// expect: ModelNumber
#include <ctnn/ctnn.hpp>

using namespace ctnn;

using Net = Sequential<Input<4>, Dense<2>>;
#ifndef CTNN_KO
using M = Model<Net, double>;
#else
using M = Model<Net, int>;
#endif

int main() { return static_cast<int>(sizeof(M) == 0); }
