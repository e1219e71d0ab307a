// Models compiled by nvcc (tests/cuda/models.cu): convolutional joins (Residual, Inception-style
// Concat, a ResNet block with folded BatchNorm).
#include "models.cuh"

namespace models {
namespace {

// Joins: a Residual block, an Inception-style Concat with pool and identity branches, an Add
// with an elementwise-only branch and nested blocks (every join kernel instantiation kind).
using ResidualNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                               Residual<Conv2D<4, 3, Same>, ReLU, Conv2D<4, 3, Same>>, ReLU,
                               MaxPool2D<2>, Flatten, Dense<3>>;
using InceptionNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                                Concat<Branch<Conv2D<3, 1>, ReLU>, Branch<Conv2D<2, 3, Same>, Tanh>,
                                       MaxPool2D<3, Stride<1>, Padding<1>>, Branch<>>,
                                ReLU, GlobalAvgPool, Flatten, Dense<3>>;
// Joins in a GEMM store: a ResNet block whose last BatchNorm folds into its convolution and the
// join after it (inference), and an Add of two computed branches (every pass).
using ResBnNet = Sequential<
    Input<2, 5, 5>, Conv2D<4, 3, Same>, ReLU,
    Residual<Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, Conv2D<4, 3, Same, NoBias>, BatchNorm>,
    ReLU, Flatten, Dense<3>>;

} // namespace

bool join_models(bool gpu) {
    bool ok = true;
    ok &= check<ResidualNet>("residual", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &=
        check<InceptionNet>("concat (inception)", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<ResBnNet>("resnet block + batchnorm", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                          gpu);
    return ok;
}

} // namespace models
