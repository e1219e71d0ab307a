// The MLP in plain loops, as one would write it by hand for this one model.
#include "common.hpp"

namespace {
void dense(const float* w, const float* b, const float* x, float* y, int in, int out, bool relu) {
    for (int j = 0; j < out; ++j) {
        float s = b[j];
        for (int i = 0; i < in; ++i) s += w[j * in + i] * x[i];
        y[j] = relu && s < 0.0f ? 0.0f : s;
    }
}
} // namespace

int main() {
    const float* d = fashion_mnist_mlp128::data; // tensors in the file's order
    float x[784];
    float h[128];
    float y[10];
    while (read_image(x)) {
        dense(d, d + 100352, x, h, 784, 128, true);
        dense(d + 100480, d + 101760, h, y, 128, 10, false);
        print_class(y);
    }
}
