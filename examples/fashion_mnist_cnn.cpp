// Trains a small convolutional network on Fashion-MNIST on the CPU and prints the test accuracy.
//
//   fashion_mnist_cnn [--bf16 | --fp16 | --int8[=P]] [DATA_DIR] [EPOCHS]
//
// DATA_DIR defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
// Images are channel-first [1, 28, 28], as in PyTorch; the saved weights load into the equivalent
// nn.Sequential (Conv2d(1, 32, 3, padding='same'), ReLU, MaxPool2d(2), ...) without reshuffling.
// --bf16 trains in bf16 mixed precision (Model<Net, precision::bf16>: tensor cores on a GPU,
// rounded operands on the CPU; docs/training.md), --fp16 in fp16 with dynamic loss scaling;
// same seeds. --int8 then quantizes the trained fp32 model to int8 (QuantizedModel, calibrated
// on 1000 training images: max |x|, or with --int8=P the P-th percentile of |x|) and prints its
// test accuracy too.
#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;

// Each convolution is one stage with bias and ReLU fused into its epilogue; each pool one stage.
using Net = Sequential<Input<1, 28, 28>,                         //
                       Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>,  // [32, 14, 14]
                       Conv2D<64, 3, Same>, ReLU, MaxPool2D<2>,  // [64, 7, 7]
                       Flatten, Dense<128>, ReLU, Dropout<0.3f>, // [128]
                       Dense<10>>;
static_assert(std::is_same_v<Net::out_shape, Shape<10>>);

template <ModelNumber P>
int run(const std::vector<std::string>& args, const std::optional<Calibration>& int8) {
    const std::string dir = args.size() > 0 ? args[0] : "/usr/share/datasets/fashion-mnist";
    const std::size_t epochs = args.size() > 1 ? std::stoul(args[1]) : 10;

    // Every core unless CTNN_NUM_THREADS (or OMP_NUM_THREADS) says otherwise: ctnn splits each
    // batch between its threads (docs/cpu.md, BatchParallel); the library's default is 1.
    if (std::getenv("CTNN_NUM_THREADS") == nullptr && std::getenv("OMP_NUM_THREADS") == nullptr)
        set_num_threads(0);

    auto data = io::fashion_mnist(dir); // pixels scaled to [0, 1], labels 0..9
    std::cout << "Fashion-MNIST: " << data.train.size() << " training, " << data.test.size()
              << " test images; " << num_threads() << " CPU thread(s)\n"
              << describe<Net>(loss::SoftmaxCrossEntropy{});

    Model<Net, P> model(device::best());
    if constexpr (!std::is_same_v<P, float>) std::cout << Model<Net, P>::describe();
    model.init(42);
    const auto history =
        train(model, data.train, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 1e-3f},
              {.epochs = epochs,
               .batch = 128,
               .seed = 7,
               .validation = data.test,
               .schedule = optim::CosineLR{.t_max = epochs, .eta_min = 1e-5f},
               .history_csv = "fashion_mnist_cnn_history.csv"});

    model.save("fashion_mnist_cnn.safetensors");
    const Evaluation test = evaluate(model, data.test, loss::SoftmaxCrossEntropy{});
    double seconds = 0;
    for (const auto& e : history.epochs) seconds += e.seconds;
    std::printf("trained %zu epochs in %.1f s (%.1f s per epoch, test evaluation included); "
                "weights saved to fashion_mnist_cnn.safetensors\n",
                history.epochs.size(), seconds,
                seconds / static_cast<double>(history.epochs.empty() ? 1 : history.epochs.size()));
    if constexpr (std::is_same_v<P, precision::fp16>)
        std::printf("loss scaling: %zu steps skipped, scale %g at the end\n",
                    history.scale_skipped(), double(model.loss_scaler().scale()));
    if constexpr (std::is_same_v<P, float>) {
        if (int8) { // int8 post-training quantization, calibrated on 1000 training images
            const std::size_t n = std::min<std::size_t>(1000, data.train.size());
            QuantizedModel<Net> q =
                quantize(model, std::span(data.train.features).first(n * Net::in_size), *int8);
            std::cout << q.describe();
            q.save("fashion_mnist_cnn.int8.safetensors");
            std::printf("int8 test accuracy: %.2f%% (quantized after training; saved to "
                        "fashion_mnist_cnn.int8.safetensors)\n",
                        100.0 * evaluate(q, data.test, loss::SoftmaxCrossEntropy{}).accuracy);
        }
    }
    std::printf("test accuracy: %.2f%%\n", 100.0 * test.accuracy);
    return 0;
}

/// --int8 (max |x| calibration) or --int8=P (the P-th percentile of |x|), removed from args.
std::optional<Calibration> int8_option(std::vector<std::string>& args) {
    std::optional<Calibration> cal;
    std::erase_if(args, [&](const std::string& a) {
        if (a == "--int8") cal = Calibration::max_abs();
        else if (a.starts_with("--int8=")) cal = Calibration::percentile_of(std::stod(a.substr(7)));
        else return false;
        return true;
    });
    return cal;
}

int main(int argc, char** argv) try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const bool bf16 = std::erase(args, "--bf16") > 0, fp16 = std::erase(args, "--fp16") > 0;
    const std::optional<Calibration> int8 = int8_option(args);
    if (bf16 + fp16 + int8.has_value() > 1)
        throw std::invalid_argument("--bf16, --fp16 and --int8 exclude each other");
    return bf16   ? run<precision::bf16>(args, int8)
           : fp16 ? run<precision::fp16>(args, int8)
                  : run<float>(args, int8);
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
}
