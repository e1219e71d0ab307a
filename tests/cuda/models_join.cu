// Models compiled by nvcc (tests/cuda/models.cu): convolutional joins (Residual, a ResNet block
// with folded BatchNorm; the Inception-style Concat is in models_dense_graph.cu).
#include "models.cuh"

namespace models {
namespace {

// Joins: a Residual block (with the Inception-style Concat of models_dense_graph.cu, every join
// kernel instantiation kind).
using ResidualNet = Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU,
                               Residual<Conv2D<4, 3, Same>, ReLU, Conv2D<4, 3, Same>>, ReLU,
                               MaxPool2D<2>, Flatten, Dense<3>>;
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
    ok &= check<ResBnNet>("resnet block + batchnorm", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                          gpu);
    return ok;
}

} // namespace models
