// Joins (Residual, Add, Concat) on device::cuda() against the CPU, and joins fused into a GEMM
// store. Helpers and tolerances: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;

TEST_CASE("joins on CUDA equal the CPU: Residual, Add, Concat, nested, from the input") {
    static_assert(kernel_schedule<ResidualNet>::cuda_supported);
    static_assert(kernel_schedule<InceptionNet>::cuda_supported);
    static_assert(kernel_schedule<NestedNet>::cuda_supported);
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
        check_step<ResidualNet>(loss::SoftmaxCrossEntropy{}, batch, 51);
        check_step<InceptionNet>(loss::SoftmaxCrossEntropy{}, batch, 52);
        check_step<AddNet>(loss::MSE{}, batch, 53);
        check_step<FromInputNet>(loss::MSE{}, batch, 54);
        check_step<NestedNet>(loss::SoftmaxCrossEntropy{}, batch, 55);
        check_step<NormBranchNet>(loss::MSE{}, batch, 56);
    }
}

TEST_CASE("joins on CUDA: kernel counts of a pass and of a training step") {
    // Dense | Dense, Tanh (body) | join, ReLU | Dense.
    using Small = Sequential<Input<6>, Dense<6>, Residual<Dense<6>, Tanh>, ReLU, Dense<2>>;
    using K = kernel_schedule<Small>;
    static_assert(K::cuda_supported && K::forward == 4 - 1); // the join runs in stage 1's store
    // Dense<2>: dW, dX | join: 1 | body: dW, dX, accumulate the skip | Dense<6>: dW (input).
    static_assert(K::backward == 2 + 1 + 3 + 1);
    // FromInputNet: Dense | Dense, ReLU | concat, Tanh | Dense: no input gradients into the input,
    // no accumulation.
    static_assert(kernel_schedule<FromInputNet>::backward == 2 + 1 + 1 + 1);
    // AddNet: stage 3 (Sigmoid branch, no anchor) propagates with one kernel (Tanh' of stage 0).
    static_assert(kernel_schedule<AddNet>::backward_kernels[3] == 1 + 1);

    auto count_step = [&]<class Net>(std::type_identity<Net>) {
        using S = kernel_schedule<Net>;
        Model<Net> m(device::cuda());
        m.init(5);
        const std::size_t batch = 4;
        const auto x = uniform(batch * Net::in_size, 3);
        const auto values = uniform(batch * Net::out_size, 4);
        OptimizerState<optim::Adam> state(optim::Adam{}, Net::param_count);
        m.reserve(batch);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::inference);
        CHECK(cuda::launch_count() == S::forward_inference);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::training);
        CHECK(cuda::launch_count() == S::forward);
        (void)m.loss(loss::MSE{}, {.values = values});
        m.backward();
        CHECK(cuda::launch_count() == S::forward + S::loss + S::backward);
        m.update(state, 1e-3f);
        CHECK(cuda::launch_count() == S::training_step);
    };
    count_step(std::type_identity<Small>{});
    count_step(std::type_identity<InceptionNet>{});
    count_step(std::type_identity<AddNet>{});
    count_step(std::type_identity<NestedNet>{});

    const std::string d = describe<Small>(loss::MSE{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 3\n") != std::string::npos);
    CHECK(
        d.find("k1 stage 1: gemm      Z = X W^T [6 -> 6], fused: bias, Tanh; + join (stage 2)\n") !=
        std::string::npos);
    CHECK(d.find("-- stage 2: join      add stage 0 + stage 1, fused: ReLU; no kernel: in k1's "
                 "store\n") != std::string::npos);
    CHECK(d.find("stage 2: join backward: dZ x epilogue'(stage 1); stage 0's gradient started "
                 "with the skip's dZ x epilogue'(stage 0)") != std::string::npos);
    CHECK(d.find("stage 1: gemm dW = dZ^T X, db = sum(dZ) as a ones column | gemm dX = dZ W x "
                 "epilogue'(stage 0) | accumulate the kept gradients of stage 0 into dX") !=
          std::string::npos);
}

TEST_CASE("joins on CUDA: 10 training steps follow the CPU run") {
    auto run = [&]<class Net>(std::type_identity<Net>) {
        Model<Net> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(77);
        gpu.init(77);
        OptimizerState<optim::Adam> s_cpu(optim::Adam{}, Net::param_count),
            s_gpu(optim::Adam{}, Net::param_count);
        const std::size_t batch = 6;
        for (int step = 0; step < 10; ++step) {
            CAPTURE(step);
            const auto x = uniform(batch * Net::in_size, 2000 + static_cast<std::uint64_t>(step));
            const auto labels = labels_for(batch + static_cast<std::size_t>(step), Net::out_size);
            const loss::Targets<float> t{
                std::span(labels).subspan(static_cast<std::size_t>(step), batch)};
            (void)cpu.forward(x, batch, Mode::training);
            (void)gpu.forward(x, batch, Mode::training);
            const float lc = cpu.loss(loss::SoftmaxCrossEntropy{}, t);
            const float lg = gpu.loss(loss::SoftmaxCrossEntropy{}, t);
            CHECK(lg == doctest::Approx(lc).epsilon(1e-4));
            cpu.backward();
            gpu.backward();
            cpu.update(s_cpu, 1e-2f);
            gpu.update(s_gpu, 1e-2f);
        }
        check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
    };
    run(std::type_identity<InceptionNet>{});
    run(std::type_identity<NestedNet>{});
}

// ---------------------------------------------------------------------------------------------
// Join fusion: a two-branch Add whose last branch ends in a Conv2D or Dense stage is evaluated in
// that stage's GEMM store (every pass), or after a BatchNorm folded into it (inference only).

TEST_CASE("join fusion: which joins run in a GEMM store, in which passes") {
    using ctnn::detail::stage_at;
    // ResConvNet: conv | conv, ReLU | conv | join, ReLU | dense.
    using RC = stages_of<ResConvNet>;
    static_assert(join_fuses_into_previous<RC, 3> && !join_fuses_through_fold<RC, 3>);
    static_assert(kernel_schedule<ResConvNet>::forward == 5 - 1 &&
                  kernel_schedule<ResConvNet>::forward_inference == 5 - 1);
    // The backward pass keeps the join's kernel.
    static_assert(kernel_schedule<ResConvNet>::backward_kernels[3] == 1);
    using RI = stages_of<ResInputNet>;
    static_assert(join_fuses_into_previous<RI, 1> && stage_at<RI, 1>::anchor::from_input);
    using TB = stages_of<TwoBranchNet>;
    static_assert(join_fuses_into_previous<TB, 3> && join_fuses_into_previous<TB, 5>);
    static_assert(kernel_schedule<TwoBranchNet>::forward == 7 - 2);
    // ResBnNet: conv | conv | BN, ReLU | conv | BN | join, ReLU | dense.
    using RB = stages_of<ResBnNet>;
    static_assert(folds_into_previous<RB, 4> && join_fuses_through_fold<RB, 5> &&
                  !join_fuses_into_previous<RB, 5>);
    static_assert(kernel_schedule<ResBnNet>::forward == 7 &&
                  kernel_schedule<ResBnNet>::forward_inference == 7 - 2 - 1);
    using NF = stages_of<NoFuseNet>;
    static_assert(fused_join_count<NF> == 0 && fused_join_inference_count<NF> == 0);
    static_assert(kernel_schedule<NoFuseNet>::forward == NF::size &&
                  kernel_schedule<NoFuseNet>::forward_inference == NF::size);
    // Joins of the earlier tests: AddNet (three branches) and InceptionNet (Concat) keep their
    // kernel; NestedNet's Residual<Concat<...>, Dense<6>> and inner Add<Branch<>, Dense<6>> fuse
    // (its Residual<Tanh> and three-branch Add do not).
    static_assert(fused_join_count<stages_of<AddNet>> == 0 &&
                  fused_join_count<stages_of<InceptionNet>> == 0);
    static_assert(fused_join_count<stages_of<NestedNet>> == 2);
}

TEST_CASE("join fusion: models with fused and unfused joins on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
        check_step<ResConvNet>(loss::SoftmaxCrossEntropy{}, batch, 61);
        check_step<ResInputNet>(loss::MSE{}, batch, 62);
        check_step<TwoBranchNet>(loss::SoftmaxCrossEntropy{}, batch, 63);
        check_step<ResBnNet>(loss::SoftmaxCrossEntropy{}, batch + 1, 64);
        check_step<NoFuseNet>(loss::MSE{}, batch + 1, 65);
    }
}

TEST_CASE("join fusion: inference through a folded BatchNorm equals the CPU, and the launches") {
    using Net = ResBnNet;
    check_inference_after_training<Net>(66);

    const std::string d = describe<Net>();
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 7\n") != std::string::npos);
    CHECK(d.find("cuda kernels, inference forward: 4 ") != std::string::npos);
    CHECK(d.find("k3 stage 3: conv") != std::string::npos);
    CHECK(d.find("; inference: + BatchNorm (stage 4 folded in) + join (stage 5)\n") !=
          std::string::npos);
    CHECK(d.find("k5 stage 5: join      add stage 0 + stage 4, fused: ReLU; inference: in k3's "
                 "store\n") != std::string::npos);
}

TEST_CASE("join fusion: 10 training steps follow the CPU run") {
    auto run = [&]<class Net>(std::type_identity<Net>) {
        Model<Net> cpu(device::cpu()), gpu(device::cuda());
        cpu.init(78);
        gpu.init(78);
        OptimizerState<optim::Adam> s_cpu(optim::Adam{}, Net::param_count),
            s_gpu(optim::Adam{}, Net::param_count);
        const std::size_t batch = 6;
        for (int step = 0; step < 10; ++step) {
            CAPTURE(step);
            const auto x = uniform(batch * Net::in_size, 3000 + static_cast<std::uint64_t>(step));
            const auto labels = labels_for(batch + static_cast<std::size_t>(step), Net::out_size);
            const loss::Targets<float> t{
                std::span(labels).subspan(static_cast<std::size_t>(step), batch)};
            (void)cpu.forward(x, batch, Mode::training);
            (void)gpu.forward(x, batch, Mode::training);
            const float lc = cpu.loss(loss::SoftmaxCrossEntropy{}, t);
            const float lg = gpu.loss(loss::SoftmaxCrossEntropy{}, t);
            CHECK(lg == doctest::Approx(lc).epsilon(1e-4));
            cpu.backward();
            gpu.backward();
            cpu.update(s_cpu, 1e-2f);
            gpu.update(s_gpu, 1e-2f);
        }
        check_close(gpu.parameters(), cpu.parameters(), 1e-4, 1e-6);
    };
    run(std::type_identity<ResConvNet>{});
    run(std::type_identity<TwoBranchNet>{});
}
