// benchmarks/lstm_cpu/timing.hpp — the timing loop of lstm_cpu and its libtorch peer, so that
// both sides of the LSTM table are measured the same way.
#pragma once
#include <algorithm>
#include <chrono>

namespace lstm_bench {

/// Milliseconds per call of f: 10 warm-up calls (buffers, caches, thread pools), then the best
/// of `rounds` rounds of `per_round` calls.
template <class F>
double best_ms(F&& f, int rounds = 5, int per_round = 30) {
    for (int i = 0; i < 10; ++i) f();
    double best = 1e30;
    for (int r = 0; r < rounds; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < per_round; ++i) f();
        const std::chrono::duration<double, std::milli> dt = std::chrono::steady_clock::now() - t0;
        best = std::min(best, dt.count() / per_round);
    }
    return best;
}

} // namespace lstm_bench
