// Trains an LSTM on Fashion-MNIST, each image read as 28 steps (its rows) of 28 features, on the
// CPU, and prints the test accuracy.
//
//   fashion_mnist_lstm [DATA_DIR] [EPOCHS]
//
// DATA_DIR defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist). The
// saved weights load into PyTorch's nn.LSTM(28, 128, batch_first=True) ("0.weight_ih_l0", ...)
// and nn.Linear(128, 10) ("1.weight", "1.bias").
#include <ctnn/ctnn.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

using namespace ctnn;

// Reshape is a view: the LSTM reads the image [1, 28, 28] as a sequence [28, 28] and returns its
// last hidden state [128].
using Net = Sequential<Input<1, 28, 28>, Reshape<28, 28>, LSTM<128>, Dense<10>>;
static_assert(std::is_same_v<Net::out_shape, Shape<10>>);

int main(int argc, char** argv) try {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const std::size_t epochs = argc > 2 ? std::stoul(argv[2]) : 10;

    // Every core unless CTNN_NUM_THREADS (or OMP_NUM_THREADS) says otherwise: ctnn splits each
    // batch between its threads (docs/cpu.md, BatchParallel); the library's default is 1.
    if (std::getenv("CTNN_NUM_THREADS") == nullptr && std::getenv("OMP_NUM_THREADS") == nullptr)
        set_num_threads(0);

    auto data = io::fashion_mnist(dir); // pixels scaled to [0, 1], labels 0..9
    std::cout << "Fashion-MNIST: " << data.train.size() << " training, " << data.test.size()
              << " test images; " << num_threads() << " CPU thread(s)\n"
              << describe<Net>(loss::SoftmaxCrossEntropy{});

    Model<Net> model(device::best());
    model.init(42);
    const auto history =
        train(model, data.train, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 2e-3f},
              {.epochs = epochs,
               .batch = 128,
               .seed = 7,
               .validation = data.test,
               .schedule = optim::CosineLR{.t_max = epochs, .eta_min = 1e-5f},
               .history_csv = "fashion_mnist_lstm_history.csv"});

    model.save("fashion_mnist_lstm.safetensors");
    const Evaluation test = evaluate(model, data.test, loss::SoftmaxCrossEntropy{});
    double seconds = 0;
    for (const auto& e : history.epochs) seconds += e.seconds;
    std::printf("trained %zu epochs in %.1f s (%.1f s per epoch, test evaluation included); "
                "weights saved to fashion_mnist_lstm.safetensors\n",
                history.epochs.size(), seconds,
                seconds / static_cast<double>(history.epochs.empty() ? 1 : history.epochs.size()));
    std::printf("test accuracy: %.2f%%\n", 100.0 * test.accuracy);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
}
