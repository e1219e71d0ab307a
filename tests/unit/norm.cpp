// Normalization layers: BatchNorm (batch statistics, running statistics, buffers saved with the
// model and untouched by optimizers) and LayerNorm, checked against formulas and finite
// differences.
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace ctnn;
using ctnn::test::check_parameter_gradients;
using ctnn::test::random_values;

namespace {
std::filesystem::path scratch(const std::string& name) {
    const char* dir = std::getenv("CTNN_TEST_TMPDIR");
    return (dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path()) / name;
}
} // namespace

TEST_CASE("BatchNorm: PyTorch names and shapes, and buffers apart from the parameters") {
    using Net = Sequential<Input<3, 4, 4>, Conv2D<8, 3, Same, NoBias>, BatchNorm, ReLU, Flatten,
                           Dense<5>, BatchNorm, Dense<2>>;
    static_assert(Net::param_count == 8 * 27 + 2 * 8 + 5 * 128 + 5 + 2 * 5 + 2 * 5 + 2);
    static_assert(Net::buffer_count == (2 * 8 + 1) + (2 * 5 + 1));
    const auto p = parameter_table<Net>();
    REQUIRE(p.size() == 9);
    CHECK(p[1].name == "1.weight");
    CHECK(p[1].spec.shape() == std::vector<std::int64_t>{8});
    CHECK(p[2].name == "1.bias");
    const auto b = buffer_table<Net>();
    REQUIRE(b.size() == 6);
    CHECK(b[0].name == "1.running_mean");
    CHECK(b[0].spec.shape() == std::vector<std::int64_t>{8});
    CHECK(b[1].name == "1.running_var");
    CHECK(b[2].name == "1.num_batches_tracked");
    CHECK(b[2].spec.shape().empty()); // a scalar, as in PyTorch
    CHECK(b[3].name == "5.running_mean");
    CHECK(b[3].offset == 17);
    CHECK(b[5].offset + b[5].size == Net::buffer_count);
    static_assert(forward_stage_count<Net> == 5); // conv | bn+relu | dense | bn | dense

    Model<Net> m;
    m.init(1);
    const auto params = m.parameters();
    CHECK(params[p[1].offset] == 1.0f); // BatchNorm weight starts at 1, bias at 0
    CHECK(params[p[2].offset] == 0.0f);
    const auto buf = m.buffers();
    CHECK(buf[0] == 0.0f); // running_mean
    CHECK(buf[8] == 1.0f); // running_var
    CHECK(buf[16] == 0.0f);
}

TEST_CASE("BatchNorm training: batch statistics, running statistics updated as PyTorch") {
    // [2, 1, 3]: 2 channels of 3 values, batch of 2.
    using Net = Sequential<Input<2, 1, 3>, BatchNorm>;
    Model<Net, double> m;
    m.init(0);
    m.parameters()[0] = 2.0; // weight of channel 0
    m.parameters()[3] = 0.5; // bias of channel 1
    const std::vector<double> x{1, 2, 3, 10, 10, 10, /* sample 2 */ 4, 5, 6, 10, 10, 16};
    const auto y = m.forward(x, 2, Mode::training);
    // Channel 0: values 1..6, mean 3.5, biased var 35/12.
    const double inv0 = 1 / std::sqrt(35.0 / 12 + 1e-5);
    CHECK(y[0] == doctest::Approx(2 * (1 - 3.5) * inv0));
    CHECK(y[8] == doctest::Approx(2 * (6 - 3.5) * inv0));
    // Channel 1: 10, 10, 10, 10, 10, 16: mean 11, biased var 5.
    CHECK(y[3] == doctest::Approx((10 - 11) / std::sqrt(5 + 1e-5) + 0.5));
    const auto buf = m.buffers();
    CHECK(buf[0] == doctest::Approx(0.1 * 3.5));
    CHECK(buf[1] == doctest::Approx(0.1 * 11));
    CHECK(buf[2] == doctest::Approx(0.9 + 0.1 * 3.5)); // unbiased: 35/12 * 6/5
    CHECK(buf[3] == doctest::Approx(0.9 + 0.1 * 6.0));
    CHECK(buf[4] == 1.0); // num_batches_tracked
    m.forward(x, 2, Mode::training);
    CHECK(buf[0] == doctest::Approx(0.9 * 0.35 + 0.35));
    CHECK(buf[4] == 2.0);

    // Inference uses the running statistics and leaves them alone.
    const std::vector<double> before(buf.begin(), buf.end());
    const auto yi = m.forward(x, 2, Mode::inference);
    CHECK(yi[0] == doctest::Approx(2 * (1 - buf[0]) / std::sqrt(buf[2] + 1e-5)));
    CHECK(yi[3] == doctest::Approx((10 - buf[1]) / std::sqrt(buf[3] + 1e-5) + 0.5));
    CHECK(std::equal(before.begin(), before.end(), buf.begin()));
}

TEST_CASE("BatchNorm: a single value per channel in training is an error, as in PyTorch") {
    using Net = Sequential<Input<4>, BatchNorm>;
    Model<Net> m;
    m.init(0);
    const std::vector<float> x(4, 1.0f);
    CHECK_THROWS_AS(m.forward(x, 1, Mode::training), argument_error);
    CHECK_NOTHROW(m.forward(x, 1, Mode::inference));
}

TEST_CASE("gradient check: BatchNorm on images and on features, training mode") {
    check_parameter_gradients<
        Sequential<Input<2, 3, 3>, Conv2D<3, 3, Same, NoBias>, BatchNorm, Tanh, Flatten, Dense<2>>>(
        loss::MSE{}, 4, 200);
    check_parameter_gradients<Sequential<Input<5>, Dense<6>, BatchNorm, ReLU, Dense<3>>>(
        loss::MSE{}, 5, 201);
    check_parameter_gradients<
        Sequential<Input<5>, Dense<6>, BatchNormWith<0.3f, 1e-3f>, Sigmoid, Dense<3>>>(loss::MSE{},
                                                                                       3, 202);
    // BatchNorm right after Input (its input gradient is not propagated) and as the last layer.
    check_parameter_gradients<Sequential<Input<2, 2, 2>, BatchNorm, Flatten, Dense<3>, BatchNorm>>(
        loss::MSE{}, 4, 203);
}

TEST_CASE("gradient check: BatchNorm in inference mode") {
    check_parameter_gradients<Sequential<Input<5>, Dense<6>, BatchNorm, Tanh, Dense<3>>>(
        loss::MSE{}, 3, 210, 1e-6, 1e-6, Mode::inference);
}

TEST_CASE("gradient check: LayerNorm") {
    check_parameter_gradients<Sequential<Input<5>, Dense<6>, LayerNorm, Tanh, Dense<3>>>(
        loss::MSE{}, 3, 220);
    check_parameter_gradients<
        Sequential<Input<2, 3, 3>, Conv2D<2, 3, Same>, LayerNorm, SiLU, Flatten, Dense<2>>>(
        loss::MSE{}, 2, 221);
    check_parameter_gradients<Sequential<Input<4>, LayerNormWith<1e-2f>, Dense<3>, LayerNorm>>(
        loss::MSE{}, 3, 222);
}

TEST_CASE("LayerNorm: each sample normalized over all its values") {
    using Net = Sequential<Input<4>, LayerNorm>;
    Model<Net> m;
    m.init(0);
    static_assert(Net::param_count == 8);
    const std::vector<float> x{1, 2, 3, 4, -1, -1, -1, 5};
    const auto y = m.forward(x, 2);
    const float inv = 1 / std::sqrt(1.25f + 1e-5f);
    CHECK(y[0] == doctest::Approx(-1.5f * inv));
    CHECK(y[3] == doctest::Approx(1.5f * inv));
    CHECK(y[7] == doctest::Approx(4.5f / std::sqrt(6.75f + 1e-5f)));
    CHECK(parameter_table<Sequential<Input<2, 3>, LayerNorm>>()[0].spec.shape() ==
          std::vector<std::int64_t>{2, 3});
}

TEST_CASE("BatchNorm buffers: saved and loaded with the model, untouched by the optimizer") {
    using Net = Sequential<Input<1, 4, 4>, Conv2D<3, 3, Same>, BatchNorm, ReLU, Flatten, Dense<2>>;
    Model<Net> m;
    m.init(3);
    const auto x = random_values(8 * 16, 5);
    const std::vector<float> xf(x.begin(), x.end());
    const std::vector<std::int32_t> labels{0, 1, 0, 1, 1, 0, 0, 1};
    OptimizerState<optim::Adam> state(optim::Adam{.lr = 0.1f}, Net::param_count);
    m.forward(xf, 8, Mode::training);
    m.loss(loss::SoftmaxCrossEntropy{}, {labels});
    m.backward();
    const std::vector<float> buffers(m.buffers().begin(), m.buffers().end());
    m.update(state, 0.1f);
    CHECK(std::equal(buffers.begin(), buffers.end(), m.buffers().begin()));
    CHECK(buffers[6] == 1.0f); // one training batch tracked
    CHECK(buffers[0] != 0.0f);

    const auto path = scratch("batchnorm_buffers.safetensors");
    m.save(path);
    const io::SafetensorsFile f = io::load_safetensors(path);
    REQUIRE(f.find("1.running_var") != nullptr);
    CHECK(f.find("1.running_var")->shape == std::vector<std::int64_t>{3});
    REQUIRE(f.find("1.num_batches_tracked") != nullptr);
    CHECK(f.find("1.num_batches_tracked")->shape.empty());
    CHECK(f.find("1.num_batches_tracked")->data[0] == 1.0f);

    Model<Net> n;
    n.load(path);
    CHECK(std::equal(buffers.begin(), buffers.end(), n.buffers().begin()));
    const auto ym = m.forward(xf, 8);
    const std::vector<float> ya(ym.begin(), ym.end());
    const auto yn = n.forward(xf, 8);
    CHECK(std::equal(ya.begin(), ya.end(), yn.begin()));

    // A file without the buffers is rejected, naming the missing tensor.
    using Plain = Sequential<Input<1, 4, 4>, Conv2D<3, 3, Same>, ReLU, Flatten, Dense<2>>;
    Model<Plain> plain;
    plain.init(1);
    const auto plain_path = scratch("batchnorm_missing.safetensors");
    plain.save(plain_path);
    using Bn = Sequential<Input<1, 4, 4>, Conv2D<3, 3, Same>, ReLU, Flatten, Dense<2>, BatchNorm>;
    Model<Bn> bn;
    try {
        bn.load(plain_path);
        FAIL("load should have thrown");
    } catch (const shape_error& e) {
        CHECK(std::string(e.what()).find("'4.weight' of the model is missing") !=
              std::string::npos);
    }
    std::filesystem::remove(path);
    std::filesystem::remove(plain_path);
}

TEST_CASE("a CNN with BatchNorm trains, and evaluation uses the running statistics") {
    using Net = Sequential<Input<1, 6, 6>, Conv2D<4, 3, Same, NoBias>, BatchNorm, ReLU,
                           MaxPool2D<2>, Flatten, Dense<2>>;
    Dataset d;
    d.feature_count = 36;
    for (std::size_t i = 0; i < 64; ++i) {
        std::vector<float> img(36, 0.0f);
        const std::size_t pos = i % 6;
        const bool vertical = (i / 6) % 2 == 0;
        for (std::size_t t = 0; t < 6; ++t) img[vertical ? t * 6 + pos : pos * 6 + t] = 1.0f;
        d.features.insert(d.features.end(), img.begin(), img.end());
        d.labels.push_back(vertical ? 0 : 1);
    }
    Model<Net> m;
    m.init(5);
    std::ostringstream quiet;
    const auto h = train(m, d, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 1e-2f},
                         {.epochs = 20, .batch = 16, .progress = Progress::silent, .out = &quiet});
    CHECK(h.last().train.loss < 0.5 * h.epochs.front().train.loss);
    CHECK(m.buffers()[8] == 20.0f * 4); // num_batches_tracked: 4 steps per epoch
    CHECK(evaluate(m, d, loss::SoftmaxCrossEntropy{}).accuracy == doctest::Approx(1.0));
}
