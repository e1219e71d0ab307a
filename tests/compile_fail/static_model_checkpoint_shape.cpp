// Compile-fail: StaticModel on an embedded checkpoint that is not the model's:
// 2.weight is [3, 2], not [2, 3] (the struct as ctnn_embed_checkpoint writes it).
// expect: has another shape than the model's parameter of that name
#include <ctnn/static.hpp>

using namespace ctnn;
using Net = Sequential<Input<5>, Dense<3>, ReLU, Dense<2>>;

struct weights {
    static constexpr std::size_t tensor_count = 4;
    static constexpr EmbeddedTensor tensors[4] = {{"0.weight", 2, {3, 5, 0, 0}, 0, 15},
                                                  {"0.bias", 1, {3, 0, 0, 0}, 15, 3},
                                                  {"2.weight", 2, {2, 3, 0, 0}, 18, 6},
                                                  {"2.bias", 1, {2, 0, 0, 0}, 24, 2}};
    alignas(64) static constexpr float data[28] = {};
};
struct wrong {
    static constexpr std::size_t tensor_count = 4;
    static constexpr EmbeddedTensor tensors[4] = {{"0.weight", 2, {3, 5, 0, 0}, 0, 15},
                                                  {"0.bias", 1, {3, 0, 0, 0}, 15, 3},
                                                  {"2.weight", 2, {3, 2, 0, 0}, 18, 6},
                                                  {"2.bias", 1, {2, 0, 0, 0}, 24, 2}};
    alignas(64) static constexpr float data[28] = {};
};

#ifndef CTNN_KO
using W = weights;
#else
using W = wrong;
#endif

int main() {
    StaticModel<Net, 1, EmbeddedParameters<W>> m;
    const std::array<float, 5> x{};
    return m.predict(x)[0] == 0.0f ? 0 : 1;
}
