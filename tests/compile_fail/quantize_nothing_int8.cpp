// Compile-fail: quantizing a model none of whose layers int8 can run (no Dense on flat features,
// no Conv2D): the static_assert says so rather than making a "quantized" fp32 model.
// expect: no Dense or Conv2D layer that int8 could run
#include <ctnn/ctnn.hpp>

using namespace ctnn;

#ifndef CTNN_KO
using Net = Sequential<Input<2, 4, 4>, MaxPool2D<2>, Flatten, Dense<3>>;
#else
using Net = Sequential<Input<2, 4, 4>, MaxPool2D<2>, Flatten, ReLU>;
#endif

int main() {
    Model<Net> m(device::cpu());
    const std::vector<float> x(Net::in_size, 0.5f);
    return quantize(m, x).int8_stages == 1 ? 0 : 1;
}
