// Models on device::cuda() against the same models on the CPU: forward, loss, backward and
// updates of several model types and batch sizes; kernel counts of a forward pass and of a
// training step; a 20-step training run; save/load and moving between devices; out-of-memory;
// errors. Helpers and tolerances: cuda_checks.hpp.
#include "cuda_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <thread>
#include <vector>

using namespace ctnn;
using namespace ctnn::test::cuda_checks;
namespace fs = std::filesystem;

TEST_CASE("LogSoftmax of large equal inputs is -log(n) on CUDA as on the CPU") {
    // The rowwise kernel computes (x - m) - log(s); x - (m + log(s)) gave 0 for logits of 1e30.
    Model<Sequential<Input<3>, LogSoftmax>> gpu(device::cuda());
    const std::vector<float> x{1e30f, 1e30f, 1e30f, -1e30f, -1e30f, -1e30f};
    const auto y = gpu.forward(x, 2);
    for (const float v : y) CHECK(v == doctest::Approx(-std::log(3.0f)));
}

TEST_CASE("convolution and pooling stages on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
        check_step<ConvNet>(loss::SoftmaxCrossEntropy{}, batch, 41);
        check_step<GroupNet>(loss::MSE{}, batch, 42);
        check_step<PoolFirstNet>(loss::SoftmaxCrossEntropy{}, batch, 43);
        check_step<RectNet>(loss::SoftmaxCrossEntropy{}, batch, 44);
    }
    // [2, 6, 7] -> [4, 6, 7] -> [4, 3, 7] -> [5, 1, 3] -> [5, 1, 2] -> Dense<3> on 10 values.
    static_assert(RectNet::param_count == (4 * 2 * 3 + 4) + 5 * 4 * 6 + (10 * 3 + 3));
    // conv: 1 forward; dW (+db) and dX backward; pool: 1 forward, dX backward.
    static_assert(kernel_schedule<ConvNet>::forward == 4);
    static_assert(kernel_schedule<ConvNet>::backward == 2 + 2 + 1 + 1);
    static_assert(kernel_schedule<PoolFirstNet>::backward == 2 + 1 + 1);
}

TEST_CASE("upsampling stages on CUDA equal the CPU") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{4}}) {
        check_step<EncoderDecoderNet>(loss::MSE{}, batch, 44);
        check_step<UpsampleFirstNet>(loss::SoftmaxCrossEntropy{}, batch, 45);
        check_step<BilinearNet>(loss::MSE{}, batch, 46);
    }
    // upsample: 1 forward (epilogue fused); 1 backward (dX, previous epilogue' fused), none when
    // it is the first stage.
    static_assert(kernel_schedule<EncoderDecoderNet>::forward == 5 - 1); // the pool: in k0
    static_assert(kernel_schedule<EncoderDecoderNet>::backward == 1 + 2 + 1 + 2 + 1);
    static_assert(kernel_schedule<UpsampleFirstNet>::backward == 2 + 1);
    Model<EncoderDecoderNet> m(device::cuda());
    m.init(3);
    const auto x = uniform(2 * EncoderDecoderNet::in_size, 9);
    const auto t = uniform(2 * EncoderDecoderNet::out_size, 10);
    m.reserve(2);
    cuda::reset_launch_count();
    (void)m.forward(x, 2, Mode::training);
    (void)m.loss(loss::MSE{}, {.values = t});
    m.backward();
    CHECK(cuda::launch_count() == 4 + 1 + 7);
}

TEST_CASE("max pooling breaks ties as the CPU does (first maximum in row-major order)") {
    // A 2x2 convolution with weights 1 turns small integer inputs into exact integer sums, so
    // overlapping pooling windows hold ties; which tied value gets the gradient changes dW (the
    // inputs under the chosen position differ), so the two backends must choose alike.
    // Overlapping windows (a pooling kernel), and 2 x 2 windows tiling a 4 x 6 map (pooling in
    // the convolution's store).
    run_tie_test<Sequential<Input<1, 5, 6>, Conv2D<1, 2, NoBias>, MaxPool2D<2, Stride<1>>, Flatten,
                            Dense<2>>>();
    using Fused = Sequential<Input<1, 5, 7>, Conv2D<1, 2, NoBias>, MaxPool2D<2>, Flatten, Dense<2>>;
    static_assert(pool_fuses_into_previous<stages_of<Fused>, 1>);
    run_tie_test<Fused>();
}

TEST_CASE("forward, loss and backward on CUDA equal the CPU for several models and batches") {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{7}, std::size_t{70}}) {
        check_step<SmallNet>(loss::SoftmaxCrossEntropy{}, batch, 11);
        check_step<DeepNet>(loss::MSE{}, batch, 12);
        check_step<DeepNet>(loss::BCEWithLogits{}, batch, 13);
        check_step<SoftmaxNet>(loss::L1{}, batch, 14);
        check_step<SoftmaxNet>(loss::Huber{.delta = 0.05f}, batch, 15);
        check_step<SoftmaxNet>(loss::NLLLoss{}, batch, 16);
        check_step<LeadingNet>(loss::MSE{}, batch, 16);
    }
}

TEST_CASE("the example's architecture agrees at full width (batch 3)") {
    check_step<ExampleNet>(loss::SoftmaxCrossEntropy{}, 3, 21);
}

TEST_CASE("a model without parameters runs forward and loss on CUDA") {
    check_step<MapNet>(loss::MSE{}, 9, 31);
}

TEST_CASE("kernel counts: one kernel per stage forward, 7 for the example's training step") {
    using K = kernel_schedule<ExampleNet>;
    static_assert(K::cuda_supported);
    static_assert(K::forward == 2 && K::loss == 1 && K::backward == 3 && K::optimizer == 1);
    static_assert(K::training_step == 7);
    static_assert(kernel_schedule<DeepNet>::forward == 3 &&
                  kernel_schedule<DeepNet>::backward == 5);
    // Softmax(no params) -> its backward is needed because Dense<12> precedes it.
    static_assert(kernel_schedule<SoftmaxNet>::forward == 4 &&
                  kernel_schedule<SoftmaxNet>::backward == 1 + 1 + 1 + 1 + 1);
    // A leading Tanh stage has nothing to propagate to.
    static_assert(kernel_schedule<LeadingNet>::forward == 2 &&
                  kernel_schedule<LeadingNet>::backward == 1);
    static_assert(kernel_schedule<MapNet>::training_step == 2);

    auto count_step = [&]<class Net, class L>(std::type_identity<Net>, const L& loss) {
        using S = kernel_schedule<Net>;
        Model<Net> m(device::cuda());
        m.init(5);
        const std::size_t batch = 4;
        const auto x = uniform(batch * Net::in_size, 3);
        const auto labels = labels_for(batch, Net::out_size);
        const auto values = uniform(batch * Net::out_size, 4);
        OptimizerState<optim::Adam> state(optim::Adam{}, Net::param_count);
        m.reserve(batch);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::inference);
        CHECK(cuda::launch_count() == S::forward_inference);
        cuda::reset_launch_count();
        (void)m.forward(x, batch, Mode::training);
        CHECK(cuda::launch_count() == S::forward);
        (void)m.loss(loss, {labels, values});
        CHECK(cuda::launch_count() == S::forward + S::loss);
        m.backward();
        CHECK(cuda::launch_count() == S::forward + S::loss + S::backward);
        if constexpr (Net::param_count > 0) m.update(state, 1e-3f);
        CHECK(cuda::launch_count() == S::training_step);
        return cuda::launch_count();
    };
    CHECK(count_step(std::type_identity<SmallNet>{}, loss::SoftmaxCrossEntropy{}) == 7);
    CHECK(count_step(std::type_identity<DeepNet>{}, loss::MSE{}) == 3 + 1 + 5 + 1);
    CHECK(count_step(std::type_identity<SoftmaxNet>{}, loss::L1{}) == 4 + 1 + 5 + 1);
    CHECK(count_step(std::type_identity<LeadingNet>{}, loss::MSE{}) == 2 + 1 + 1 + 1);
}

TEST_CASE("describe() lists the CUDA kernels of a pass and of a training step") {
    const std::string d = describe<ExampleNet>(loss::SoftmaxCrossEntropy{});
    INFO(d);
    CHECK(d.find("cuda kernels, forward: 2") != std::string::npos);
    CHECK(d.find("k0 stage 0: gemm      Z = X W^T [784 -> 256], fused: bias, ReLU, "
                 "Dropout(0.2)") != std::string::npos);
    CHECK(d.find("k1 stage 1: gemm      Z = X W^T [256 -> 10], fused: bias") != std::string::npos);
    CHECK(d.find("cuda kernels, backward: 3") != std::string::npos);
    CHECK(d.find("stage 1: gemm dW = dZ^T X, db = sum(dZ) as a ones column | gemm dX = dZ W x "
                 "epilogue'(stage 0)") != std::string::npos);
    CHECK(d.find("cuda kernels, training step: 7 = forward 2 + loss 1") != std::string::npos);
    CHECK(d.find("backward 3 + optimizer 1") != std::string::npos);
}

TEST_CASE("20 training steps on CUDA follow the CPU run step for step") {
    using Net = Sequential<Input<10>, Dense<24>, ReLU, Dropout<0.1f>, Dense<16>, Tanh, Dense<3>>;
    Model<Net> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(77);
    gpu.init(77);
    OptimizerState<optim::Adam> s_cpu(optim::Adam{}, Net::param_count),
        s_gpu(optim::Adam{}, Net::param_count);
    const std::size_t batch = 16;
    for (int step = 0; step < 24; ++step) {
        CAPTURE(step);
        const auto x = uniform(batch * 10, 1000 + static_cast<std::uint64_t>(step));
        const auto labels = labels_for(batch + static_cast<std::size_t>(step), 3);
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
    // The optimizer state comes back from the device on request.
    gpu.read_state(s_gpu);
    cpu.read_state(s_cpu);
    check_close(s_gpu.m, s_cpu.m, 1e-3, 1e-7);
    check_close(s_gpu.v, s_cpu.v, 1e-3, 1e-9);
}

TEST_CASE("train() and evaluate() run a CUDA model (XOR)") {
    using Net = Sequential<Input<2>, Dense<8>, Tanh, Dense<2>>;
    Dataset d;
    d.feature_count = 2;
    d.features = {0, 0, 0, 1, 1, 0, 1, 1};
    d.labels = {0, 1, 1, 0};
    Model<Net> m(device::cuda());
    m.init(3);
    std::ostringstream quiet;
    TrainOptions o;
    o.epochs = 150;
    o.batch = 4;
    o.progress = Progress::silent;
    o.out = &quiet;
    (void)train(m, d, loss::SoftmaxCrossEntropy{}, optim::Adam{.lr = 0.05f}, o);
    const Evaluation e = evaluate(m, d, loss::SoftmaxCrossEntropy{});
    CHECK(e.accuracy == 1.0);
    CHECK(e.loss < 0.1);
}

TEST_CASE("parameters move between host and device: writes, save/load, to()") {
    Model<SmallNet> gpu(device::cuda()), cpu(device::cpu());
    gpu.init(9);
    const auto x = uniform(3 * 13, 5);
    // A host write through parameters() reaches the device before the next forward.
    auto p = gpu.parameters();
    p[0] += 1.0f;
    p[p.size() - 1] -= 2.0f;
    std::copy(p.begin(), p.end(), cpu.parameters().begin());
    const auto yc = cpu.forward(x, 3);
    const std::vector<float> y_cpu(yc.begin(), yc.end());
    check_close(gpu.forward(x, 3), y_cpu);

    // A copy is a second model on the same device with the same parameters.
    const Model<SmallNet> copy = gpu;
    CHECK(copy.device() == device::cuda());
    Model<SmallNet> copy2(device::cpu());
    copy2 = copy;
    CHECK(copy2.device() == device::cuda());
    check_close(copy2.forward(x, 3), y_cpu);

    // Saved from the device, loaded on the CPU (and back): the same function.
    const fs::path file = scratch("cuda_model_roundtrip.safetensors");
    gpu.save(file);
    Model<SmallNet> loaded(device::cpu());
    loaded.load(file);
    check_close(loaded.forward(x, 3), y_cpu, 0, 0);
    Model<SmallNet> gpu2(device::cuda());
    gpu2.load(file);
    check_close(gpu2.forward(x, 3), y_cpu);

    // to(): cpu -> cuda -> cpu keeps the parameters bit for bit.
    Model<SmallNet> mover(device::cpu());
    mover.init(9);
    const std::vector<float> before(mover.parameters().begin(), mover.parameters().end());
    mover.to(device::cuda());
    CHECK(mover.device() == device::cuda());
    mover.to(device::cpu());
    CHECK(mover.device() == device::cpu());
    CHECK(std::equal(before.begin(), before.end(), mover.parameters().begin()));
}

TEST_CASE("out of device memory throws cuda_error and leaks nothing") {
    CHECK(cuda::host::memory_in_use() == 0);
    {
        Model<SmallNet> m(device::cuda());
        m.init(1);
        const std::size_t held = cuda::host::memory_in_use();
        CHECK(held > 0);
        cuda::host::set_memory_limit(held + 4096);
        try {
            m.reserve(100000);
            FAIL("reserve beyond the memory limit did not throw");
        } catch (const cuda_error& e) {
            CHECK(e.error_name() == "cudaErrorMemoryAllocation");
            CHECK(std::string(e.what()).find("out of memory") != std::string::npos);
        }
        CHECK(cuda::host::memory_in_use() == held); // the failed reserve freed what it took
        cuda::host::set_memory_limit();
        // The model still works after the failure.
        const auto x = uniform(2 * 13, 1);
        Model<SmallNet> ref(device::cpu());
        ref.init(1);
        const auto yr = ref.forward(x, 2);
        const std::vector<float> y_ref(yr.begin(), yr.end());
        check_close(m.forward(x, 2), y_ref);

        cuda::host::set_memory_limit(cuda::host::memory_in_use() + 100);
        CHECK_THROWS_AS(Model<ExampleNet>(device::cuda()), cuda_error);
        cuda::host::set_memory_limit();
    }
    CHECK(cuda::host::memory_in_use() == 0);
}

TEST_CASE("bad devices, labels and batches are errors that name the problem") {
    CHECK_THROWS_WITH_AS(Model<SmallNet>(device::cuda(1)),
                         doctest::Contains("cuda:1 (host execution) is not available"),
                         argument_error);
    CHECK(device::best() == device::cpu()); // host execution is never chosen by best()
    Model<SmallNet> m(device::cuda());
    m.init(2);
    const auto x = uniform(2 * 13, 1);
    (void)m.forward(x, 2, Mode::training);
    const std::vector<std::int32_t> bad = {1, 5};
    CHECK_THROWS_WITH_AS(m.loss(loss::SoftmaxCrossEntropy{}, {bad}),
                         doctest::Contains("label 5 of sample 1 is outside [0, 5)"),
                         argument_error);
    CHECK_THROWS_AS(m.forward(std::span<const float>(x.data(), 5), 2), shape_error);
}

TEST_CASE("predict() on CUDA equals the CPU, from several threads, and keeps forward()'s pass") {
    Model<ConvNet> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(60);
    gpu.init(60);
    const std::size_t batch = 3;
    const auto x = uniform(batch * ConvNet::in_size, 61);
    const auto other = uniform(batch * ConvNet::in_size, 62);
    const auto y = gpu.forward(other, batch);
    const std::vector<float> y0(y.begin(), y.end());
    const auto want = cpu.predict(x);
    check_close(gpu.predict(x), want);
    CHECK(std::equal(y0.begin(), y0.end(), y.begin()));
    // Calls from two threads take turns on the device executor.
    std::vector<float> a, b;
    std::thread t1([&] { a = gpu.predict(x); });
    std::thread t2([&] { b = gpu.predict(x); });
    t1.join();
    t2.join();
    check_close(a, want);
    check_close(b, want);
}

TEST_CASE("predict() from and into host buffers: a mapped input is read in place, not copied") {
    Model<ConvNet> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(63);
    gpu.init(63);
    const std::size_t batch = 2;
    const auto x = uniform(batch * ConvNet::in_size, 64);
    const auto want = cpu.predict(x);
    // Into caller memory: the same values; a wrong output size is an error.
    std::vector<float> y(want.size());
    gpu.predict(x, y);
    check_close(y, want);
    std::vector<float> short_y(want.size() - 1);
    const std::string holds = "the output holds " + std::to_string(short_y.size());
    CHECK_THROWS_WITH_AS(gpu.predict(x, short_y), doctest::Contains(holds.c_str()), shape_error);
    (void)gpu.predict(x); // the parameters on the device, the executor sized: no copies below
    for (const auto in_kind : {cuda::HostMemory::pinned, cuda::HostMemory::mapped}) {
        for (const auto out_kind : {cuda::HostMemory::pinned, cuda::HostMemory::mapped}) {
            CAPTURE(static_cast<int>(in_kind));
            CAPTURE(static_cast<int>(out_kind));
            cuda::HostBuffer<float> hx(x.size(), in_kind), hy(want.size(), out_kind);
            CHECK((hx.device_data() != nullptr) == (in_kind == cuda::HostMemory::mapped));
            std::copy(x.begin(), x.end(), hx.begin());
            const std::size_t to_device = cuda::host::bytes_copied_to_device();
            const std::size_t to_host = cuda::host::bytes_copied_to_host();
            gpu.predict(hx, hy);
            check_close(std::vector<float>(hy.begin(), hy.end()), want);
            // Host execution counts the copies: a mapped input is bound in place, a mapped
            // output written by a device-side copy; pinned ones cross as copies.
            CHECK(cuda::host::bytes_copied_to_device() - to_device ==
                  (in_kind == cuda::HostMemory::mapped ? 0 : x.size() * sizeof(float)));
            CHECK(cuda::host::bytes_copied_to_host() - to_host ==
                  (out_kind == cuda::HostMemory::mapped ? 0 : want.size() * sizeof(float)));
            // A new frame in the same mapped buffer: read in place again.
            const auto x2 = uniform(x.size(), 65);
            std::copy(x2.begin(), x2.end(), hx.begin());
            gpu.predict(hx, hy);
            check_close(std::vector<float>(hy.begin(), hy.end()), cpu.predict(x2));
        }
    }
    // On the CPU the buffers are plain memory.
    cuda::HostBuffer<float> hx(x.size(), cuda::HostMemory::mapped), hy(want.size());
    std::copy(x.begin(), x.end(), hx.begin());
    cpu.predict(hx, hy);
    CHECK(std::equal(want.begin(), want.end(), hy.begin()));
    cuda::HostBuffer<float> wrong(want.size() + 1);
    CHECK_THROWS_AS(gpu.predict(hx, wrong), shape_error);
}

TEST_CASE("set_cuda_stream: the model's work moves to the caller's stream") {
    Model<SmallNet> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(66);
    gpu.init(66);
    const cuda::stream_t own = gpu.cuda_stream();
    // Host execution runs every stream synchronously, so any handle stands for a user's stream.
    alignas(64) static char handle[64];
    const auto user = reinterpret_cast<cuda::stream_t>(handle);
    gpu.set_cuda_stream(user);
    CHECK(gpu.cuda_stream() == user);
    CHECK(gpu.cuda_stream() != own);
    const auto x = uniform(3 * SmallNet::in_size, 67);
    check_close(gpu.predict(x), cpu.predict(x));
    const auto f = gpu.forward(x, 3); // the training executor too
    const auto g = cpu.forward(x, 3);
    check_close(std::vector<float>(f.begin(), f.end()), std::vector<float>(g.begin(), g.end()));
    CHECK_THROWS_WITH_AS(cpu.set_cuda_stream(user), doctest::Contains("not on CUDA"),
                         argument_error);
    CHECK_THROWS_AS((void)cpu.cuda_stream(), argument_error);
}

TEST_CASE("use_cuda_graphs: predict() captures its pass once and replays it without launches") {
    Model<ConvNet> cpu(device::cpu()), gpu(device::cuda());
    cpu.init(69);
    gpu.init(69);
    gpu.use_cuda_graphs(true);
    for (const auto kind : {cuda::HostMemory::pinned, cuda::HostMemory::mapped}) {
        CAPTURE(static_cast<int>(kind));
        for (const std::size_t batch : {std::size_t{2}, std::size_t{3}}) {
            cuda::HostBuffer<float> hx(batch * ConvNet::in_size, kind);
            cuda::HostBuffer<float> hy(batch * ConvNet::out_size, kind);
            const auto x1 = uniform(hx.size(), 70 + batch);
            std::copy(x1.begin(), x1.end(), hx.begin());
            cuda::reset_launch_count();
            gpu.predict(hx, hy); // captures: the launches are recorded, then replayed
            CHECK(cuda::launch_count() == kernel_schedule<ConvNet>::forward);
            check_close(std::vector<float>(hy.begin(), hy.end()), cpu.predict(x1));
            // A new frame in the same buffers: the graph replays, no launch() at all, and reads
            // the new input (and the output buffer gets the new result).
            const auto x2 = uniform(hx.size(), 80 + batch);
            std::copy(x2.begin(), x2.end(), hx.begin());
            cuda::reset_launch_count();
            gpu.predict(hx, hy);
            CHECK(cuda::launch_count() == 0);
            check_close(std::vector<float>(hy.begin(), hy.end()), cpu.predict(x2));
            // Changed parameters are read where they are: the same graph, the new weights.
            auto p = gpu.parameters();
            p[0] += 0.5f;
            cpu.parameters()[0] += 0.5f;
            gpu.predict(hx, hy);
            CHECK(cuda::launch_count() == 0);
            check_close(std::vector<float>(hy.begin(), hy.end()), cpu.predict(x2));
        }
    }
    // Off: every call launches its kernels again.
    gpu.use_cuda_graphs(false);
    cuda::HostBuffer<float> hx(ConvNet::in_size), hy(ConvNet::out_size);
    std::fill(hx.begin(), hx.end(), 0.25f);
    cuda::reset_launch_count();
    gpu.predict(hx, hy);
    gpu.predict(hx, hy);
    CHECK(cuda::launch_count() == 2 * kernel_schedule<ConvNet>::forward);
    Model<ConvNet> on_cpu(device::cpu());
    CHECK_THROWS_WITH_AS(on_cpu.use_cuda_graphs(true), doctest::Contains("not on CUDA"),
                         argument_error);
}

TEST_CASE("a graph capture refuses to wait for the device, as CUDA does") {
    cuda::DeviceBuffer<float> d(4);
    float host[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    CHECK_THROWS_WITH_AS(cuda::Graph::capture(nullptr,
                                              [&] {
                                                  cuda::copy_to_device(d.data(), host, 4);
                                                  cuda::synchronize();
                                              }),
                         doctest::Contains("cudaErrorStreamCaptureUnsupported"), cuda_error);
    CHECK_THROWS_AS(cuda::Graph::capture(nullptr, [&] { cuda::copy_to_host(host, d.data(), 4); }),
                    cuda_error);
    // The failed captures left the thread out of capture mode: a copy runs at once again.
    cuda::copy_to_device(d.data(), host, 4);
    float back[4] = {};
    cuda::copy_to_host(back, d.data(), 4);
    CHECK(back[3] == 4.0f);
    // A capture records; its replay does the work, reading memory as it is at the replay.
    cuda::Graph g = cuda::Graph::capture(nullptr, [&] {
        cuda::copy_to_device(d.data(), host, 4);
        cuda::copy_to_host_async(back, d.data(), 4);
    });
    CHECK(g.host_steps() == 2);
    host[0] = 9.0f;
    g.launch(nullptr);
    CHECK(back[0] == 9.0f);
    CHECK_THROWS_AS(cuda::Graph{}.launch(nullptr), cuda_error);
}
