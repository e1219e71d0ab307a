// train()'s non-finite policy (issue 17, TrainOptions::on_non_finite): the loss and gradients are
// checked before the update, so with throw_error (the default) a NaN or infinite feature leaves the
// parameters, optimizer state and BatchNorm statistics bitwise as before the bad batch;
// skip_batch trains as if the batch were not there and reports it; stop_and_restore returns
// with the parameters as before the bad batch. On the fused CPU executor (float MLP), the Eigen
// executor (double; BatchNorm), and a loss that stays finite while the gradients do not.
// tests/unit/nan_cuda.cpp runs the same checks on CUDA models.
#include "nan_checks.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace ctnn;
using namespace ctnn::test::nan;

TEST_CASE("train: non-finite policies, fused executor (float MLP)") {
    check_policies<Sequential<Input<4>, Dense<8>, ReLU, Dense<3>>, float>(device::cpu());
}

TEST_CASE("train: non-finite policies, Eigen executor (double MLP)") {
    check_policies<Sequential<Input<4>, Dense<8>, ReLU, Dense<3>>, double>(device::cpu());
}

TEST_CASE("train: non-finite policies keep BatchNorm's running statistics") {
    check_policies<Sequential<Input<4>, Dense<8>, BatchNorm, ReLU, Dense<3>>, float>(device::cpu());
}

TEST_CASE("train: a finite loss with non-finite gradients is caught too") {
    // An infinite feature saturates the Sigmoid (finite outputs and loss); its weight gradient is
    // 0 * inf = NaN.
    check_policies<Sequential<Input<4>, Dense<8>, Sigmoid, Dense<3>>, float>(device::cpu(), true);
}

TEST_CASE("train: the history's CSV has the skipped columns") {
    const auto path = std::filesystem::temp_directory_path() / "ctnn_train_skipped.csv";
    History h;
    EpochStats e;
    e.epoch = 1;
    e.skipped = 3;
    e.scale_skipped = 5;
    h.epochs.push_back(e);
    h.write_csv(path);
    std::ifstream f(path);
    std::string header, row;
    std::getline(f, header);
    std::getline(f, row);
    CHECK(header ==
          "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,skipped,scale_skipped");
    CHECK(row.substr(row.rfind(',', row.rfind(',') - 1)) == ",3,5");
    std::filesystem::remove(path);
}

namespace {

/// n samples of `features` values with 3 class labels.
Dataset memory_dataset(std::size_t n, std::size_t features) {
    Dataset d;
    d.feature_count = features;
    d.sample_shape = {features};
    d.features.resize(n * features);
    for (std::size_t i = 0; i < d.features.size(); ++i)
        d.features[i] = std::sin(0.37f * static_cast<float>(i));
    for (std::size_t i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(i % 3));
    return d;
}

} // namespace

// Issue 17, item 12: the workspace a model reserves grows to the largest batch it has run, and
// train() reserved max(batch, 1024) while evaluate() ran chunks of 1024: 0.5 GB of workspace for
// the CNN example, whatever its batch.
TEST_CASE("train: the workspace is sized from the batch, not 1024") {
    using Net = Sequential<Input<6>, Dense<16>, ReLU, Dense<3>>;
    Model<Net> m(device::cpu());
    m.init(3);
    const Dataset d = memory_dataset(300, 6);
    TrainOptions o;
    o.epochs = 1;
    o.batch = 32;
    o.progress = Progress::silent;
    (void)train(m, d, loss::SoftmaxCrossEntropy{}, optim::SGD{.lr = 0.01f}, o);
    CHECK(m.cpu_executor().capacity() == 32);
}

TEST_CASE("evaluate: automatic chunks keep the workspace within 64 MiB") {
    // About 0.5 MB of workspace per sample (Z and Y of the wide stage, two gradient buffers as
    // wide): a 64 MiB chunk holds fewer samples than the dataset.
    using Net = Sequential<Input<4>, Dense<30000>, ReLU, Dense<3>>;
    constexpr std::size_t chunk = detail::evaluate_chunk<Net, float>();
    constexpr std::size_t per_sample =
        4 * (activation_floats_per_sample<Net> + 2 * gradient_floats_per_sample<Net>);
    static_assert(chunk > 1 && chunk < 400 && chunk * per_sample <= (std::size_t{64} << 20) &&
                  (chunk + 1) * per_sample > (std::size_t{64} << 20));
    Model<Net> m(device::cpu());
    m.init(5);
    const Dataset d = memory_dataset(400, 4);
    const Evaluation e = evaluate(m, d, loss::SoftmaxCrossEntropy{});
    CHECK(m.cpu_executor().capacity() == chunk);
    // The chunks give the loss of one pass over all samples (up to float summation order).
    Model<Net> whole = m;
    const Evaluation all = evaluate(whole, d, loss::SoftmaxCrossEntropy{}, 400);
    CHECK(whole.cpu_executor().capacity() == 400);
    CHECK(e.loss == doctest::Approx(all.loss).epsilon(1e-6));
    CHECK(e.accuracy == all.accuracy);
}
