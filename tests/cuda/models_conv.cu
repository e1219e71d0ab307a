// Models compiled by nvcc (tests/cuda/models.cu): convolutional models (strided, grouped,
// dilated, depthwise).
#include "models.cuh"

namespace models {
namespace {

using ConvNet = Sequential<Input<2, 7, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                           Conv2D<6, 3, Stride<2>, Padding<1>, NoBias>, Tanh, Flatten, Dense<3>>;
using GroupNet =
    Sequential<Input<4, 6, 6>, Conv2D<8, 3, Groups<2>, Dilation<2>, Padding<2>>, GELU,
               Conv2D<8, 3, Depthwise, Same>, Dropout<0.2f>, AvgPool2D<3, Stride<2>, Padding<1>>,
               SiLU, GlobalAvgPool, Flatten, Dense<2>>;
} // namespace

bool conv_models(bool gpu) {
    bool ok = true;
    ok &= check<ConvNet>("conv", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<GroupNet>("grouped conv", loss::MSE{}, optim::AdamW{}, gpu);
    return ok;
}

} // namespace models
