// BatchNorm and LayerNorm on device::cuda() against the CPU: values, gradients, training steps,
// running statistics (double precision: cuda_norm_double.cpp). Helpers and tolerances:
// cuda_checks.hpp. Kernel counts, buffers and the inference fold: cuda_norm_state.cpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

TEST_CASE("BatchNorm on CUDA equals the CPU: images, features, [C, L], options, first stage") {
    // (Batches of 3 and more: with 2 samples a 1-D BatchNorm's input gradient is a difference of
    // nearly equal terms, zero up to eps, and its float rounding is all that is left.)
    for (const std::size_t batch : {std::size_t{3}, std::size_t{13}}) {
        check_step<BnCnnNet>(loss::SoftmaxCrossEntropy{}, batch, 51);
        check_step<BnFirstNet>(loss::MSE{}, batch, 52);
        check_step<BnMlpNet>(loss::SoftmaxCrossEntropy{}, batch, 53);
        check_step<BnSeqNet>(loss::Huber{}, batch, 54);
    }
    // A batch of 70 images of 6 x 5 gives 2100 values per channel: the block loops stride.
    check_step<BnCnnNet>(loss::SoftmaxCrossEntropy{}, 70, 55);
    check_step<BnMlpNet>(loss::SoftmaxCrossEntropy{}, 300, 56);
}

TEST_CASE("LayerNorm on CUDA equals the CPU: features, images, first, middle and last stage") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{6}}) {
        check_step<LnNet>(loss::SoftmaxCrossEntropy{}, batch, 61);
        check_step<LnImageNet>(loss::MSE{}, batch, 62);
        check_step<LnLastNet>(loss::BCEWithLogits{}, batch, 63);
    }
    check_step<LnNet>(loss::L1{}, 40, 64);
}

TEST_CASE("training with BatchNorm and LayerNorm on CUDA follows the CPU step for step") {
    check_norm_training<BnCnnNet>(loss::SoftmaxCrossEntropy{}, 9, 71, 6);
    check_norm_training<BnFirstNet>(loss::MSE{}, 5, 72, 4);
    check_norm_training<BnMlpNet>(loss::SoftmaxCrossEntropy{}, 16, 73, 6);
    check_norm_training<BnSeqNet>(loss::MSE{}, 3, 74, 4);
    check_norm_training<LnNet>(loss::SoftmaxCrossEntropy{}, 8, 75, 4);
    check_norm_training<LnImageNet>(loss::MSE{}, 4, 76, 4);
    check_norm_training<NormCountNet>(loss::SoftmaxCrossEntropy{}, 10, 77, 6);
}

TEST_CASE("BatchNorm on CUDA: running statistics as PyTorch's, and a batch of one is refused") {
    // The formula test of tests/unit/norm.cpp, on the device.
    using Net = Sequential<Input<2, 1, 3>, BatchNorm>;
    Model<Net> m(device::cuda());
    m.init(0);
    m.parameters()[0] = 2.0f;
    m.parameters()[3] = 0.5f;
    const std::vector<float> x{1, 2, 3, 10, 10, 10, /* sample 2 */ 4, 5, 6, 10, 10, 16};
    const auto y = m.forward(x, 2, Mode::training);
    const double inv0 = 1 / std::sqrt(35.0 / 12 + 1e-5);
    CHECK(y[0] == doctest::Approx(2 * (1 - 3.5) * inv0));
    CHECK(y[3] == doctest::Approx((10 - 11) / std::sqrt(5 + 1e-5) + 0.5));
    {
        const auto buf = m.buffers();
        CHECK(buf[0] == doctest::Approx(0.1 * 3.5));
        CHECK(buf[1] == doctest::Approx(0.1 * 11));
        CHECK(buf[2] == doctest::Approx(0.9 + 0.1 * 3.5)); // unbiased: 35/12 * 6/5
        CHECK(buf[3] == doctest::Approx(0.9 + 0.1 * 6.0));
        CHECK(buf[4] == 1.0f); // num_batches_tracked
    }
    (void)m.forward(x, 2, Mode::training);
    CHECK(m.buffers()[0] == doctest::Approx(0.9 * 0.35 + 0.35));
    CHECK(m.buffers()[4] == 2.0f);
    (void)m.forward(x, 2, Mode::inference); // inference leaves the statistics alone
    CHECK(m.buffers()[4] == 2.0f);

    Model<BnMlpNet> one(device::cuda());
    one.init(1);
    const auto x1 = uniform(BnMlpNet::in_size, 2);
    CHECK_THROWS_WITH_AS(one.forward(x1, 1, Mode::training),
                         doctest::Contains("needs more than one value per channel"),
                         argument_error);
    CHECK(one.forward(x1, 1, Mode::inference).size() == 3);
    // An image BatchNorm has H x W values per channel even in a batch of one.
    check_step<BnCnnNet>(loss::SoftmaxCrossEntropy{}, 1, 57);
}
