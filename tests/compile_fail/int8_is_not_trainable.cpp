// Compile-fail: a Model trained in int8 (int8 is inference only: a trained fp32 model is
// quantized with ctnn::quantize into a QuantizedModel).
// expect: int8 is for inference, not training
#include <ctnn/ctnn.hpp>

using namespace ctnn;

using Net = Sequential<Input<4>, Dense<2>>;

int main() {
#ifndef CTNN_KO
    Model<Net> m(device::cpu());
    const std::vector<float> x(4, 0.5f);
    QuantizedModel<Net> q = quantize(m, x);
    return q.int8_stages == 1 ? 0 : 1;
#else
    Model<Net, Mixed<GemmOperands::int8>> m(device::cpu());
    return m.param_count == 10 ? 0 : 1;
#endif
}
