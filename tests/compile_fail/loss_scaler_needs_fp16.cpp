// Compile-fail: loss_scaler() of a model that is not fp16 (only fp16 training scales its loss:
// bf16 has fp32's exponent range).
// expect: loss_scaler
#include <ctnn/ctnn.hpp>

using namespace ctnn;

using Net = Sequential<Input<4>, Dense<2>>;

int main() {
#ifndef CTNN_KO
    Model<Net, precision::fp16> m(device::cpu());
#else
    Model<Net, precision::bf16> m(device::cpu());
#endif
    return m.loss_scaler().scale() > 0.0f ? 0 : 1;
}
