// Models compiled by nvcc (tests/cuda/models.cu): convolutional decoders, with nearest and
// bilinear upsampling.
#include "models.cuh"

namespace models {
namespace {

using EncoderDecoderNet =
    Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<5, 3, Same>, Tanh,
               Upsample<2>, SiLU, Conv2D<2, 3, Same>>;
using BilinearNet = Sequential<Input<2, 6, 5>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>,
                               Upsample<3, Bilinear>, Tanh, Conv2D<2, 3, Same>>;

} // namespace

bool decoder_models(bool gpu) {
    bool ok = true;
    ok &= check<EncoderDecoderNet>("encoder-decoder", loss::MSE{}, optim::Adam{}, gpu);
    ok &= check<BilinearNet>("bilinear decoder", loss::MSE{}, optim::Adam{}, gpu);
    return ok;
}

} // namespace models
