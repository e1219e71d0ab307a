// Models compiled by nvcc (tests/cuda/models.cu): pooling fused into convolutions.
#include "models.cuh"

namespace models {
namespace {

// Pooling in the convolution's store: the Fashion-MNIST CNN example (both pools fuse), and a
// max pool after an epilogue with Dropout and an average pool after a grouped convolution.
using ExampleCnnNet =
    Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<64, 3, Same>, ReLU,
               MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dropout<0.3f>, Dense<10>>;
using PoolFuseNet =
    Sequential<Input<2, 8, 8>, Conv2D<4, 3, Same>, ReLU, Dropout<0.2f>, MaxPool2D<2>, Tanh,
               Conv2D<4, 3, Groups<2>, Same, NoBias>, AvgPool2D<2>, Flatten, Dense<3>>;

} // namespace

bool pool_models(bool gpu) {
    bool ok = true;
    ok &= check<ExampleCnnNet>("example cnn (pools fused)", loss::SoftmaxCrossEntropy{},
                               optim::Adam{}, gpu);
    ok &= check<PoolFuseNet>("max and average pools fused", loss::SoftmaxCrossEntropy{},
                             optim::Adam{}, gpu);
    return ok;
}

} // namespace models
