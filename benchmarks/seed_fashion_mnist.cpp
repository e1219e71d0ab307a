// The "seed" program of issue 5 in ctnn: the Keras program of the project's brief with the same
// settings (benchmarks/python/keras_seed.py is the Keras side).
//
//   Flatten(28x28) -> Dense(128, relu) -> Dense(10); Adam (lr 1e-3, betas 0.9/0.999, eps 1e-7:
//   Keras' defaults); softmax cross-entropy on the logits; 5 epochs, batch 32 (Keras' default),
//   reshuffled every epoch; Glorot-uniform weights and zero biases (Keras' Dense defaults);
//   pixels scaled to [0, 1].
//
//   seed_fashion_mnist [DATA_DIR] [EPOCHS] [TRAIN_LIMIT]
//
// DATA_DIR defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist);
// TRAIN_LIMIT > 0 trains on the first TRAIN_LIMIT images only (bench.sh --quick). Prints one
// machine-readable line for benchmarks/python/driver.py:
//   seed,ctnn,<epochs>,<train samples>,<train seconds>,<test accuracy>,<test seconds>
// Threads: built with OpenMP when found (benchmarks/CMakeLists.txt), so OMP_NUM_THREADS sets how
// many threads Eigen's GEMMs use; ctnn's own sweeps are serial.
#include <ctnn/ctnn.hpp>

#include <Eigen/Core>

#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

using namespace ctnn;

// Flatten is implicit: io::fashion_mnist yields 784 features per image, as Keras' Flatten does.
using Net = Sequential<Input<28 * 28>, Dense<128>, ReLU, Dense<10>>;

int main(int argc, char** argv) try {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const std::size_t epochs = argc > 2 ? std::stoul(argv[2]) : 5;
    const std::size_t limit = argc > 3 ? std::stoul(argv[3]) : 0;

    auto data = io::fashion_mnist(dir); // pixels scaled to [0, 1], labels 0..9
    if (limit > 0 && limit < data.train.size()) {
        data.train.features.resize(limit * data.train.feature_count);
        data.train.labels.resize(limit);
    }
    std::printf(
        "ctnn seed: %zu training, %zu test images, %zu epochs, batch 32, Eigen threads %d\n",
        data.train.size(), data.test.size(), epochs, Eigen::nbThreads());

    Model<Net> model(device::cpu());
    model.init(42, Init::xavier_uniform);
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    train(model, data.train, loss::SoftmaxCrossEntropy{},
          optim::Adam{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f},
          {.epochs = epochs, .batch = 32, .shuffle = true, .seed = 7, .progress = Progress::lines});
    const double train_s = std::chrono::duration<double>(clock::now() - t0).count();
    const auto t1 = clock::now();
    const Evaluation test = evaluate(model, data.test, loss::SoftmaxCrossEntropy{});
    const double test_s = std::chrono::duration<double>(clock::now() - t1).count();
    std::printf("test accuracy %.4f, training %.2f s\n", test.accuracy, train_s);
    std::printf("seed,ctnn,%zu,%zu,%.6g,%.6g,%.6g\n", epochs, data.train.size(), train_s,
                test.accuracy, test_s);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "seed_fashion_mnist: " << e.what() << '\n';
    return 1;
}
