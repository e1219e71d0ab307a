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

TEST_CASE("train: the history's CSV has the skipped column") {
    const auto path = std::filesystem::temp_directory_path() / "ctnn_train_skipped.csv";
    History h;
    EpochStats e;
    e.epoch = 1;
    e.skipped = 3;
    h.epochs.push_back(e);
    h.write_csv(path);
    std::ifstream f(path);
    std::string header, row;
    std::getline(f, header);
    std::getline(f, row);
    CHECK(header == "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,skipped");
    CHECK(row.substr(row.rfind(',')) == ",3");
    std::filesystem::remove(path);
}
