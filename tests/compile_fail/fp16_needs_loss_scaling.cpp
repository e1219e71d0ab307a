// Compile-fail: a Model in fp16 mixed precision, which needs dynamic loss scaling (not built yet).
// expect: fp16 training needs dynamic loss scaling
#include <ctnn/ctnn.hpp>

using namespace ctnn;

using Net = Sequential<Input<4>, Dense<2>>;
#ifndef CTNN_KO
using M = Model<Net, precision::bf16>;
#else
using M = Model<Net, precision::fp16>;
#endif

int main() { return static_cast<int>(sizeof(M) == 0); }
