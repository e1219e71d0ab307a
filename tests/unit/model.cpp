// Models: lowering to stages, describe(), init, training (XOR, regression), save/load, errors.
#include <ctnn/ctnn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ctnn;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
    const char* dir = std::getenv("CTNN_TEST_TMPDIR");
    return (dir ? fs::path(dir) : fs::temp_directory_path()) / name;
}

Dataset xor_data() {
    Dataset d;
    d.feature_count = 2;
    d.features = {0, 0, 0, 1, 1, 0, 1, 1};
    d.labels = {0, 1, 1, 0};
    return d;
}
} // namespace

TEST_CASE("lowering: one stage per Dense with bias, activation and dropout fused") {
    using Net = Sequential<Input<784>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
    using S = stages_of<Net>;
    static_assert(S::size == 2);
    static_assert(forward_stage_count<Net> == 2);
    static_assert(forward_stage_count<Sequential<Input<4>, Tanh>> == 1);
    static_assert(forward_stage_count<Sequential<Input<4>, Tanh, Sigmoid, Dense<3>, ReLU>> == 2);
    static_assert(forward_stage_count<Sequential<Input<2, 2>, Flatten, Dense<3>, Softmax, Tanh>> ==
                  2);
    static_assert(
        forward_stage_count<
            Sequential<Input<8>, Dense<8>, ReLU, Dense<8>, ReLU, Dense<8>, ReLU, Dense<1>>> == 4);

    // Stage 0 keeps Z and Y (256 each); stage 1 has no epilogue after its bias, so Y aliases Z.
    static_assert(activation_floats_per_sample<Net> == 256 + 256 + 10);
    static_assert(gradient_floats_per_sample<Net> == 256);
    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("forward: 2 stage(s)") != std::string::npos);
    CHECK(d.find("stage 0: gemm     Dense<256>") != std::string::npos);
    CHECK(d.find("epilogue: bias, ReLU, Dropout(0.2)") != std::string::npos);
    CHECK(d.find("stage 1: gemm     Dense<10>") != std::string::npos);
    CHECK(d.find("0.weight [256, 784]") != std::string::npos);
    CHECK(d.find("3.bias [10]") != std::string::npos);
    CHECK(d.find("203,530 parameters") != std::string::npos);
    CHECK(d.find("workspace per sample: 522 floats") != std::string::npos);
}

TEST_CASE("init is reproducible and scaled by fan-in") {
    using Net = Sequential<Input<400>, Dense<300>, ReLU, Dense<10>>;
    Model<Net> a, b, c;
    a.init(7);
    b.init(7);
    c.init(8);
    CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
    CHECK(!std::equal(a.parameters().begin(), a.parameters().end(), c.parameters().begin()));
    // Kaiming uniform: U(-sqrt(6/400), sqrt(6/400)), variance 2/400; biases zero.
    const auto p = a.parameters();
    double sum = 0, sq = 0, maxabs = 0;
    for (std::size_t i = 0; i < 120000; ++i) {
        sum += p[i];
        sq += double(p[i]) * p[i];
        maxabs = std::max(maxabs, std::fabs(double(p[i])));
    }
    CHECK(std::fabs(sum / 120000) < 0.002);
    CHECK(sq / 120000 == doctest::Approx(2.0 / 400).epsilon(0.03));
    CHECK(maxabs <= std::sqrt(6.0 / 400));
    CHECK(std::all_of(p.begin() + 120000, p.begin() + 120300, [](float v) { return v == 0; }));
    // Xavier normal: variance 2 / (fan_in + fan_out)
    a.init(7, Init::xavier_normal);
    sq = 0;
    for (std::size_t i = 0; i < 120000; ++i) sq += double(p[i]) * p[i];
    CHECK(sq / 120000 == doctest::Approx(2.0 / 700).epsilon(0.03));
}

TEST_CASE("a small net learns XOR") {
    using Net = Sequential<Input<2>, Dense<16>, Tanh, Dense<2>>;
    Model<Net> m;
    m.init(1, Init::xavier_uniform);
    const Dataset d = xor_data();
    const auto h = train(m, d, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 0.05f},
                         {.epochs = 300, .batch = 4, .progress = Progress::silent});
    const Evaluation e = evaluate(m, d, loss::SoftmaxCrossEntropy{});
    CHECK(e.accuracy == 1.0);
    CHECK(e.loss < 0.05);
    CHECK(h.epochs.front().train.loss > h.last().train.loss);
}

TEST_CASE("a regression fits sin(x) with MSE, SGD with momentum and a cosine schedule") {
    Dataset d;
    d.feature_count = 1;
    d.target_count = 1;
    for (int i = 0; i < 256; ++i) {
        const float x = -3.0f + 6.0f * static_cast<float>(i) / 255.0f;
        d.features.push_back(x);
        d.targets.push_back(std::sin(x));
    }
    using Net = Sequential<Input<1>, Dense<32>, Tanh, Dense<32>, Tanh, Dense<1>>;
    Model<Net> m;
    m.init(3, Init::xavier_uniform);
    const double before = evaluate(m, d, loss::MSE{}).loss;
    train(m, d, loss::MSE{}, optim::SGD{.lr = 0.05f, .momentum = 0.9f},
          {.epochs = 200,
           .batch = 32,
           .schedule = optim::CosineLR{.t_max = 200},
           .progress = Progress::silent});
    const double after = evaluate(m, d, loss::MSE{}).loss;
    CHECK(std::isnan(evaluate(m, d, loss::MSE{}).accuracy));
    CHECK(after < 2e-3);
    CHECK(after < before / 50);
}

TEST_CASE("train reports per-epoch lines, history and CSV") {
    using Net = Sequential<Input<2>, Dense<4>, ReLU, Dense<2>>;
    Model<Net> m;
    m.init(2);
    const Dataset d = xor_data();
    std::ostringstream out;
    const fs::path csv = scratch("history.csv");
    const auto h =
        train(m, d, loss::SoftmaxCrossEntropy{}, optim::SGD{.lr = 0.1f},
              {.epochs = 3, .batch = 3, .validation = d, .history_csv = csv, .out = &out});
    CHECK(h.epochs.size() == 3);
    CHECK(out.str().find("Epoch 3/3: loss") != std::string::npos);
    CHECK(out.str().find("val_accuracy") != std::string::npos);
    std::ifstream f(csv);
    std::string header, line;
    std::getline(f, header);
    CHECK(header ==
          "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,skipped,scale_skipped");
    int rows = 0;
    while (std::getline(f, line)) ++rows;
    CHECK(rows == 3);
}

TEST_CASE("training is reproducible for the same seeds") {
    using Net = Sequential<Input<2>, Dense<8>, ReLU, Dropout<0.3f>, Dense<2>>;
    auto run = [] {
        Model<Net> m;
        m.init(5);
        train(m, xor_data(), loss::SoftmaxCrossEntropy{}, optim::Adam{},
              {.epochs = 5, .batch = 2, .seed = 9, .progress = Progress::silent});
        return std::vector<float>(m.parameters().begin(), m.parameters().end());
    };
    CHECK(run() == run());
}

TEST_CASE("save and load round-trip the parameters") {
    using Net = Sequential<Input<5>, Dense<4>, ReLU, Dense<3, NoBias>>;
    Model<Net> a, b;
    a.init(11);
    const fs::path path = scratch("roundtrip.safetensors");
    a.save(path);
    b.load(path);
    CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
    const auto file = io::load_safetensors(path);
    REQUIRE(file.find("0.weight") != nullptr);
    CHECK(file.find("0.weight")->shape == std::vector<std::int64_t>{4, 5});
    CHECK(file.find("2.weight") != nullptr);
    CHECK(file.find("2.bias") == nullptr);
}

TEST_CASE("load rejects a file of another architecture, naming the tensor, and keeps the model") {
    using A = Sequential<Input<5>, Dense<4>, ReLU, Dense<3>>;
    using B = Sequential<Input<5>, Dense<6>, ReLU, Dense<3>>;
    using C = Sequential<Input<5>, Dense<4>>;
    Model<A> a;
    a.init(1);
    const fs::path path = scratch("arch.safetensors");
    a.save(path);
    Model<B> b;
    b.init(2);
    const std::vector<float> before(b.parameters().begin(), b.parameters().end());
    CHECK_THROWS_WITH_AS(b.load(path), doctest::Contains("'0.weight' has shape [4, 5]"),
                         shape_error);
    CHECK(std::equal(before.begin(), before.end(), b.parameters().begin()));
    Model<C> c;
    CHECK_THROWS_WITH_AS(
        c.load(path), doctest::Contains("'2.weight' in the file is not a parameter"), shape_error);
}

TEST_CASE("a corrupted weights file gives one clear error") {
    using Net = Sequential<Input<3>, Dense<2>>;
    Model<Net> m;
    m.init(1);
    const fs::path path = scratch("corrupt.safetensors");
    m.save(path);
    std::string bytes;
    {
        std::ifstream f(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(f), {});
    }
    bytes[12] = '#'; // inside the JSON header
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << bytes;
    }
    CHECK_THROWS_WITH_AS(m.load(path), doctest::Contains(path.string().c_str()), io_error);
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << bytes.substr(0, bytes.size() - 3); // truncated
    }
    CHECK_THROWS_AS(m.load(path), io_error);
}

TEST_CASE("data that does not fit the model is rejected before training") {
    using Net = Sequential<Input<3>, Dense<2>>;
    Model<Net> m;
    m.init(1);
    Dataset d = xor_data(); // 2 features
    CHECK_THROWS_WITH_AS(train(m, d, loss::SoftmaxCrossEntropy{}, optim::SGD{}),
                         doctest::Contains("samples have 2 features"), shape_error);
    Dataset e;
    e.feature_count = 3;
    e.features = {1, 2, 3};
    e.labels = {2};
    CHECK_THROWS_WITH_AS(train(m, e, loss::SoftmaxCrossEntropy{}, optim::SGD{}),
                         doctest::Contains("label 2 of sample 0 is outside [0, 2)"), shape_error);
    CHECK_THROWS_WITH_AS(train(m, e, loss::MSE{}, optim::SGD{}),
                         doctest::Contains("needs target values"), shape_error);
    CHECK_THROWS_AS(train(m, e, loss::SoftmaxCrossEntropy{}, optim::SGD{}, {.batch = 0}),
                    argument_error);
    Dataset empty;
    empty.feature_count = 3;
    empty.labels = {};
    CHECK_THROWS_WITH_AS(train(m, empty, loss::SoftmaxCrossEntropy{}, optim::SGD{}),
                         doctest::Contains("train: the dataset has no samples"), shape_error);
    CHECK_THROWS_WITH_AS(evaluate(m, empty, loss::SoftmaxCrossEntropy{}),
                         doctest::Contains("evaluate: the dataset has no samples"), shape_error);
    Model<Net> fresh;
    CHECK_THROWS_AS(fresh.backward(), argument_error);
    CHECK_THROWS_AS(fresh.loss(loss::MSE{}, {}), argument_error);
    std::vector<float> x(5);
    CHECK_THROWS_AS(m.forward(x, 2), shape_error);
    CHECK_THROWS_AS(Model<Net>(device::cuda()), argument_error);
}

TEST_CASE("float and double models agree") {
    using Net = Sequential<Input<6>, Dense<5>, GELU, Dense<3>, Softmax>;
    Model<Net> f;
    Model<Net, double> d;
    f.init(4);
    d.init(4);
    std::vector<float> xf(12);
    std::vector<double> xd(12);
    for (std::size_t i = 0; i < 12; ++i) xd[i] = xf[i] = 0.1f * static_cast<float>(i) - 0.5f;
    const auto yf = f.forward(xf, 2);
    const auto yd = d.forward(xd, 2);
    for (std::size_t i = 0; i < 6; ++i) CHECK(yf[i] == doctest::Approx(yd[i]).epsilon(1e-5));
}

TEST_CASE("forward(x) infers the batch, and predict returns outputs that outlive later passes") {
    using Net = Sequential<Input<3>, Dense<4>, Tanh, Dense<2>>;
    Model<Net> m;
    m.init(5);
    const std::vector<float> x{0.1f, 0.2f, 0.3f, -0.1f, 0.5f, 0.9f, 1.0f, -1.0f, 0.0f};
    const auto y3 = m.forward(x, 3);
    const std::vector<float> want(y3.begin(), y3.end());
    const auto y = m.forward(std::span<const float>(x));
    REQUIRE(y.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(y[i] == want[i]);
    const std::vector<float> p = m.predict(x);
    m.forward(std::span<const float>(x.data(), 3)); // a later pass overwrites the workspace
    REQUIRE(p.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(p[i] == want[i]);
    CHECK_THROWS_WITH_AS(m.forward(std::span<const float>(x.data(), 4)),
                         doctest::Contains("not a positive multiple of 3"), shape_error);
    CHECK_THROWS_AS(m.predict(std::span<const float>()), shape_error);
}
