// benchmarks/lstm_cpu/libtorch.cpp (program lstm_libtorch) — issue 20's LSTM workload in
// libtorch 1.13's C++ frontend (Debian libtorch-dev), the peer of lstm_cpu.cpp:
// torch::nn::LSTM(28 -> 128, batch_first) over 28 steps, its last state (h_n) into
// torch::nn::Linear(128, 10), batch 64; the training step is zero_grad, forward, cross_entropy,
// backward and Adam's step; inference runs under c10::InferenceMode. Same rounds and output
// lines as lstm_cpu ("lstm_cpu,libtorch,<pass>,<threads>,<ms>"); scripts/bench-lstm.sh runs it
// when it is built (CMake finds Torch) with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = the thread
// count (Debian's libtorch does its GEMMs in OpenBLAS), and torch::set_num_threads here.
//
//   lstm_libtorch [THREADS...]     (default: 1 2)
#include "timing.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::vector<int> threads;
    for (int i = 1; i < argc; ++i) threads.push_back(std::stoi(argv[i]));
    if (threads.empty()) threads = {1, 2};
    constexpr std::int64_t batch = 64, steps = 28, features = 28, hidden = 128, classes = 10;
    torch::set_num_interop_threads(1);
    torch::manual_seed(1);
    const torch::Tensor x = torch::randn({batch, steps, features});
    const torch::Tensor labels = torch::arange(batch) % classes;
    for (const int n : threads) {
        torch::set_num_threads(n);
        torch::nn::LSTM lstm(torch::nn::LSTMOptions(features, hidden).batch_first(true));
        torch::nn::Linear dense(hidden, classes);
        std::vector<torch::Tensor> params = lstm->parameters();
        for (const auto& p : dense->parameters()) params.push_back(p);
        torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3));
        const double train = lstm_bench::best_ms([&] {
            adam.zero_grad();
            const auto out = lstm->forward(x);
            const torch::Tensor h_n = std::get<0>(std::get<1>(out)).squeeze(0); // [B, H]
            const torch::Tensor loss =
                torch::nn::functional::cross_entropy(dense->forward(h_n), labels);
            loss.backward();
            adam.step();
        });
        double infer = 0;
        {
            c10::InferenceMode guard;
            float sink = 0;
            infer = lstm_bench::best_ms([&] {
                const auto out = lstm->forward(x);
                sink +=
                    dense->forward(std::get<0>(std::get<1>(out)).squeeze(0)).data_ptr<float>()[0];
            });
            if (sink == 12345.0f) std::printf("%g\n", static_cast<double>(sink));
        }
        std::printf("lstm_cpu,libtorch,train,%d,%.4f\nlstm_cpu,libtorch,infer,%d,%.4f\n", n, train,
                    n, infer);
        std::fflush(stdout);
    }
    return 0;
}
