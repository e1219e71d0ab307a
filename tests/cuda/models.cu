// Models compiled by nvcc: every kernel a training step of the test models and of the
// Fashion-MNIST example instantiates (tests/unit/cuda_model.cpp runs the same models in host
// execution), for CMAKE_CUDA_ARCHITECTURES with ptxas statistics in the build log.
//
// Run on a machine without a GPU (CI), the program checks the CPU fallback of a CUDA build:
// device::best() picks the CPU (printing one notice), device::cuda() is refused with the
// driver's reason, and a model compiled by nvcc trains on the CPU. With a GPU it trains the same
// model on both devices and compares the losses.
#include <ctnn/ctnn.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <vector>

using namespace ctnn;

namespace {

using ExampleNet = Sequential<Input<784>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
using SmallNet = Sequential<Input<13>, Dense<17>, ReLU, Dropout<0.25f>, Dense<5>>;
using DeepNet =
    Sequential<Input<9>, Dense<70>, GELU, Dense<33, NoBias>, Tanh, Dropout<0.5f>, Dense<1>, Sigmoid>;
using SoftmaxNet = Sequential<Input<6>, Dense<12>, SiLU, Softmax, Dense<4>, LogSoftmax>;
using LeadingNet = Sequential<Input<2, 4>, Flatten, Tanh, Dense<3>, ELU<1.0f>>;
using ConvNet = Sequential<Input<2, 7, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>,
                           Conv2D<6, 3, Stride<2>, Padding<1>, NoBias>, Tanh, Flatten, Dense<3>>;
using GroupNet =
    Sequential<Input<4, 6, 6>, Conv2D<8, 3, Groups<2>, Dilation<2>, Padding<2>>, GELU,
               Conv2D<8, 3, Depthwise, Same>, Dropout<0.2f>, AvgPool2D<3, Stride<2>, Padding<1>>,
               SiLU, GlobalAvgPool, Flatten, Dense<2>>;
using EncoderDecoderNet =
    Sequential<Input<2, 6, 6>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<5, 3, Same>, Tanh,
               Upsample<2>, SiLU, Conv2D<2, 3, Same>>;
using BilinearNet = Sequential<Input<2, 6, 5>, Conv2D<3, 3, Same>, ReLU, MaxPool2D<2>,
                               Upsample<3, Bilinear>, Tanh, Conv2D<2, 3, Same>>;
// Dense + BatchNorm pairs, which an inference pass folds into the GEMM store (with and without
// bias, BatchNorm with and without an epilogue).
using DenseFoldNet =
    Sequential<Input<12>, Dense<16>, BatchNorm, ReLU, Dense<8, NoBias>, BatchNorm, Dense<3>>;
// The Fashion-MNIST CNN example with BatchNorm after each convolution (the convolutions without
// bias), and BatchNorm / LayerNorm over features, first and after epilogues: every normalization
// kernel (training and inference forward, backward with and without an input gradient).
using ExampleBnNet = Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same, NoBias>, BatchNorm, ReLU,
                                MaxPool2D<2>, Conv2D<64, 3, Same, NoBias>, BatchNorm, ReLU,
                                MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dropout<0.3f>, Dense<10>>;
// Pooling in the convolution's store: the Fashion-MNIST CNN example (both pools fuse), and a
// max pool after an epilogue with Dropout and an average pool after a grouped convolution.
using ExampleCnnNet =
    Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>, Conv2D<64, 3, Same>, ReLU,
               MaxPool2D<2>, Flatten, Dense<128>, ReLU, Dropout<0.3f>, Dense<10>>;
using PoolFuseNet =
    Sequential<Input<2, 8, 8>, Conv2D<4, 3, Same>, ReLU, Dropout<0.2f>, MaxPool2D<2>, Tanh,
               Conv2D<4, 3, Groups<2>, Same, NoBias>, AvgPool2D<2>, Flatten, Dense<3>>;
using NormNet = Sequential<Input<12>, Dense<16>, ReLU, BatchNormWith<0.05f, 1e-4f>, Dense<8>,
                           LayerNorm, Tanh, Dense<3>>;
using NormFirstNet = Sequential<Input<2, 5, 5>, LayerNorm, Conv2D<3, 3>, ReLU, BatchNorm, Flatten,
                                LayerNormWith<1e-3f>, Dense<3>>;
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
using TwoBranchNet =
    Sequential<Input<5>, Dense<6>, Tanh, Add<Branch<Dense<6>, ReLU>, Branch<Dense<6>, Sigmoid>>,
               Add<Branch<Dense<6>, GELU>, Branch<>>, Dense<3>>;
using BranchNet =
    Sequential<Input<7>, Dense<8>, Tanh,
               Add<Branch<Add<Branch<>, Dense<8>>, ReLU>, Dense<8>, Branch<Sigmoid>, Branch<>>,
               Dropout<0.2f>, Concat<Dense<3>, Branch<Dense<2>, Tanh>>, Dense<3>>;

/// Mean loss of `steps` training steps of Net on `dev` (same data and seed on every device).
template <class Net, class L, class O>
double train_steps(Device dev, const L& loss, const O& opt, int steps) {
    Model<Net> m(dev);
    m.init(7);
    OptimizerState<O> state(opt, Net::param_count);
    const std::size_t batch = 8;
    std::vector<float> x(batch * Net::in_size), t(batch * Net::out_size);
    std::vector<std::int32_t> labels(batch);
    double last = 0;
    for (int s = 0; s < steps; ++s) {
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = std::sin(0.37f * static_cast<float>(i) + static_cast<float>(s));
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = 0.5f + 0.4f * std::cos(0.1f * float(i));
        for (std::size_t b = 0; b < batch; ++b)
            labels[b] =
                static_cast<std::int32_t>((b + static_cast<std::size_t>(s)) % Net::out_size);
        (void)m.forward(x, batch, Mode::training);
        last = m.loss(loss, {labels, t});
        m.backward();
        m.update(state, 1e-3f);
    }
    return last;
}

template <class Net, class L, class O>
bool check(const char* name, const L& loss, const O& opt, bool gpu) {
    const double cpu = train_steps<Net>(device::cpu(), loss, opt, 5);
    if (!std::isfinite(cpu)) {
        std::printf("FAIL %s: loss %g on the CPU\n", name, cpu);
        return false;
    }
    if (!gpu) return true;
    const double dev = train_steps<Net>(device::cuda(), loss, opt, 5);
    const bool ok = std::fabs(dev - cpu) <= 1e-3 * std::fabs(cpu) + 1e-6;
    std::printf("%s %s: cpu %.7f, cuda %.7f\n", ok ? "ok  " : "FAIL", name, cpu, dev);
    return ok;
}

} // namespace

int main() {
    try {
        const ctnn::cuda::DeviceProbe p = ctnn::cuda::probe();
        const bool gpu = p.count > 0;
        std::printf("CUDA devices: %d%s%s\n", p.count, gpu ? "" : " - ", p.reason.c_str());
        const Device best = device::best();
        std::printf("device::best(): %s\n", best.str().c_str());
        if (!gpu) {
            if (best != device::cpu()) return 1;
            try {
                Model<SmallNet> m(device::cuda());
                std::printf("FAIL: Model(device::cuda()) succeeded without a device\n");
                return 1;
            } catch (const argument_error& e) {
                std::printf("device::cuda() refused: %s\n", e.what());
            }
        }
        bool ok = true;
        ok &= check<ExampleNet>("example", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
        ok &= check<SmallNet>("small", loss::SoftmaxCrossEntropy{}, optim::SGD{.momentum = 0.9f},
                              gpu);
        ok &= check<DeepNet>("deep/mse", loss::MSE{}, optim::AdamW{}, gpu);
        ok &= check<DeepNet>("deep/bce", loss::BCEWithLogits{}, optim::Adam{}, gpu);
        ok &= check<SoftmaxNet>("softmax/l1", loss::L1{},
                                optim::SGD{.momentum = 0.5f, .nesterov = true}, gpu);
        ok &= check<SoftmaxNet>("softmax/huber", loss::Huber{}, optim::Adam{}, gpu);
        ok &= check<LeadingNet>("leading", loss::MSE{}, optim::SGD{}, gpu);
        ok &= check<ConvNet>("conv", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
        ok &= check<GroupNet>("grouped conv", loss::MSE{}, optim::AdamW{}, gpu);
        ok &= check<EncoderDecoderNet>("encoder-decoder", loss::MSE{}, optim::Adam{}, gpu);
        ok &= check<BilinearNet>("bilinear decoder", loss::MSE{}, optim::Adam{}, gpu);
        ok &= check<DenseFoldNet>("dense + batchnorm", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                                  gpu);
        ok &= check<ExampleBnNet>("example cnn + batchnorm", loss::SoftmaxCrossEntropy{},
                                  optim::Adam{}, gpu);
        ok &=
            check<NormNet>("batchnorm/layernorm", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
        ok &= check<NormFirstNet>("norms first", loss::MSE{}, optim::SGD{.momentum = 0.9f}, gpu);
        ok &= check<ResidualNet>("residual", loss::SoftmaxCrossEntropy{}, optim::Adam{}, gpu);
        ok &= check<InceptionNet>("concat (inception)", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                                  gpu);
        ok &= check<BranchNet>("add, nested", loss::MSE{}, optim::AdamW{}, gpu);
        ok &= check<ExampleCnnNet>("example cnn (pools fused)", loss::SoftmaxCrossEntropy{},
                                   optim::Adam{}, gpu);
        ok &= check<PoolFuseNet>("max and average pools fused", loss::SoftmaxCrossEntropy{},
                                 optim::Adam{}, gpu);
        ok &= check<ResBnNet>("resnet block + batchnorm", loss::SoftmaxCrossEntropy{},
                              optim::Adam{}, gpu);
        ok &= check<TwoBranchNet>("add of two branches", loss::SoftmaxCrossEntropy{}, optim::Adam{},
                                  gpu);
        std::printf("%s\n", ok ? "all models ok" : "FAILED");
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::printf("FAIL: %s\n", e.what());
        return 1;
    }
}
