// Fits a smooth function of two variables, f(a, b) = sin(2a) cos(b) + a b / 4, with an MLP and MSE.
// Prints the loss every few epochs and the final test loss.
#include <ctnn/ctnn.hpp>

#include <cmath>
#include <cstdio>
#include <exception>

using namespace ctnn;

using Net = Sequential<Input<2>, Dense<64>, SiLU, Dense<64>, SiLU, Dense<1>>;

namespace {
/// n points on [-2, 2]^2, drawn from a counter-based stream.
Dataset make_data(std::size_t n, std::uint64_t seed) {
    const CounterRng rng{seed, 1};
    Dataset d;
    d.feature_count = 2;
    d.target_count = 1;
    for (std::size_t i = 0; i < n; ++i) {
        const float a = 4.0f * rng.uniform(2 * i) - 2.0f;
        const float b = 4.0f * rng.uniform(2 * i + 1) - 2.0f;
        d.features.insert(d.features.end(), {a, b});
        d.targets.push_back(std::sin(2.0f * a) * std::cos(b) + a * b / 4.0f);
    }
    return d;
}
} // namespace

int main() try {
    const Dataset train_set = make_data(4096, 1), test_set = make_data(1024, 2);
    Model<Net> model;
    model.init(1, Init::xavier_uniform);
    std::printf("%s", describe<Net>(loss::MSE{}).c_str());
    const auto history = train(model, train_set, loss::MSE{}, optim::Adam{.lr = 3e-3f},
                               {.epochs = 60,
                                .batch = 64,
                                .validation = test_set,
                                .schedule = optim::CosineLR{.t_max = 60, .eta_min = 1e-5f},
                                .progress = Progress::silent});
    for (const EpochStats& e : history.epochs)
        if (e.epoch % 10 == 0)
            std::printf("epoch %3zu: train MSE %.5f, test MSE %.5f\n", e.epoch, e.train.loss,
                        e.validation.loss);
    std::printf("final test loss (MSE): %.6f\n", evaluate(model, test_set, loss::MSE{}).loss);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
