// thread_handoff — what it costs ctnn's CPU thread pool (include/ctnn/backend/cpu/threads.hpp) to
// hand one parallel pass to a second thread and collect it, with and without the bounded spin
// (CTNN_SPIN_US), when passes come back to back or after some serial work (a training loop: the
// loss, the optimizer update and the weight packing run on the caller between passes).
//
//   thread_handoff [Google Benchmark flags]      e.g. --benchmark_min_time=0.3
//
// Each case times pool.run(2, f) with f doing `work_us` of arithmetic on each thread, after
// `gap_us` of arithmetic on the caller alone; the reported time minus (gap + work) is the
// hand-off overhead. Needs 2 free cores to mean anything (the machine's other load is not
// controlled here; check `uptime`).
#include <ctnn/backend/cpu/threads.hpp>

#include <benchmark/benchmark.h>

#include <chrono>

namespace {

/// Busy arithmetic for about `us` microseconds (calibrated by the clock, not a sleep).
void busy(long us) {
    if (us <= 0) return;
    const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    volatile float x = 1.0f;
    while (std::chrono::steady_clock::now() < end)
        for (int i = 0; i < 64; ++i) x = x * 0.999f + 0.001f;
}

void handoff(benchmark::State& state) {
    auto& pool = ctnn::detail::ThreadPool::instance();
    pool.set_size(2);
    pool.set_spin_budget(static_cast<unsigned>(state.range(0)));
    const long gap = state.range(1), work = state.range(2);
    pool.run(2, [](unsigned) {}); // start the worker
    for (auto _ : state) {
        busy(gap);
        pool.run(2, [&](unsigned) { busy(work); });
    }
    state.counters["spin_us"] = static_cast<double>(state.range(0));
    state.counters["gap_us"] = static_cast<double>(gap);
    state.counters["work_us"] = static_cast<double>(work);
}

} // namespace

BENCHMARK(handoff)
    ->ArgNames({"spin_us", "gap_us", "work_us"})
    ->ArgsProduct({{0, 100}, {0, 50, 200}, {0, 100}})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
