// Compile-fail: StaticModel of a convolutional model (it runs Dense, Softmax and elementwise
// stages; Model runs the rest).
// expect: StaticModel runs Dense .one sample per row., Softmax, LogSoftmax
#include <ctnn/static.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<1, 4, 4>, Flatten, Dense<3>, ReLU, Dense<2>>;
#else
using Net = Sequential<Input<1, 4, 4>, Conv2D<2, 3>, ReLU, Flatten, Dense<2>>;
#endif

int main() {
    StaticModel<Net> m;
    const std::array<float, 16> x{};
    return m.predict(x)[0] == 0.0f ? 0 : 1;
}
