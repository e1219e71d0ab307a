// StaticModel (model/static_model.hpp): the same outputs as Model::predict for MLPs of every
// supported stage (Dense with and without bias, activations, Dropout, Softmax, LogSoftmax,
// Flatten, a model starting with an activation), one sample and batches, each parameter storage
// (owned, borrowed in place, embedded by ctnn_embed_checkpoint from a file whose tensors are in
// another order, and from F16 / BF16 tensors), and predict_batch's refusals.
// tests/static/noexcept.cpp checks the build without exceptions and RTTI and the allocations.
#include <ctnn/ctnn.hpp>

#include "mlp_half.hpp"     // ctnn_embed_checkpoint(tests/static/mlp_half.safetensors)
#include "mlp_shuffled.hpp" // ctnn_embed_checkpoint(tests/static/mlp_shuffled.safetensors)

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

using namespace ctnn;

namespace {

std::vector<float> random_values(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
    const CounterRng rng{seed, 0};
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(rng.normal(i));
    return v;
}

/// Largest |a - b| relative to max(1, |b|) over the elements.
float largest_difference(std::span<const float> a, std::span<const float> b) {
    REQUIRE(a.size() == b.size());
    float worst = 0.0f;
    for (std::size_t i = 0; i < a.size(); ++i) {
        REQUIRE(std::isfinite(a[i]));
        worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(1.0f, std::abs(b[i])));
    }
    return worst;
}

/// Model<Net> initialized with `seed`, a StaticModel with its parameters (owned, MaxBatch 4):
/// one sample and batches of 1 to 4 agree with Model::predict within float rounding.
template <class Net>
void check_against_model(std::uint64_t seed) {
    Model<Net> model(device::cpu());
    model.init(seed, Init::xavier_uniform);
    // Biases too (init zeroes them): every parameter counts.
    const std::vector<float> p = random_values(Net::param_count, seed + 1, 0.2f);
    std::copy(p.begin(), p.end(), model.parameters().begin());

    StaticModel<Net, 4> s{std::span<const float, Net::param_count>(p)};
    for (std::size_t batch = 1; batch <= 4; ++batch) {
        const std::vector<float> x = random_values(batch * Net::in_size, seed + 10 + batch);
        const std::vector<float> expected = model.predict(x);
        std::vector<float> y(batch * Net::out_size, -7.0f);
        REQUIRE(s.predict_batch(x, y) == Status::ok);
        CHECK(largest_difference(y, expected) < 2e-5f);
        if (batch == 1) {
            const std::array<float, Net::out_size> one =
                s.predict(std::span<const float, Net::in_size>(x));
            CHECK(std::memcmp(one.data(), y.data(), sizeof one) == 0);
        }
    }
}

} // namespace

TEST_CASE("StaticModel: equal to Model::predict for MLPs of every supported stage") {
    // The 784-128-10 MLP: rows in blocks of 8 (and a partial one), 784 = 98 AVX2 vectors.
    check_against_model<Sequential<Input<784>, Dense<128>, ReLU, Dense<10>>>(1);
    // Sizes that are no multiple of any register width, no bias, other activations, Softmax.
    check_against_model<
        Sequential<Input<13>, Dense<9, NoBias>, Tanh, Dense<17>, Sigmoid, Dense<3>, Softmax>>(2);
    check_against_model<
        Sequential<Input<2, 3, 4>, Flatten, Dense<5>, GELU, Dropout<0.5f>, Dense<1>>>(3);
    check_against_model<Sequential<Input<6>, ReLU, Dense<4>, LogSoftmax>>(4);
    check_against_model<Sequential<Input<3>, Dense<1>>>(5);
    // 131 inputs: the two-sample kernel (rows of >= 128 inputs) with its scalar tail.
    check_against_model<Sequential<Input<131>, Dense<12>, ReLU, Dense<3>>>(6);
}

TEST_CASE("StaticModel: borrowed parameters are read in place, not copied") {
    using Net = Sequential<Input<5>, Dense<7>, ReLU, Dense<3>>;
    std::vector<float> p = random_values(Net::param_count, 11, 0.3f);
    StaticModel<Net, 1, BorrowedParameters> borrowed{std::span<const float, Net::param_count>(p)};
    StaticModel<Net> owned{std::span<const float, Net::param_count>(p)};
    const std::vector<float> x = random_values(5, 12);
    const std::span<const float, 5> x5(x);
    CHECK(borrowed.predict(x5) == owned.predict(x5));
    // The last bias, changed in the user's memory: the borrowed model sees it, the owned does not.
    p.back() += 1.0f;
    const auto b = borrowed.predict(x5);
    const auto o = owned.predict(x5);
    CHECK(b[2] == doctest::Approx(o[2] + 1.0f));
    CHECK(b[0] == o[0]);
    // The owned copy is written through parameters().
    owned.parameters().back() += 1.0f;
    CHECK(owned.predict(x5) == b);
    // Neither holds a copy of the weights beyond the owned array.
    CHECK(sizeof(borrowed) < sizeof(owned));
    CHECK(sizeof(owned) >= Net::param_count * sizeof(float));
}

TEST_CASE("StaticModel: predict_batch computes nothing and says why on a wrong size") {
    using Net = Sequential<Input<4>, Dense<3>>;
    const std::vector<float> p = random_values(Net::param_count, 21);
    StaticModel<Net, 2> s{std::span<const float, Net::param_count>(p)};
    std::vector<float> y(9, -7.0f);
    const std::vector<float> x3(12, 0.5f), x2(8, 0.5f), x_bad(6, 0.5f);
    CHECK(s.predict_batch(std::span<const float>(), y) == Status::empty_batch);
    CHECK(s.predict_batch(x_bad, y) == Status::size_mismatch);
    CHECK(s.predict_batch(x3, y) == Status::batch_too_large);
    CHECK(s.predict_batch(x2, y) == Status::size_mismatch); // y holds 3 samples, not 2
    CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == -7.0f; }));
    CHECK(s.predict_batch(x2, std::span<float>(y).first(5)) == Status::size_mismatch);
    CHECK(s.predict_batch(x2, std::span<float>(y).first(6)) == Status::ok);
    CHECK(y[0] != -7.0f);
    CHECK(std::string(status_message(Status::batch_too_large)).find("MaxBatch") !=
          std::string::npos);
    CHECK(std::string(status_message(Status::ok)) == "ok");
}

namespace {

/// Model::load of `file` and StaticModel on the embedded checkpoint W of the same file: the
/// embedded values are the file's bit for bit, tensor by tensor (found by name, whatever the
/// file's order), and the predictions agree within float rounding.
template <class Net, class W>
void check_embedded(const char* file) {
    const std::filesystem::path path =
        std::filesystem::path(CTNN_TEST_STATIC_DIR) / file; // tests/static
    Model<Net> model(device::cpu());
    model.load(path);
    for (const ParamEntry& e : parameter_table<Net>()) {
        const EmbeddedTensor* t = nullptr;
        for (const EmbeddedTensor& c : W::tensors)
            if (e.name == c.name) t = &c;
        REQUIRE_MESSAGE(t != nullptr, e.name);
        REQUIRE(t->size == e.size);
        CHECK(std::memcmp(W::data + t->offset, model.parameters().data() + e.offset,
                          e.size * sizeof(float)) == 0);
    }
    StaticModel<Net, 3, EmbeddedParameters<W>> s;
    // Only the activations: the weights stay in W::data.
    CHECK(sizeof(s) < Net::param_count * sizeof(float));
    const std::vector<float> x = random_values(3 * Net::in_size, 31);
    std::vector<float> y(3 * Net::out_size);
    REQUIRE(s.predict_batch(x, y) == Status::ok);
    CHECK(largest_difference(y, model.predict(x)) < 2e-5f);
}

} // namespace

TEST_CASE("StaticModel: checkpoints embedded by ctnn_embed_checkpoint, in any tensor order") {
    using Net = Sequential<Input<5>, Dense<7>, ReLU, Dense<3>>;
    // Tensors stored 2.bias, 0.weight, 2.weight, 0.bias: found by name.
    CHECK(std::string(embedded_test::mlp_shuffled::tensors[0].name) == "2.bias");
    check_embedded<Net, embedded_test::mlp_shuffled>("mlp_shuffled.safetensors");
    // 0.weight F16 (with subnormals), 0.bias and 2.weight BF16, 2.bias F32: widened exactly.
    check_embedded<Net, embedded_test::mlp_half>("mlp_half.safetensors");
}
