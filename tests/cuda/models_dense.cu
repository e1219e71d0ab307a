// Models compiled by nvcc (tests/cuda/models.cu): Dense models (MLPs, softmax heads).
#include "models.cuh"

namespace models {
namespace {

using ExampleNet = Sequential<Input<784>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
using SmallNet = Sequential<Input<13>, Dense<17>, ReLU, Dropout<0.25f>, Dense<5>>;
using DeepNet = Sequential<Input<9>, Dense<70>, GELU, Dense<33, NoBias>, Tanh, Dropout<0.5f>,
                           Dense<1>, Sigmoid>;
using SoftmaxNet = Sequential<Input<6>, Dense<12>, SiLU, Softmax, Dense<4>, LogSoftmax>;
using LeadingNet = Sequential<Input<2, 4>, Flatten, Tanh, Dense<3>, ELU<1.0f>>;

} // namespace

bool dense_models(bool gpu) {
    bool ok = true;
    ok &= check<ExampleNet>("example", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
    ok &= check<SmallNet>("small", loss::SoftmaxCrossEntropy{}, optim::SGD{.momentum = 0.9f}, gpu);
    ok &= check<DeepNet>("deep/mse", loss::MSE{}, optim::AdamW{}, gpu);
    ok &= check<DeepNet>("deep/bce", loss::BCEWithLogits{}, optim::Adam{}, gpu);
    ok &= check<SoftmaxNet>("softmax/l1", loss::L1{},
                            optim::SGD{.momentum = 0.5f, .nesterov = true}, gpu);
    ok &= check<SoftmaxNet>("softmax/huber", loss::Huber{}, optim::Adam{}, gpu);
    ok &= check<LeadingNet>("leading", loss::MSE{}, optim::SGD{}, gpu);
    return ok;
}

} // namespace models
