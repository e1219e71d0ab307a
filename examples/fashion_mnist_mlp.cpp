// Trains a multilayer perceptron on Fashion-MNIST on the CPU and prints the test accuracy.
//
//   fashion_mnist_mlp [--bf16 | --fp16 | --int8[=P]] [DATA_DIR] [EPOCHS] [TRAIN_IMAGES]
//                     [TEST_IMAGES]
//
// DATA_DIR defaults to /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
// TRAIN_IMAGES and TEST_IMAGES use seeded random subsets of that many training and test images
// (default: all 60000 and 10000); CI's aarch64 phase runs a short slice under qemu and compares
// its accuracy with x86's. --bf16 trains in bf16 mixed precision (Model<Net, precision::bf16>:
// tensor cores on a GPU, rounded operands on the CPU; docs/training.md), --fp16 in fp16 with
// dynamic loss scaling; same seeds. --int8 then quantizes the trained fp32 model to int8
// (QuantizedModel, calibrated on 1000 training images: max |x|, or with --int8=P the P-th
// percentile of |x|) and prints its test accuracy too.
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

// The model is a type: shapes, parameter count and the fused schedule are known at compile time.
using Net = Sequential<Input<28 * 28>, Dense<256>, ReLU, Dropout<0.2f>, Dense<10>>;
static_assert(Net::param_count == 784 * 256 + 256 + 256 * 10 + 10);

template <ModelNumber P>
int run(const std::vector<std::string>& args, const std::optional<Calibration>& int8) {
    const std::string dir = args.size() > 0 ? args[0] : "/usr/share/datasets/fashion-mnist";
    const std::size_t epochs = args.size() > 1 ? std::stoul(args[1]) : 20;

    auto data = io::fashion_mnist(dir); // pixels scaled to [0, 1], labels 0..9
    const auto subset = [&](Dataset& d, std::size_t arg, const char* what) {
        if (args.size() <= arg) return;
        const std::size_t n = std::stoul(args[arg]);
        if (n == 0 || n > d.size())
            throw std::invalid_argument(std::string(what) + " must be 1.." +
                                        std::to_string(d.size()));
        d = split_dataset(d, SplitCounts{n, 0, d.size() - n}, {.seed = 1}).train;
    };
    subset(data.train, 2, "TRAIN_IMAGES");
    subset(data.test, 3, "TEST_IMAGES");
    std::cout << "Fashion-MNIST: " << data.train.size() << " training, " << data.test.size()
              << " test images\n"
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
               .history_csv = "fashion_mnist_mlp_history.csv"});

    model.save("fashion_mnist_mlp.safetensors");
    const Evaluation test = evaluate(model, data.test, loss::SoftmaxCrossEntropy{});
    std::printf("trained %zu epochs in %.1f s; weights saved to fashion_mnist_mlp.safetensors\n",
                history.epochs.size(), [&] {
                    double s = 0;
                    for (const auto& e : history.epochs) s += e.seconds;
                    return s;
                }());
    if constexpr (std::is_same_v<P, precision::fp16>)
        std::printf("loss scaling: %zu steps skipped, scale %g at the end\n",
                    history.scale_skipped(), double(model.loss_scaler().scale()));
    if constexpr (std::is_same_v<P, float>) {
        if (int8) { // int8 post-training quantization, calibrated on 1000 training images
            const std::size_t n = std::min<std::size_t>(1000, data.train.size());
            QuantizedModel<Net> q =
                quantize(model, std::span(data.train.features).first(n * Net::in_size), *int8);
            std::cout << q.describe();
            q.save("fashion_mnist_mlp.int8.safetensors");
            std::printf("int8 test accuracy: %.2f%% (quantized after training; saved to "
                        "fashion_mnist_mlp.int8.safetensors)\n",
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
