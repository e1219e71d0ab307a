// mlp_cpu: libtorch 1.13 C++ (Debian libtorch-dev), as its C++ frontend tutorial writes it:
// torch::nn::Sequential of Linear and ReLU, torch::optim::SGD, zero_grad / forward / loss /
// backward / step. Inference runs under c10::InferenceMode. Debian's build does its GEMMs in
// OpenBLAS (threads: OPENBLAS_NUM_THREADS, kernel: OPENBLAS_CORETYPE) and its elementwise ops
// on an OpenMP intra-op pool (torch::set_num_threads); both are pinned by mlp_cpu.
#include "../common/bench.hpp"

#include <torch/torch.h>

namespace bench {
namespace {

torch::nn::Sequential make_net(const Workload& w) {
    namespace nn = torch::nn;
    if (!w.is_mlp()) // C: the network of examples/fashion_mnist_cnn.cpp
        return nn::Sequential(nn::Unflatten(nn::UnflattenOptions(1, {1, 28, 28})),
                              nn::Conv2d(nn::Conv2dOptions(1, 32, 3).padding(1)), nn::ReLU(),
                              nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)),
                              nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                              nn::Linear(64 * 7 * 7, 128), nn::ReLU(), nn::Dropout(0.3),
                              nn::Linear(128, 10));
    torch::nn::Sequential net;
    for (std::size_t l = 0; l + 1 < w.widths.size(); ++l) {
        net->push_back(torch::nn::Linear(static_cast<std::int64_t>(w.widths[l]),
                                         static_cast<std::int64_t>(w.widths[l + 1])));
        if (l + 2 < w.widths.size()) net->push_back(torch::nn::ReLU());
    }
    return net;
}

void run_workload(Recorder& r, const Workload& w) {
    torch::manual_seed(42);
    torch::nn::Sequential net = make_net(w);
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(sgd_lr));
    Data d = make_data(w, w.batch);
    const auto B = static_cast<std::int64_t>(w.batch);
    const torch::Tensor x =
        torch::from_blob(d.x.data(), {B, static_cast<std::int64_t>(w.in())}).clone();
    torch::Tensor target;
    if (w.classification)
        target = torch::from_blob(d.labels.data(), {B}, torch::kInt32).to(torch::kLong);
    else
        target = torch::from_blob(d.values.data(), {B, static_cast<std::int64_t>(w.out())}).clone();

    r.measure(w, Pass::train, w.batch, [&] {
        opt.zero_grad();
        const torch::Tensor y = net->forward(x);
        const torch::Tensor loss = w.classification
                                       ? torch::nn::functional::cross_entropy(y, target)
                                       : torch::mse_loss(y, target);
        loss.backward();
        opt.step();
    });
    {
        c10::InferenceMode guard;
        net->eval(); // Dropout off (workload C)
        r.measure(w, Pass::infer, w.batch, [&] { keep(net->forward(x).data_ptr<float>()[0]); });
        const torch::Tensor x1 = x.slice(0, 0, 1).clone();
        r.measure(w, Pass::latency, 1, [&] { keep(net->forward(x1).data_ptr<float>()[0]); });
    }
}

} // namespace

void run_libtorch(Recorder& r) {
    torch::set_num_threads(static_cast<int>(r.threads()));
    torch::set_num_interop_threads(1);
    r.note("libtorch " TORCH_VERSION ", torch::get_num_threads()=" +
           std::to_string(torch::get_num_threads()) + ", interop threads " +
           std::to_string(torch::get_num_interop_threads()));
    if (r.wants(workload_a())) run_workload(r, workload_a());
    if (r.wants(workload_b())) run_workload(r, workload_b());
    if (r.wants(workload_c())) run_workload(r, workload_c());
}

} // namespace bench
