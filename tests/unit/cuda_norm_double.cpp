// BatchNorm and LayerNorm on device::cuda() against the CPU in double precision, where rounding no
// longer hides a wrong formula. Split from cuda_norm.cpp to keep each test TU's compile short.
// Helpers: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

TEST_CASE("BatchNorm and LayerNorm on CUDA equal the CPU in double precision (1e-10)") {
    // In double, rounding no longer hides a wrong formula: outputs, gradients, parameters and
    // running statistics after several SGD steps agree to 1e-10.
    auto run = [&]<class Net>(std::type_identity<Net>, std::size_t batch) {
        CAPTURE(batch);
        Model<Net, double> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(91);
        gpu.init(91);
        OptimizerState<optim::SGD, double> s_cpu(optim::SGD{.lr = 0.05f, .momentum = 0.9f},
                                                 Net::param_count),
            s_gpu(optim::SGD{.lr = 0.05f, .momentum = 0.9f}, Net::param_count);
        const auto labels = labels_for(batch, Net::out_size);
        auto near = [](std::span<const double> a, std::span<const double> b) {
            REQUIRE(a.size() == b.size());
            double worst = 0;
            for (std::size_t i = 0; i < a.size(); ++i)
                worst = std::max(worst, std::fabs(a[i] - b[i]) / (1e-3 + std::fabs(b[i])));
            return worst;
        };
        for (int step = 0; step < 5; ++step) {
            const auto xf =
                uniform(batch * Net::in_size, 300 + static_cast<std::uint64_t>(step), -2.0f, 3.0f);
            const std::vector<double> x(xf.begin(), xf.end());
            const Mode mode = step == 4 ? Mode::inference : Mode::training;
            const auto yc = cpu.forward(x, batch, mode);
            const std::vector<double> y_cpu(yc.begin(), yc.end());
            CHECK(near(gpu.forward(x, batch, mode), y_cpu) < 1e-10);
            const loss::Targets<double> t{labels};
            CHECK(gpu.loss(loss::SoftmaxCrossEntropy{}, t) ==
                  doctest::Approx(cpu.loss(loss::SoftmaxCrossEntropy{}, t)).epsilon(1e-12));
            cpu.backward();
            gpu.backward();
            CHECK(near(gpu.gradients(), cpu.gradients()) < 1e-10);
            cpu.update(s_cpu, 0.05f);
            gpu.update(s_gpu, 0.05f);
        }
        CHECK(near(gpu.parameters(), cpu.parameters()) < 1e-10);
        CHECK(near(gpu.buffers(), cpu.buffers()) < 1e-10);
    };
    run(std::type_identity<BnCnnNet>{}, 5);
    run(std::type_identity<NormCountNet>{}, 7);
    run(std::type_identity<LnImageNet>{}, 3);
}
