// A user-defined activation, written as an expression: its backward pass is derived at compile
// time. Trains two otherwise identical models, one with the custom activation, and compares.
#include <ctnn/ctnn.hpp>

#include <cmath>
#include <cstdio>
#include <exception>

using namespace ctnn;
using ctnn::expr::x;

// "Swish-beta" with beta = 1.5, and a smooth, non-monotonic "Mish-like" activation
// x * tanh(softplus(x)). No derivative is written anywhere: ctnn derives it from the expression.
using SwishBeta = Activation<x * expr::sigmoid(1.5f * x)>;
using Mish = Activation<x * expr::tanh(expr::softplus(x))>;

template <class Act>
using Net = Sequential<Input<2>, Dense<32>, Act, Dense<32>, Act, Dense<2>>;

namespace {
/// Two interleaved spirals: a classic non-linear classification problem.
Dataset spirals(std::size_t n, std::uint64_t seed) {
    const CounterRng rng{seed, 3};
    Dataset d;
    d.feature_count = 2;
    for (std::size_t i = 0; i < n; ++i) {
        const int cls = static_cast<int>(i % 2);
        const float t = 0.5f + 3.5f * rng.uniform(3 * i);
        const float noise = 0.08f * (rng.uniform(3 * i + 1) - 0.5f);
        const float angle = t * 2.2f + static_cast<float>(cls) * 3.14159265f;
        d.features.push_back((t / 4.0f + noise) * std::cos(angle));
        d.features.push_back((t / 4.0f + noise) * std::sin(angle));
        d.labels.push_back(cls);
    }
    return d;
}

template <class Act>
double run(const char* name, const Dataset& train_set, const Dataset& test_set) {
    Model<Net<Act>> model;
    model.init(7, Init::xavier_uniform);
    train(model, train_set, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 3e-3f},
          {.epochs = 100, .batch = 64, .progress = Progress::silent});
    const auto e = evaluate(model, test_set, loss::SoftmaxCrossEntropy{});
    std::printf("%-40s test loss %.4f, test accuracy %.2f%%\n", name, e.loss, 100 * e.accuracy);
    return e.accuracy;
}
} // namespace

int main() try {
    const Dataset train_set = spirals(1000, 1), test_set = spirals(1000, 2);
    std::printf("custom activation: %s\n", SwishBeta::name().c_str());
    std::printf("its derivative at 0.5 (compile-time derived): %.6f\n",
                expr::value_and_derivative(SwishBeta::expression, 0.5).d);
    std::printf("%s", describe<Net<SwishBeta>>().c_str());
    run<Tanh>("Tanh", train_set, test_set);
    run<SwishBeta>("x * sigmoid(1.5 x)", train_set, test_set);
    run<Mish>("x * tanh(softplus(x))  (Mish)", train_set, test_set);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
