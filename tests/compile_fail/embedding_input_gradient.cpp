// Compile-fail: Model::input_gradient of a model whose input is token ids (Embedding).
// expect: this model's input is token ids
#include <ctnn/ctnn.hpp>

#include <vector>

using namespace ctnn;

int main() {
    using Net = Sequential<Input<4>, Embedding<10, 3>, GRU<4>, Dense<2>>;
    Model<Net> m(device::cpu());
    std::vector<float> x(4, 1.0f), t(2, 0.0f);
#ifndef CTNN_KO
    m.forward(x, Mode::training);
    return static_cast<int>(m.loss(loss::MSE{}, {{}, t}));
#else
    return static_cast<int>(m.input_gradient(x, loss::MSE{}, {{}, t}).size());
#endif
}
