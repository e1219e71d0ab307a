// A downstream embedded program: ctnn_embed_checkpoint (which every way of getting ctnn must
// provide) compiles tests/static/mlp_shuffled.safetensors in, StaticModel runs it without
// exceptions or RTTI; the output must equal plain loops over the embedded values.
#include <ctnn/static.hpp>

#include "weights.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>

using Net = ctnn::Sequential<ctnn::Input<5>, ctnn::Dense<7>, ctnn::ReLU, ctnn::Dense<3>>;

static const float* tensor(const char* name) {
    for (const ctnn::EmbeddedTensor& t : weights::tensors)
        if (std::strcmp(t.name, name) == 0) return weights::data + t.offset;
    return nullptr;
}

int main() {
    ctnn::StaticModel<Net, 1, ctnn::EmbeddedParameters<weights>> model;
    const std::array<float, 5> x{0.5f, -1.0f, 0.25f, 2.0f, -0.75f};
    const std::array<float, 3> y = model.predict(x);
    const float *w0 = tensor("0.weight"), *b0 = tensor("0.bias");
    const float *w2 = tensor("2.weight"), *b2 = tensor("2.bias");
    float h[7];
    for (int j = 0; j < 7; ++j) {
        float s = b0[j];
        for (int i = 0; i < 5; ++i) s += w0[j * 5 + i] * x[static_cast<std::size_t>(i)];
        h[j] = s > 0.0f ? s : 0.0f;
    }
    bool ok = true;
    for (int j = 0; j < 3; ++j) {
        float s = b2[j];
        for (int i = 0; i < 7; ++i) s += w2[j * 7 + i] * h[i];
        ok = ok && std::abs(s - y[static_cast<std::size_t>(j)]) <= 1e-5f * (1.0f + std::abs(s));
    }
    std::printf("consumer_static: StaticModel on an embedded checkpoint %s\n",
                ok ? "matches the loops" : "DIFFERS from the loops");
    return ok ? 0 : 1;
}
