// Pooling fused into a convolution's store on device::cuda(), against the CPU and against the
// unfused kernels. Helpers and tolerances: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

TEST_CASE("pool fusion: which pooling stages run in a convolution's store") {
    using PF = stages_of<PoolFuseNet>;
    static_assert(pool_fuses_into_previous<PF, 1> && pool_fuses_into_previous<PF, 3>);
    static_assert(kernel_schedule<PoolFuseNet>::forward == 5 - 2 &&
                  kernel_schedule<PoolFuseNet>::forward_inference == 5 - 2);
    // The backward pass keeps the pooling kernels.
    static_assert(kernel_schedule<PoolFuseNet>::backward_kernels[1] == 1 &&
                  kernel_schedule<PoolFuseNet>::backward_kernels[3] == 1);
    static_assert(fused_pool_count<stages_of<PoolNoFuseNet>> == 0);
    static_assert(kernel_schedule<PoolNoFuseNet>::forward == stages_of<PoolNoFuseNet>::size);
    // Earlier models: ConvNet pools a 7 x 6 map, BnCnnNet pools after a BatchNorm, ResidualNet
    // after a join, PoolFirstNet overlapping windows: none fuses.
    static_assert(fused_pool_count<stages_of<ConvNet>> == 0 &&
                  fused_pool_count<stages_of<BnCnnNet>> == 0 &&
                  fused_pool_count<stages_of<ResidualNet>> == 0 &&
                  fused_pool_count<stages_of<PoolFirstNet>> == 0);
    // The example CNN: conv+pool, conv+pool, dense, dense: 4 forward kernels instead of 6.
    using K = kernel_schedule<CnnExampleNet>;
    static_assert(K::forward == 4 && K::backward == 2 + 2 + 1 + 2 + 1 + 1 &&
                  K::training_step == 4 + 1 + 9 + 1);

    const std::string d = describe<CnnExampleNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 4\n") != std::string::npos);
    CHECK(d.find("k0 stage 0: conv      Conv2D<4, 3, Same> (implicit gemm) [1, 12, 12] -> [4, 12, "
                 "12], fused: bias, ReLU; + MaxPool2D<2> (stage 1)\n") != std::string::npos);
    CHECK(d.find("-- stage 1: pool      MaxPool2D<2> [4, 12, 12] -> [4, 6, 6]; no kernel: in k0's "
                 "store\n") != std::string::npos);
    CHECK(d.find("-- stage 3: pool") != std::string::npos);
    CHECK(d.find("cuda kernels, training step: 15 = forward 4 + loss 1") != std::string::npos);
}

TEST_CASE("pool fusion: models with fused and unfused pooling on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{3}, std::size_t{5}}) {
        check_step<PoolFuseNet>(loss::SoftmaxCrossEntropy{}, batch, 71);
        check_step<CnnExampleNet>(loss::SoftmaxCrossEntropy{}, batch, 72);
    }
    check_step<PoolNoFuseNet>(loss::MSE{}, 4, 73);

    Model<CnnExampleNet> m(device::cuda());
    m.init(74);
    const std::size_t batch = 3;
    const auto x = uniform(batch * CnnExampleNet::in_size, 75);
    m.reserve(batch);
    for (const Mode mode : {Mode::inference, Mode::training}) {
        cuda::reset_launch_count();
        (void)m.forward(x, batch, mode);
        CHECK(cuda::launch_count() == 4);
    }
}

TEST_CASE("pool fusion: NaN and infinities pool as on the CPU") {
    // A NaN input makes the convolution outputs that read it NaN; an infinity makes them +-inf.
    // The fused max pooling must pick the same values (a NaN wins) as the pooling kernel and
    // the CPU; the average propagates them.
    using Net = Sequential<Input<1, 4, 4>, Conv2D<2, 1>, MaxPool2D<2>, Conv2D<2, 1, NoBias>,
                           AvgPool2D<2>, Flatten, Dense<2>>;
    static_assert(kernel_schedule<Net>::forward == 3);
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(76);
    std::copy(cpu.parameters().begin(), cpu.parameters().end(), gpu.parameters().begin());
    const std::size_t batch = 2;
    auto x = uniform(batch * Net::in_size, 77);
    x[1] = std::numeric_limits<float>::quiet_NaN();
    x[16 + 5] = std::numeric_limits<float>::infinity();
    x[16 + 10] = -std::numeric_limits<float>::infinity();
    const auto yc = cpu.forward(x, batch, Mode::inference);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    const auto y_gpu = gpu.forward(x, batch, Mode::inference);
    REQUIRE(y_gpu.size() == y_cpu.size());
    for (std::size_t i = 0; i < y_cpu.size(); ++i) {
        CAPTURE(i);
        CHECK(std::isnan(y_gpu[i]) == std::isnan(y_cpu[i]));
        if (std::isinf(y_cpu[i])) CHECK(y_gpu[i] == y_cpu[i]);
        else if (!std::isnan(y_cpu[i])) CHECK(y_gpu[i] == doctest::Approx(y_cpu[i]).epsilon(2e-5));
    }
}

TEST_CASE("pool fusion: conv_pool_forward equals conv_forward then pool_forward to the bit") {
    using Max =
        Sequential<Input<3, 6, 10>, Conv2D<5, 3, Same>, ReLU, Dropout<0.25f>, MaxPool2D<2>, Tanh>;
    using Avg =
        Sequential<Input<4, 8, 4>, Conv2D<6, 3, Groups<2>, Padding<1>, NoBias>, AvgPool2D<2>, SiLU>;
    using Plain = Sequential<Input<2, 4, 4>, Conv2D<70, 1>, MaxPool2D<2>>;
    // 15 windows per map (a partial 64-row tile), 8 (two maps per tile), 4 x 70 channels (two
    // column tiles); batches spanning one to several row tiles, under several schedules.
    for (const std::uint64_t s : {1u, 2u, 3u}) {
        cuda::host::set_seed(s);
        for (const std::size_t batch : {std::size_t{1}, std::size_t{2}, std::size_t{9}}) {
            check_conv_pool_bits<Max>(batch, 80 + s);
            check_conv_pool_bits<Avg>(batch, 90 + s);
            check_conv_pool_bits<Plain>(batch, 100 + s);
        }
    }
    cuda::host::reset_seed();
}

TEST_CASE("pool fusion: inference through a folded BatchNorm equals the CPU, and the launches") {
    using St = stages_of<BnPoolNet>;
    static_assert(pool_fuses_through_fold<St, 2> && pool_fuses_through_fold<St, 5> &&
                  !pool_fuses_into_previous<St, 2> && !pool_fuses_into_previous<St, 5>);
    static_assert(kernel_schedule<BnPoolNet>::forward == 7 &&
                  kernel_schedule<BnPoolNet>::forward_inference == 7 - 2 - 2);
    for (const std::size_t batch : {std::size_t{2}, std::size_t{5}})
        check_step<BnPoolNet>(loss::SoftmaxCrossEntropy{}, batch, 85);
    check_inference_after_training<BnPoolNet>(86);

    const std::string d = describe<BnPoolNet>();
    INFO(d);
    CHECK(d.find("cuda kernels, inference forward: 3 ") != std::string::npos);
    CHECK(d.find("; inference: + BatchNorm, ReLU (stage 1 folded in) + MaxPool2D<2> (stage 2)\n") !=
          std::string::npos);
    CHECK(d.find("k2 stage 2: pool      MaxPool2D<2> [4, 8, 8] -> [4, 4, 4]; inference: in k0's "
                 "store\n") != std::string::npos);
    CHECK(d.find("fused: Tanh; inference: in k3's store\n") != std::string::npos);
}
