// Models compiled by nvcc (tests/cuda/models.cu): convolutional models (grouped, depthwise,
// a nearest-upsampling decoder).
#include "models.cuh"

namespace models {
namespace {

using ConvNet = Sequential<Input<2, 7, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                           Conv2D<6, 3, Stride<2>, Padding<1>, NoBias>, Tanh, Flatten, Dense<3>>;
using GroupNet =
    Sequential<Input<4, 6, 6>, Conv2D<8, 3, Groups<2>, Dilation<2>, Padding<2>>, GELU,
               Conv2D<8, 3, Depthwise, Same>, Dropout<0.2f>, AvgPool2D<3, Stride<2>, Padding<1>>,
               SiLU, GlobalAvgPool, Flatten, Dense<2>>;
using EncoderDecoderNet =
    Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<5, 3, Same>, Tanh,
               Upsample<2>, SiLU, Conv2D<2, 3, Same>>;
} // namespace

bool conv_models(bool gpu) {
    bool ok = true;
    ok &= check<ConvNet>("conv", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<GroupNet>("grouped conv", loss::MSE{}, optim::AdamW{}, gpu);
    ok &= check<EncoderDecoderNet>("encoder-decoder", loss::MSE{}, optim::Adam{}, gpu);
    return ok;
}

} // namespace models
