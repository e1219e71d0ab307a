// Models compiled by nvcc (tests/cuda/models.cu): convolutional joins (Residual, a ResNet block
// with folded BatchNorm, an Inception-style Concat).
#include "models.cuh"

namespace models {
namespace {

// Joins: a Residual block (with the Inception-style Concat below, every join kernel
// instantiation kind).
using ResidualNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                               Residual<Conv2D<4, 3, Same>, ReLU, Conv2D<4, 3, Same>>, ReLU,
                               MaxPool2D<2>, Flatten, Dense<3>>;
// Joins in a GEMM store: a ResNet block whose last BatchNorm folds into its convolution and the
// join after it (inference), and an Add of two computed branches (every pass).
using ResBnNet = Sequential<
    Input<2, 5, 5>, Conv2D<4, 3, Same>, ReLU,
    Residual<Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU, Conv2D<4, 3, Same, NoBias>, BatchNorm>,
    ReLU, Flatten, Dense<3>>;
// An Inception-style Concat of convolution, pool and identity branches.
using InceptionNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                                Concat<Branch<Conv2D<3, 1>, ReLU>, Branch<Conv2D<2, 3, Same>, Tanh>,
                                       MaxPool2D<3, Stride<1>, Padding<1>>, Branch<>>,
                                ReLU, GlobalAvgPool, Flatten, Dense<3>>;

} // namespace

bool join_models(bool gpu) {
    bool ok = true;
    ok &= check<ResidualNet>("residual", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<ResBnNet>("resnet block + batchnorm", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                          gpu);
    ok &=
        check<InceptionNet>("concat (inception)", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    return ok;
}

} // namespace models
