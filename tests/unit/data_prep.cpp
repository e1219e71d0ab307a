// tests/unit/data_prep.cpp — data preparation: Standardizer (ctnn/core/standardizer.hpp) fitted on
// a training set, applied to others, saved in a checkpoint's metadata and loaded back bit for bit
// (ctnn/io/standardizer.hpp); the seeded train/validation/test split (ctnn/core/split.hpp).
//
// Files are written to $CTNN_TEST_TMPDIR (the area's scratch directory set by ctest), else the
// system's temporary directory; each test case uses its own file names.
#include <ctnn/core/split.hpp>
#include <ctnn/core/standardizer.hpp>
#include <ctnn/io/csv.hpp>
#include <ctnn/io/standardizer.hpp>
#include <ctnn/layers.hpp>
#include <ctnn/model.hpp>

#include "io_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using ctnn::Dataset;
using ctnn::Standardizer;

fs::path scratch(const std::string& name) {
    const char* dir = std::getenv("CTNN_TEST_TMPDIR");
    return (dir ? fs::path(dir) : fs::temp_directory_path()) / name;
}

/// Samples as rows of `feature_count` values.
Dataset rows(std::size_t feature_count, std::vector<float> features,
             std::vector<std::int32_t> labels = {}) {
    Dataset d;
    d.feature_count = feature_count;
    d.sample_shape = {feature_count};
    d.features = std::move(features);
    d.labels = std::move(labels);
    return d;
}

/// Bitwise equality of two float sequences (NaN-safe, -0 != +0).
bool same_bits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

/// Per-feature mean and population standard deviation, in double.
std::pair<double, double> column_stats(const Dataset& d, std::size_t j) {
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < d.size(); ++i) sum += d.sample(i)[j];
    const double mean = sum / static_cast<double>(d.size());
    for (std::size_t i = 0; i < d.size(); ++i)
        sq += (d.sample(i)[j] - mean) * (d.sample(i)[j] - mean);
    return {mean, std::sqrt(sq / static_cast<double>(d.size()))};
}

/// n samples of f features with values from ctnn's generator: feature j ~ j + (j + 1) * N(0, 1).
Dataset random_rows(std::size_t n, std::size_t f, std::uint64_t seed) {
    const ctnn::CounterRng rng{seed, 7};
    Dataset d = rows(f, std::vector<float>(n * f));
    for (std::size_t i = 0; i < n * f; ++i) {
        const std::size_t j = i % f;
        d.features[i] =
            static_cast<float>(static_cast<double>(j) + static_cast<double>(j + 1) * rng.normal(i));
    }
    return d;
}

} // namespace

// ---- Standardizer: fit and transform --------------------------------------------------------

TEST_CASE("Standardizer: known means and standard deviations, a constant feature centred only") {
    // f0: 2 4 6 8 (mean 5, variance 5); f1: constant 0.1; f2: 10 10 20 20 (mean 15, std 5).
    const Dataset train =
        rows(3, {2, 0.1f, 10, 4, 0.1f, 10, 6, 0.1f, 20, 8, 0.1f, 20}, {0, 1, 0, 1});
    const Standardizer s = Standardizer::fit(train);
    REQUIRE(s.fitted());
    CHECK(s.feature_count() == 3);
    CHECK(s.mean()[0] == 5.0f);
    CHECK(s.mean()[1] == 0.1f);
    CHECK(s.mean()[2] == 15.0f);
    CHECK(s.scale()[0] == static_cast<float>(std::sqrt(5.0)));
    CHECK(s.scale()[1] == 1.0f); // zero variance: scale 1, not a division by zero
    CHECK(s.scale()[2] == 5.0f);

    const Dataset z = s.transformed(train);
    CHECK(z.labels == train.labels);
    for (std::size_t j : {0u, 2u}) {
        const auto [mean, sd] = column_stats(z, j);
        CHECK(std::abs(mean) < 1e-6);
        CHECK(std::abs(sd - 1.0) < 1e-6);
    }
    for (std::size_t i = 0; i < z.size(); ++i) CHECK(z.sample(i)[1] == 0.0f);

    // Another set gets the training set's statistics.
    Dataset test = rows(3, {5, 7, 25, 5 + 2 * std::sqrt(5.0f), 0.1f, 5});
    s.transform(test);
    CHECK(test.features[0] == 0.0f);
    CHECK(test.features[1] == doctest::Approx(6.9)); // (7 - 0.1) / 1: centred only
    CHECK(test.features[2] == 2.0f);
    CHECK(test.features[3] == doctest::Approx(2.0));
    CHECK(test.features[4] == 0.0f);
    CHECK(test.features[5] == -2.0f);
}

TEST_CASE("Standardizer: transformed() copies, transform() works in place, same bits") {
    const Dataset train = random_rows(200, 5, 3);
    const Standardizer s = Standardizer::fit(train);
    Dataset other = random_rows(50, 5, 4);
    other.targets.assign(50, 1.5f);
    other.target_count = 1;
    const Dataset before = other;
    const Dataset copy = s.transformed(other);
    CHECK(same_bits(other.features, before.features)); // the source is unchanged
    s.transform(other);
    CHECK(same_bits(other.features, copy.features));
    CHECK(other.targets == before.targets);
    // A raw span (an inference input): one sample.
    std::vector<float> one(before.features.begin(), before.features.begin() + 5);
    s.transform(std::span<float>(one));
    CHECK(same_bits(one, std::span<const float>(copy.features.data(), 5)));
    // Each value is (x - mean) / scale in float.
    for (std::size_t k = 0; k < copy.features.size(); ++k)
        CHECK(copy.features[k] == (before.features[k] - s.mean()[k % 5]) / s.scale()[k % 5]);
}

TEST_CASE("Standardizer: statistics accumulate in double") {
    // A float accumulator loses these: 2^24 + small offsets, and a million samples.
    const float big = 16777216.0f; // 2^24: floats here are 2 apart
    Dataset d = rows(1, {big, big + 2, big + 4, big + 6});
    Standardizer s = Standardizer::fit(d);
    CHECK(s.mean()[0] == big + 3);
    CHECK(s.scale()[0] == static_cast<float>(std::sqrt(5.0)));

    Dataset many = rows(2, std::vector<float>(2'000'000));
    for (std::size_t i = 0; i < 1'000'000; ++i) {
        many.features[2 * i] = 0.1f;                           // constant: exactly 0 variance
        many.features[2 * i + 1] = (i % 2 == 0) ? 1.0f : 3.0f; // mean 2, std 1
    }
    s = Standardizer::fit(many);
    CHECK(s.mean()[0] == 0.1f);
    CHECK(s.scale()[0] == 1.0f);
    CHECK(s.mean()[1] == 2.0f);
    CHECK(s.scale()[1] == 1.0f);
}

TEST_CASE("Standardizer: a standard deviation below the smallest normal float counts as zero") {
    const float tiny = std::numeric_limits<float>::denorm_min();
    const Standardizer s = Standardizer::fit(rows(1, {0.0f, tiny, 0.0f, tiny}));
    CHECK(s.scale()[0] == 1.0f);
    std::vector<float> x{1.0f};
    s.transform(std::span<float>(x));
    CHECK(std::isfinite(x[0]));
}

TEST_CASE("Standardizer: errors") {
    using ctnn::argument_error;
    using ctnn::shape_error;
    CHECK_THROWS_WITH_AS((void)Standardizer::fit(rows(3, {})), doctest::Contains("no samples"),
                         argument_error);
    CHECK_THROWS_WITH_AS(
        (void)Standardizer::fit(rows(3, {1, 2, 3, 4, 5, std::numeric_limits<float>::quiet_NaN()})),
        doctest::Contains("feature 2 of sample 1 is NaN"), argument_error);
    CHECK_THROWS_WITH_AS((void)Standardizer::fit(rows(1, {std::numeric_limits<float>::infinity()})),
                         doctest::Contains("feature 0 of sample 0 is infinite"), argument_error);
    CHECK_THROWS_AS((void)Standardizer::fit(std::vector<float>{1, 2, 3}, 2), shape_error);

    const Standardizer unfitted;
    Dataset d = rows(2, {1, 2});
    CHECK_FALSE(unfitted.fitted());
    CHECK_THROWS_WITH_AS(unfitted.transform(d), doctest::Contains("not fitted"), argument_error);

    const Standardizer s = Standardizer::fit(rows(3, {1, 2, 3, 4, 5, 6}));
    CHECK_THROWS_WITH_AS(s.transform(d),
                         doctest::Contains("fitted on 3 features, the dataset has 2"), shape_error);
    std::vector<float> four(4);
    CHECK_THROWS_AS(s.transform(std::span<float>(four)), shape_error);
    CHECK(d.features == std::vector<float>{1, 2}); // unchanged after the errors

    CHECK_THROWS_AS(Standardizer({1.0f}, {0.0f}), argument_error);
    CHECK_THROWS_AS(Standardizer({1.0f, 2.0f}, {1.0f}), argument_error);
    CHECK_THROWS_AS(Standardizer({std::numeric_limits<float>::infinity()}, {1.0f}), argument_error);
}

// ---- Standardizer: saved with a checkpoint --------------------------------------------------

TEST_CASE("Standardizer: save_standardizer / load_standardizer round-trip bit for bit") {
    // Values whose shortest decimal is long, subnormal-free but tiny, large, negative zero mean.
    Standardizer s({1.0f / 3.0f, -0.0f, 1e-30f, 3.4e38f, -7.25f, 0.1f},
                   {std::sqrt(2.0f), 1.0f, 1.17549435e-38f, 1e30f, 3.0f, 0.3f});
    const fs::path path = scratch("standardizer_alone.safetensors");
    ctnn::io::save_standardizer(path, s);
    const Standardizer back = ctnn::io::load_standardizer(path);
    CHECK(same_bits(back.mean(), s.mean()));
    CHECK(same_bits(back.scale(), s.scale()));

    const Standardizer fitted = Standardizer::fit(random_rows(300, 17, 5));
    ctnn::io::save_standardizer(path, fitted);
    const Standardizer again = ctnn::io::load_standardizer(path);
    CHECK(same_bits(again.mean(), fitted.mean()));
    CHECK(same_bits(again.scale(), fitted.scale()));
    CHECK(ctnn::io::load_safetensors(path).tensors.empty());
}

TEST_CASE("Standardizer: add_standardizer keeps a checkpoint's tensors and metadata") {
    const fs::path path = scratch("standardizer_checkpoint.safetensors");
    const std::vector<float> w{1.5f, -2.0f, 1.0f / 3.0f, 0.0f, -0.0f, 1e-40f};
    const std::vector<ctnn::io::TensorView> views{{"0.weight", {2, 3}, w}};
    ctnn::io::save_safetensors(path, views, {{"format", "pt"}, {"ctnn.seed", "9"}});
    const Standardizer s = Standardizer::fit(random_rows(64, 3, 6));
    ctnn::io::add_standardizer(path, s);

    const ctnn::io::SafetensorsFile file = ctnn::io::load_safetensors(path);
    REQUIRE(file.tensors.size() == 1);
    CHECK(file.tensors[0].name == "0.weight");
    CHECK(file.tensors[0].shape == std::vector<std::int64_t>{2, 3});
    CHECK(same_bits(file.tensors[0].data, w));
    CHECK(file.metadata.at("format") == "pt");
    CHECK(file.metadata.at("ctnn.seed") == "9");
    const Standardizer back = ctnn::io::load_standardizer(path);
    CHECK(same_bits(back.mean(), s.mean()));
    CHECK(same_bits(back.scale(), s.scale()));

    // Adding again replaces it.
    const Standardizer other = Standardizer::fit(random_rows(10, 2, 7));
    ctnn::io::add_standardizer(path, other);
    CHECK(ctnn::io::load_standardizer(path).feature_count() == 2);
}

TEST_CASE("Standardizer: a model checkpoint with a standardizer still loads into the model") {
    using Net = ctnn::Sequential<ctnn::Input<3>, ctnn::Dense<4>, ctnn::ReLU, ctnn::Dense<2>>;
    const Dataset train = random_rows(40, 3, 8);
    const Standardizer s = Standardizer::fit(train);
    ctnn::Model<Net> a, b;
    a.init(3);
    const fs::path path = scratch("standardizer_model.safetensors");
    a.save(path);
    ctnn::io::add_standardizer(path, s);
    b.load(path); // metadata is not a tensor: Model::load accepts the file
    CHECK(std::equal(a.parameters().begin(), a.parameters().end(), b.parameters().begin()));
    const Standardizer back = ctnn::io::load_standardizer(path);
    CHECK(same_bits(back.mean(), s.mean()));
    CHECK(same_bits(back.scale(), s.scale()));
    // Inference on standardized input gives the same output with the loaded standardizer.
    std::vector<float> x(train.features.begin(), train.features.begin() + 3);
    std::vector<float> y = x;
    s.transform(std::span<float>(x));
    back.transform(std::span<float>(y));
    CHECK(same_bits(x, y));
}

TEST_CASE("docs/io.md snippet: split, standardize, save with the checkpoint, load for inference") {
    // A wine-like file: 3 features on different scales, 3 classes of 10 rows.
    std::string csv = "alcohol,malic_acid,proline,label\n";
    for (int i = 0; i < 30; ++i)
        csv += std::to_string(12 + i % 3) + "." + std::to_string(i % 10) + "," +
               std::to_string(1 + i % 4) + ".5," + std::to_string(500 + 37 * i) + "," +
               std::to_string(i % 3) + "\n";
    const fs::path csv_path = scratch("wine.csv");
    ctnn::test::write_text(csv_path, csv);
    const fs::path path = scratch("wine.safetensors");

    ctnn::Dataset data = ctnn::io::read_csv(csv_path);
    auto [train, val, test] = ctnn::split_dataset(data, ctnn::SplitFractions{0.7, 0.15, 0.15},
                                                  {.seed = 42, .stratify = true});
    const ctnn::Standardizer scaler = ctnn::Standardizer::fit(train); // training part only
    scaler.transform(train);                                          // in place
    scaler.transform(val);
    const ctnn::Dataset test_z = scaler.transformed(test); // a copy; test is unchanged
    using Net = ctnn::Sequential<ctnn::Input<3>, ctnn::Dense<8>, ctnn::ReLU, ctnn::Dense<3>>;
    ctnn::Model<Net> model;
    model.init(1);
    model.save(path);
    ctnn::io::add_standardizer(path, scaler);

    ctnn::Model<Net> later;
    later.load(path);
    const ctnn::Standardizer s = ctnn::io::load_standardizer(path);
    std::vector<float> input(test.features.begin(), test.features.begin() + 3);
    s.transform(std::span<float>(input));

    CHECK(train.size() == 21);
    CHECK(val.size() == 5);
    CHECK(test.size() == 4);
    CHECK(same_bits(input, std::span<const float>(test_z.features.data(), 3)));
    for (std::size_t j = 0; j < 3; ++j) {
        const auto [mean, sd] = column_stats(train, j);
        CHECK(std::abs(mean) < 1e-5);
        CHECK(std::abs(sd - 1.0) < 1e-5);
    }
}

TEST_CASE("Standardizer: a file without one, or with a malformed one, is an io_error") {
    const fs::path path = scratch("standardizer_bad.safetensors");
    const auto with_metadata = [&](std::map<std::string, std::string> m) {
        ctnn::io::save_safetensors(path, {}, m);
    };
    with_metadata({{"format", "pt"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "no standardizer");
    with_metadata({{"ctnn.standardizer.mean", "[1,2]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "needs both");
    with_metadata({{"ctnn.standardizer.mean", "[1,2]"}, {"ctnn.standardizer.scale", "[1]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "invalid", "2 means and 1");
    with_metadata({{"ctnn.standardizer.mean", "[1,\"x\"]"}, {"ctnn.standardizer.scale", "[1,1]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "a string at index 1");
    with_metadata({{"ctnn.standardizer.mean", "[1e39]"}, {"ctnn.standardizer.scale", "[1]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "not a finite float");
    with_metadata({{"ctnn.standardizer.mean", "{}"}, {"ctnn.standardizer.scale", "[1]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "expected an array");
    with_metadata({{"ctnn.standardizer.mean", "[1"}, {"ctnn.standardizer.scale", "[1]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "not a JSON array");
    with_metadata({{"ctnn.standardizer.mean", "[1]"}, {"ctnn.standardizer.scale", "[0]"}});
    CHECK_IO_ERROR(ctnn::io::load_standardizer(path), path.string(), "scale of feature 0");
    CHECK_THROWS_AS(ctnn::io::save_standardizer(path, Standardizer{}), ctnn::argument_error);
}

// ---- split_dataset ---------------------------------------------------------------------------

namespace {

/// n samples of 2 features (index, -index), label index % classes, one target (index / 2).
Dataset indexed(std::size_t n, std::int32_t classes = 3) {
    Dataset d = rows(2, {});
    for (std::size_t i = 0; i < n; ++i) {
        d.features.push_back(static_cast<float>(i));
        d.features.push_back(-static_cast<float>(i));
        d.labels.push_back(static_cast<std::int32_t>(i) % classes);
        d.targets.push_back(static_cast<float>(i) / 2);
    }
    d.target_count = 1;
    return d;
}

/// Checks that the parts are sorted, disjoint and cover 0..n-1.
void check_partition(const ctnn::SplitIndices& s, std::size_t n) {
    std::vector<std::size_t> all;
    for (const auto* p : {&s.train, &s.validation, &s.test}) {
        CHECK(std::is_sorted(p->begin(), p->end()));
        all.insert(all.end(), p->begin(), p->end());
    }
    std::sort(all.begin(), all.end());
    REQUIRE(all.size() == n);
    for (std::size_t i = 0; i < n; ++i) CHECK(all[i] == i);
}

std::size_t count_label(const Dataset& d, std::int32_t label) {
    return static_cast<std::size_t>(std::count(d.labels.begin(), d.labels.end(), label));
}

} // namespace

TEST_CASE("split: sizes by fractions, every sample in exactly one part, data carried along") {
    const Dataset d = indexed(103);
    const ctnn::SplitFractions f{0.7, 0.2, 0.1};
    const ctnn::SplitIndices idx = ctnn::split_indices(d, f, {.seed = 1});
    // 72.1, 20.6, 10.3: floors 72, 20, 10; the one left over goes to the largest remainder.
    CHECK(idx.train.size() == 72);
    CHECK(idx.validation.size() == 21);
    CHECK(idx.test.size() == 10);
    check_partition(idx, 103);

    const ctnn::DatasetParts parts = ctnn::split_dataset(d, f, {.seed = 1});
    const std::pair<const Dataset*, const std::vector<std::size_t>*> pairs[] = {
        {&parts.train, &idx.train}, {&parts.validation, &idx.validation}, {&parts.test, &idx.test}};
    for (const auto& [part, ids] : pairs) {
        part->validate();
        CHECK(part->sample_shape == d.sample_shape);
        REQUIRE(part->size() == ids->size());
        for (std::size_t k = 0; k < ids->size(); ++k) {
            const std::size_t i = (*ids)[k];
            CHECK(part->sample(k)[0] == static_cast<float>(i));
            CHECK(part->sample(k)[1] == -static_cast<float>(i));
            CHECK(part->labels[k] == d.labels[i]);
            CHECK(part->targets[k] == d.targets[i]);
        }
    }
}

TEST_CASE("split: deterministic for a seed, different for another") {
    const Dataset d = indexed(500);
    const ctnn::SplitFractions f{0.6, 0.2, 0.2};
    const ctnn::SplitIndices a = ctnn::split_indices(d, f, {.seed = 42});
    const ctnn::SplitIndices b = ctnn::split_indices(d, f, {.seed = 42});
    const ctnn::SplitIndices c = ctnn::split_indices(d, f, {.seed = 43});
    CHECK(a.train == b.train);
    CHECK(a.validation == b.validation);
    CHECK(a.test == b.test);
    CHECK(a.test != c.test);
    // Pinned: the same seed gives these parts on every platform and build (Philox, no <random>).
    const ctnn::SplitIndices small = ctnn::split_indices(indexed(10), f, {.seed = 7});
    CHECK(small.train.size() == 6);
    CHECK(small.validation.size() == 2);
    CHECK(small.test.size() == 2);
    CHECK(small.validation == std::vector<std::size_t>{1, 2});
    CHECK(small.test == std::vector<std::size_t>{3, 6});
}

TEST_CASE("split: the shuffle is uniform enough (each sample lands in test about 20% of seeds)") {
    const Dataset d = indexed(10);
    std::vector<int> in_test(10, 0);
    for (std::uint64_t seed = 0; seed < 2000; ++seed)
        for (const std::size_t i :
             ctnn::split_indices(d, ctnn::SplitFractions{0.8, 0.0, 0.2}, {.seed = seed}).test)
            ++in_test[i];
    for (const int n : in_test) { // expected 400, standard deviation 17.9: within 4 of them
        CHECK(n > 328);
        CHECK(n < 472);
    }
}

TEST_CASE("split: counts, empty parts and a single part") {
    const Dataset d = indexed(60);
    const ctnn::DatasetParts p = ctnn::split_dataset(d, ctnn::SplitCounts{50, 0, 10}, {.seed = 3});
    CHECK(p.train.size() == 50);
    CHECK(p.validation.size() == 0);
    CHECK(p.validation.feature_count == 2);
    CHECK(p.validation.target_count == 1);
    p.validation.validate();
    CHECK(p.test.size() == 10);

    const ctnn::SplitIndices all = ctnn::split_indices(d, ctnn::SplitFractions{1.0, 0.0, 0.0});
    CHECK(all.train.size() == 60);
    check_partition(all, 60);
    const ctnn::SplitIndices counts =
        ctnn::split_indices(d, ctnn::SplitCounts{20, 20, 20}, {.seed = 9});
    check_partition(counts, 60);
}

TEST_CASE("split: stratified keeps each class's share in every part") {
    // 60 of class 0, 30 of class 1, 10 of class 2, interleaved.
    Dataset d = indexed(100);
    for (std::size_t i = 0; i < 100; ++i) d.labels[i] = i % 10 < 6 ? 0 : (i % 10 < 9 ? 1 : 2);
    const ctnn::SplitFractions f{0.6, 0.2, 0.2};
    for (std::uint64_t seed : {0u, 1u, 2u}) {
        const ctnn::SplitIndices idx = ctnn::split_indices(d, f, {.seed = seed, .stratify = true});
        check_partition(idx, 100);
        const ctnn::DatasetParts p = ctnn::split_dataset(d, f, {.seed = seed, .stratify = true});
        CHECK(count_label(p.train, 0) == 36);
        CHECK(count_label(p.train, 1) == 18);
        CHECK(count_label(p.train, 2) == 6);
        for (const Dataset* part : {&p.validation, &p.test}) {
            CHECK(count_label(*part, 0) == 12);
            CHECK(count_label(*part, 1) == 6);
            CHECK(count_label(*part, 2) == 2);
        }
    }
    // Shares that do not divide evenly: sizes as without stratification, every class in train.
    Dataset u = indexed(10);
    for (std::size_t i = 0; i < 10; ++i) u.labels[i] = i < 7 ? 0 : 1;
    const ctnn::SplitIndices idx = ctnn::split_indices(u, ctnn::SplitFractions{0.5, 0.25, 0.25},
                                                       {.seed = 5, .stratify = true});
    check_partition(idx, 10);
    CHECK(idx.train.size() == 5);
    CHECK(idx.validation.size() == 3);
    CHECK(idx.test.size() == 2);
    const ctnn::DatasetParts p = ctnn::split_dataset(u, ctnn::SplitFractions{0.5, 0.25, 0.25},
                                                     {.seed = 5, .stratify = true});
    CHECK(count_label(p.train, 0) >= 3);
    CHECK(count_label(p.train, 1) >= 1);
}

TEST_CASE("split: bad fractions and counts are argument errors") {
    using ctnn::argument_error;
    const Dataset d = indexed(10);
    CHECK_THROWS_WITH_AS((void)ctnn::split_dataset(d, ctnn::SplitFractions{0.7, 0.1, 0.1}),
                         doctest::Contains("add up to 0.9"), argument_error);
    CHECK_THROWS_WITH_AS((void)ctnn::split_dataset(d, ctnn::SplitFractions{1.2, -0.1, -0.1}),
                         doctest::Contains("train fraction"), argument_error);
    CHECK_THROWS_WITH_AS((void)ctnn::split_dataset(d, ctnn::SplitFractions{0.8, -0.1, 0.3}),
                         doctest::Contains("validation fraction"), argument_error);
    CHECK_THROWS_AS((void)ctnn::split_dataset(
                        d, ctnn::SplitFractions{std::numeric_limits<double>::quiet_NaN(), 0, 1}),
                    argument_error);
    CHECK_THROWS_WITH_AS((void)ctnn::split_dataset(d, ctnn::SplitCounts{5, 5, 5}),
                         doctest::Contains("add up to the 10 samples"), argument_error);
    Dataset unlabeled = d;
    unlabeled.labels.clear();
    CHECK_THROWS_WITH_AS(
        (void)ctnn::split_dataset(unlabeled, ctnn::SplitFractions{}, {.stratify = true}),
        doctest::Contains("stratify needs class labels"), argument_error);
    CHECK_THROWS_AS((void)ctnn::split_dataset(Dataset{}, ctnn::SplitFractions{}),
                    ctnn::shape_error);
}
