// benchmarks/lstm_cpu.cpp — issue 20's LSTM workload on the CPU, ctnn's side: the training step
// (forward, softmax cross-entropy, backward, Adam) and inference of
//     LSTM(28 -> 128) over 28 steps, its last state -> Dense(10), batch 64
// (a Fashion-MNIST image read as 28 rows of 28 pixels, examples/fashion_mnist_lstm.cpp), at each
// thread count given. Prints one line per case, "lstm_cpu,<impl>,<pass>,<threads>,<ms>", the best
// of several rounds; python/lstm_peers.py prints the same for PyTorch (eager, torch.compile) and
// scripts/bench-lstm.sh interleaves the two and makes the table of docs/benchmarks.md.
//
//   lstm_cpu [THREADS...]     (default: 1 2)
#include "lstm_cpu/timing.hpp"

#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace ctnn;

using Net = Sequential<Input<28, 28>, LSTM<128>, Dense<10>>;
constexpr std::size_t batch = 64;

int main(int argc, char** argv) {
    std::vector<unsigned> threads;
    for (int i = 1; i < argc; ++i) threads.push_back(static_cast<unsigned>(std::stoul(argv[i])));
    if (threads.empty()) threads = {1, 2};

    std::vector<float> x(batch * Net::in_size);
    std::vector<std::int32_t> labels(batch);
    const CounterRng rng{1, 2};
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(rng.normal(i));
    for (std::size_t b = 0; b < batch; ++b) labels[b] = static_cast<std::int32_t>(b % 10);
    const loss::Targets<float> targets{labels, {}};

    for (const unsigned n : threads) {
        set_num_threads(n);
        Model<Net> m(device::cpu());
        m.init(1);
        auto state = m.make_state(optim::Adam{.lr = 1e-3f});
        const double train = lstm_bench::best_ms([&] {
            m.forward(x, Mode::training);
            m.loss(loss::SoftmaxCrossEntropy{}, targets);
            m.backward();
            m.update(state, 1e-3f);
        });
        const double infer = lstm_bench::best_ms([&] { m.forward(x, Mode::inference); });
        std::printf("lstm_cpu,ctnn,train,%u,%.4f\nlstm_cpu,ctnn,infer,%u,%.4f\n", n, train, n,
                    infer);
        std::fflush(stdout);
    }
    return 0;
}
