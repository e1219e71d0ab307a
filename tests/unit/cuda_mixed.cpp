// Mixed precision on CUDA (Model<Net, precision::bf16>, core/precision.hpp), by host execution:
// the Dense stages' three GEMMs run on gemm_mma (tensor cores, bf16 operands, fp32 sums). Checked
// against a reference of the same arithmetic in double (every GEMM operand rounded to bf16 as the
// kernel reads it, the stored values float), so that a stage left on the fp32 GEMM, or an operand
// not rounded, fails; the fp32 model is shown to be outside the tolerance. Convolutions (implicit
// GEMMs on gemm_mma_grouped): the forward against the fp32 convolution of rounded operands,
// gradients within bf16's reach of fp32. The CPU's bf16 path (Eigen GEMMs on rounded copies)
// against the same reference and against the CUDA path. Also: training converges, describe()
// says what runs in bf16.
#include "cuda_checks.hpp"
#include "mixed_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

namespace {

using namespace ctnn::test::mixed_checks;

/// v rounded to bfloat16 (nearest even), as the tensor-core GEMM reads its operands.
double r(float v) { return rounded(v, GemmOperands::bf16); }

} // namespace

TEST_CASE("bf16 Dense stages: forward and gradients are the bf16-operand products") {
    const std::vector<float> x = uniform(batch * n_in, 1, -2.0f, 2.0f);
    const std::vector<std::int32_t> labels = labels_for(batch, n_out);
    const loss::Targets<float> t{labels, {}};

    // On both backends: CUDA's tensor-core GEMMs (host execution), the CPU's rounded operands.
    for (const Device dev : {device::cuda(), device::cpu()}) {
        CAPTURE(dev.str());
        Model<Mlp, precision::bf16> mixed(dev);
        Model<Mlp> full(dev);
        mixed.init(7);
        full.init(7);
        const std::vector<float> p(mixed.parameters().begin(), mixed.parameters().end());
        const Reference ref = reference(p, x, labels);

        const std::vector<float> y_mixed = [&] {
            const auto y = mixed.forward(x, batch, Mode::training);
            return std::vector<float>(y.begin(), y.end());
        }();
        mixed.loss(loss::SoftmaxCrossEntropy{}, t);
        mixed.backward();
        const auto y_full = full.forward(x, batch, Mode::training);
        full.loss(loss::SoftmaxCrossEntropy{}, t);
        full.backward();

        CHECK(outside(y_mixed, ref.y, ref.y_scale) == 0);
        CHECK(outside(mixed.gradients(), ref.grads, ref.grad_scale) == 0);
        // The fp32 model's values are outside that tolerance: the check sees the operands'
        // rounding.
        CHECK(outside(y_full, ref.y, ref.y_scale) > batch * n_out / 2);
        CHECK(outside(full.gradients(), ref.grads, ref.grad_scale) > p.size() / 2);
        // And both are within bf16's rounding of the fp32 model (2 u sum |a b|, u = 2^-8).
        for (std::size_t i = 0; i < y_mixed.size(); ++i)
            CHECK(std::fabs(double(y_mixed[i]) - double(y_full[i])) <=
                  std::ldexp(ref.y_scale[i], -7) + 1e-6);
        // The CPU path: not the fused fp32 executor (its GEMMs do not round), Eigen on rounded
        // copies.
    }
}

TEST_CASE("bf16 training on CUDA converges like fp32 and leaves float values") {
    const std::vector<float> x = uniform(batch * n_in, 2);
    const std::vector<std::int32_t> labels = labels_for(batch, n_out);
    const loss::Targets<float> t{labels, {}};
    Model<Mlp, precision::bf16> mixed(device::cuda());
    Model<Mlp> full(device::cuda());
    mixed.init(11);
    full.init(11);
    auto sm = mixed.make_state(optim::Adam{.lr = 0.01f});
    auto sf = full.make_state(optim::Adam{.lr = 0.01f});
    float first = 0, last_mixed = 0, last_full = 0;
    for (int step = 0; step < 30; ++step) {
        mixed.forward(x, batch, Mode::training);
        const float lm = mixed.loss(loss::SoftmaxCrossEntropy{}, t);
        mixed.backward();
        mixed.update(sm);
        full.forward(x, batch, Mode::training);
        const float lf = full.loss(loss::SoftmaxCrossEntropy{}, t);
        full.backward();
        full.update(sf);
        if (step == 0) {
            first = lm;
            CHECK(lm == doctest::Approx(lf).epsilon(0.01));
        }
        last_mixed = lm;
        last_full = lf;
    }
    INFO("loss " << first << " -> bf16 " << last_mixed << ", fp32 " << last_full);
    CHECK(last_mixed < 0.5f * first);
    CHECK(last_mixed == doctest::Approx(last_full).epsilon(0.1));
    // The master weights are float, not bf16: some have bits below bf16's 8-bit significand.
    const auto params = mixed.parameters();
    CHECK(std::any_of(params.begin(), params.end(), [](float v) { return double(v) != r(v); }));
}

TEST_CASE("bf16 convolutions: the forward is the bf16-operand product, gradients near fp32") {
    // A convolution's forward in bf16 is the fp32 convolution of the rounded weights and inputs:
    // every product of two bf16 values is exact in fp32, so the two agree to fp32 summation.
    using One = Sequential<Input<3, 7, 7>, Conv2D<5, 3, Same, Groups<1>>>;
    const std::size_t n = 5;
    const std::vector<float> x = uniform(n * One::in_size, 4, -2.0f, 2.0f);
    for (const Device dev : {device::cuda(), device::cpu()}) {
        CAPTURE(dev.str());
        Model<One, precision::bf16> mixed(dev);
        Model<One> rounded(dev);
        mixed.init(13);
        rounded.init(13);
        std::vector<float> xr(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) xr[i] = float(r(x[i]));
        // The weight rounded, not the bias: the store adds the bias in fp32.
        const auto rp = rounded.parameters();
        for (const ParamEntry& e : parameter_table<One>())
            if (e.name.ends_with("weight"))
                for (std::size_t i = e.offset; i < e.offset + e.size; ++i) rp[i] = float(r(rp[i]));
        const auto ym = mixed.forward(x, n);
        const std::vector<float> y_mixed(ym.begin(), ym.end());
        check_close(y_mixed, rounded.forward(xr, n));
        Model<One> full(dev);
        full.init(13);
        const auto yf = full.forward(x, n);
        std::size_t apart = 0; // the unrounded fp32 convolution differs
        for (std::size_t i = 0; i < yf.size(); ++i)
            apart +=
                std::fabs(double(yf[i]) - double(y_mixed[i])) > 1e-5 * std::fabs(double(yf[i]));
        CHECK(apart > yf.size() / 2);
    }

    // A CNN's gradients (dW, db and dX of both convolutions, on tensor cores) within bf16's
    // rounding of fp32's: each tensor's largest difference below 2^-6 of its largest value
    // (measured: 2^-8 to 2^-7). Tanh, not ReLU, between the convolutions: the bf16 forward moves
    // pre-activations near zero across ReLU's kink, and at batch 6 one flipped mask entry moves
    // a weight gradient by a sixth.
    using Cnn = Sequential<Input<2, 8, 8>, Conv2D<4, 3, Same>, Tanh, Conv2D<4, 3, Stride<2>>,
                           Flatten, Dense<5>>;
    const std::size_t b = 6;
    const std::vector<float> xc = uniform(b * Cnn::in_size, 5);
    const std::vector<std::int32_t> labels = labels_for(b, 5);
    const loss::Targets<float> t{labels, {}};
    Model<Cnn, precision::bf16> cm(device::cuda());
    Model<Cnn> cf(device::cuda());
    cm.init(17);
    cf.init(17);
    cm.forward(xc, b, Mode::training);
    cm.loss(loss::SoftmaxCrossEntropy{}, t);
    cm.backward();
    cf.forward(xc, b, Mode::training);
    cf.loss(loss::SoftmaxCrossEntropy{}, t);
    cf.backward();
    const auto gm = cm.gradients();
    const auto gf = cf.gradients();
    std::size_t differ = 0;
    for (const ParamEntry& p : parameter_table<Cnn>()) {
        CAPTURE(p.name);
        double scale = 0, worst = 0;
        for (std::size_t i = p.offset; i < p.offset + p.size; ++i) {
            scale = std::max(scale, std::fabs(double(gf[i])));
            worst = std::max(worst, std::fabs(double(gm[i]) - double(gf[i])));
            differ += gm[i] != gf[i];
        }
        CHECK(scale > 0);
        CHECK(worst <= std::ldexp(scale, -6));
    }
    CHECK(differ > gf.size() / 2);

    // The CPU's bf16 CNN computes what the tensor cores do: outputs and gradients agree with the
    // CUDA path's to fp32 summation (and the rare bf16 rounding a last-bit difference flips).
    Model<Cnn, precision::bf16> cpu(device::cpu());
    cpu.init(17);
    const auto yc = cpu.forward(xc, b, Mode::training);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    cpu.loss(loss::SoftmaxCrossEntropy{}, t);
    cpu.backward();
    const auto yg = cm.forward(xc, b, Mode::training);
    check_close(yg, y_cpu, 1e-4, 1e-6);
    check_close(gm, cpu.gradients(), 1e-3, 1e-6);
}

TEST_CASE("bf16 model: describe() lists what runs in bf16, the model moves between devices") {
    using Net = Sequential<Input<1, 6, 6>, Conv2D<2, 3, Same>, ReLU, MaxPool2D<2>, Flatten,
                           Dense<8>, LayerNorm, Dense<5>>;
    const std::string d = Model<Net, precision::bf16>::describe();
    INFO(d);
    CHECK(d.find("precision: bf16 mixed") != std::string::npos);
    const auto line = [&](const std::string& start) {
        const auto at = d.find(start);
        return at == std::string::npos ? std::string() : d.substr(at, d.find('\n', at) - at);
    };
    const std::string tc = line("  cuda, bf16 operands on tensor cores");
    CHECK(tc.find("stage 0 Conv2D") != std::string::npos);
    CHECK(tc.find("(forward in fp32: a pooling runs in its store)") != std::string::npos);
    CHECK(tc.find(", 2 Dense") != std::string::npos);
    CHECK(tc.find(", 4 Dense") != std::string::npos);
    const std::string fp32 = line("  cuda, fp32 (no bf16 kernels yet): ");
    CHECK(fp32.find("stage 1 MaxPool2D") != std::string::npos);
    CHECK(fp32.find(", 3 LayerNorm") != std::string::npos);
    CHECK(line("  cpu, bf16 operands as rounded fp32 copies").find("Dense and Conv2D") !=
          std::string::npos);
    CHECK(Model<Net>::describe().find("precision:") == std::string::npos);

    // A bf16 model moves between the devices as any model.
    Model<Mlp, precision::bf16> m(device::cpu());
    m.init(3);
    const std::vector<float> x = uniform(2 * n_in, 3);
    const auto y_cpu = m.predict(x);
    m.to(device::cuda());
    check_close(m.predict(x), y_cpu, 1e-4, 1e-6);
    CHECK(m.forward(x, 2).size() == 2 * n_out);
}
