// Models compiled by nvcc (tests/cuda/models.cu): normalization in convolutional models
// (normalization first, the CNN example with BatchNorm).
#include "models.cuh"

namespace models {
namespace {

using NormFirstNet = Sequential<Input<2, 5, 5>, LayerNorm, Conv2D<3, 3>, ReLU, BatchNorm, Flatten,
                                LayerNormWith<1e-3f>, Dense<3>>;
// The Fashion-MNIST CNN example with BatchNorm after each convolution (the convolutions without
// bias), and BatchNorm / LayerNorm over features, first and after epilogues: every normalization
// kernel (training and inference forward, backward with and without an input gradient).
using ExampleBnNet = Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same, NoBias>, BatchNorm, ReLU,
                                MaxPool2D<2>, Conv2D<64, 3, Same, NoBias>, BatchNorm, ReLU,
                                MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dropout<0.3f>, Dense<10>>;

} // namespace

bool conv_norm_models(bool gpu) {
    bool ok = true;
    ok &= check<ExampleBnNet>("example cnn + batchnorm", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                              gpu);
    ok &= check<NormFirstNet>("norms first", loss::MSE{}, optim::SGD{.momentum = 0.9f}, gpu);
    return ok;
}

} // namespace models
