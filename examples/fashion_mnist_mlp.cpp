// Trains a multilayer perceptron on Fashion-MNIST on the CPU and prints the test accuracy.
//
//   fashion_mnist_mlp [DATA_DIR] [EPOCHS] [TRAIN_IMAGES] [TEST_IMAGES]
//
// DATA_DIR defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
// TRAIN_IMAGES and TEST_IMAGES use seeded random subsets of that many training and test images
// (default: all 60000 and 10000); CI's aarch64 phase runs a short slice under qemu and compares
// its accuracy with x86's.
#include <ctnn/ctnn.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

using namespace ctnn;

// The model is a type: shapes, parameter count and the fused schedule are known at compile time.
using Net = Sequential<Input<28 * 28>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
static_assert(Net::param_count == 784 * 256 + 256 + 256 * 10 + 10);

int main(int argc, char** argv) try {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const std::size_t epochs = argc > 2 ? std::stoul(argv[2]) : 20;

    auto data = io::fashion_mnist(dir); // pixels scaled to [0, 1], labels 0..9
    const auto subset = [&](Dataset& d, int arg, const char* what) {
        if (argc <= arg) return;
        const std::size_t n = std::stoul(argv[arg]);
        if (n == 0 || n > d.size())
            throw std::invalid_argument(std::string(what) + " must be 1.." +
                                        std::to_string(d.size()));
        d = split_dataset(d, SplitCounts{n, 0, d.size() - n}, {.seed = 1}).train;
    };
    subset(data.train, 3, "TRAIN_IMAGES");
    subset(data.test, 4, "TEST_IMAGES");
    std::cout << "Fashion-MNIST: " << data.train.size() << " training, " << data.test.size()
              << " test images\n"
              << describe<Net>(loss::SoftmaxCrossEntropy{});

    Model<Net> model(device::best());
    model.init(42);
    const auto history =
        train(model, data.train, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 1e-3f},
              {.epochs = epochs,
               .batch = 128,
               .seed = 7,
               .validation = data.test,
               .schedule = optim::CosineLR{.t_max = epochs, .eta_min = 1e-5f},
               .history_csv = "fashion_mnist_mlp_history.csv"});

    model.save("fashion_mnist_mlp.safetensors");
    const Evaluation test = evaluate(model, data.test, loss::SoftmaxCrossEntropy{});
    std::printf("trained %zu epochs in %.1f s; weights saved to fashion_mnist_mlp.safetensors\n",
                history.epochs.size(), [&] {
                    double s = 0;
                    for (const auto& e : history.epochs) s += e.seconds;
                    return s;
                }());
    std::printf("test accuracy: %.2f%%\n", 100.0 * test.accuracy);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
}
