// ctnn/backend/cpu/threads.hpp — ctnn's CPU thread count and its small persistent thread pool.
//
// The fused CPU executor (backend/cpu/executor.hpp) splits a batch into one contiguous part per
// thread; each thread runs the whole network on its part, slice by slice, and the weight gradients
// are summed once per step. The threads are std::threads owned by ctnn (no OpenMP needed). A
// waiting thread (an idle worker, or the caller waiting for the workers) spins for a bounded time
// (CTNN_SPIN_US, default 100 µs) and then sleeps on a condition variable: back-to-back passes (a
// training loop) then hand work over without waking a sleeping thread, and a machine busy with
// other work costs at most that bound per wait (an unbounded spinning pool with one descheduled
// thread costs its partner a time slice per synchronization).
//
//     ctnn::set_num_threads(2);   // or CTNN_NUM_THREADS=2 in the environment
//
// Default: CTNN_NUM_THREADS if set, else OMP_NUM_THREADS if set (the variable users already set to
// pin their libraries' pools), else 1 thread. CTNN_SPIN_US=0 makes every wait sleep at once.
#pragma once
#include "../../config.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace ctnn {

namespace detail {

/// A positive integer from environment variable `name`, or 0 if unset or not a positive number.
inline unsigned env_thread_count(const char* name) {
    const char* s = std::getenv(name);
    if (s == nullptr || *s == '\0') return 0;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || v <= 0) return 0;
    return static_cast<unsigned>(std::min(v, 1024L));
}

/// A non-negative integer from environment variable `name`, or `fallback` if unset or invalid.
inline unsigned env_unsigned(const char* name, unsigned fallback) {
    const char* s = std::getenv(name);
    if (s == nullptr || *s == '\0') return fallback;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0) return fallback;
    return static_cast<unsigned>(std::min(v, 1000000L));
}

/// Tells the CPU this is a spin-wait loop (x86 `pause`, Arm `yield`).
inline void cpu_relax() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__CUDACC__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) && !defined(__CUDACC__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Spins until done() or until `budget` has passed; returns done() (false: time is up).
template <class Done>
bool spin_until(Done&& done, std::chrono::microseconds budget) {
    if (budget.count() == 0) return done();
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 1;; ++i) {
        if (done()) return true;
        cpu_relax();
        if (i % 64 == 0 && std::chrono::steady_clock::now() - start > budget) return done();
    }
}

/// A fixed team of worker threads that run one parallel job at a time. run(n, f) calls f(0) on
/// the caller and f(1) .. f(n-1) on workers 1 .. n-1, and returns when all have finished. Waiting
/// threads spin for at most spin_budget() (CTNN_SPIN_US), then sleep. A run() issued while another
/// thread's run() is in progress (two models used from two user threads) executes f(0) .. f(n-1)
/// serially on its caller instead of waiting.
class ThreadPool {
public:
    ThreadPool() : spin_us_(env_unsigned("CTNN_SPIN_US", 100)) {}
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;
    ~ThreadPool() { resize(0); }

    /// The process-wide pool (created on first use, with the default thread count).
    static ThreadPool& instance() {
        static ThreadPool pool;
        return pool;
    }

    /// Number of threads a parallel job uses, the caller included (>= 1).
    [[nodiscard]] unsigned size() {
        std::lock_guard lock(config_);
        if (threads_ == 0) threads_ = default_count();
        return threads_;
    }

    /// Sets the number of threads (>= 1; 0 means std::thread::hardware_concurrency()). Workers
    /// are started lazily by the next job and stopped here when the count shrinks.
    void set_size(unsigned n) {
        if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
        std::lock_guard lock(config_);
        threads_ = n;
        if (workers_.size() + 1 > n) resize(n - 1);
    }

    /// How long a waiting thread spins before it sleeps (CTNN_SPIN_US, default 100 µs).
    [[nodiscard]] std::chrono::microseconds spin_budget() const noexcept {
        return std::chrono::microseconds(spin_us_.load(std::memory_order_relaxed));
    }
    /// Sets the spin budget (microseconds; 0: sleep at once). Takes effect at the next wait.
    void set_spin_budget(unsigned microseconds) noexcept {
        spin_us_.store(microseconds, std::memory_order_relaxed);
    }

    /// Runs f(i) for i in [0, n): f(0) on the calling thread, the others on workers. Nothing is
    /// allocated (f is called through a pointer to it).
    /// An exception thrown by any f(i) reaches the caller (the first one, once every part has
    /// finished): a worker's would otherwise end the program.
    template <class F>
    void run(unsigned n, F&& f) {
        std::exception_ptr error;
        std::mutex error_mutex;
        auto guarded = [&](unsigned i) {
            try {
                f(i);
            } catch (...) {
                const std::lock_guard lock(error_mutex);
                if (!error) error = std::current_exception();
            }
        };
        using Fn = decltype(guarded);
        run_job(
            n, [](void* c, unsigned i) { (*static_cast<Fn*>(c))(i); },
            static_cast<void*>(std::addressof(guarded)));
        if (error) std::rethrow_exception(error);
    }

private:
    using JobFn = void (*)(void*, unsigned);

    void run_job(unsigned n, JobFn fn, void* ctx) {
        std::unique_lock busy(busy_, std::try_to_lock);
        if (n <= 1 || !busy.owns_lock()) {
            for (unsigned i = 0; i < n; ++i) fn(ctx, i);
            return;
        }
        {
            std::lock_guard lock(config_);
            if (workers_.size() + 1 < n) resize(n - 1);
        }
        {
            std::lock_guard lock(m_);
            job_fn_ = fn;
            job_ctx_ = ctx;
            job_size_ = n;
            pending_ = n - 1;
            ++generation_;
        }
        wake_.notify_all(); // no system call when every worker is spinning
        fn(ctx, 0);
        // Wait for the workers, spinning first: the last one to finish notifies `done_`.
        const bool done = spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; },
                                     spin_budget());
        std::unique_lock lock(m_);
        if (!done) done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
        job_fn_ = nullptr;
    }

    static unsigned default_count() {
        if (unsigned n = env_thread_count("CTNN_NUM_THREADS")) return n;
        if (unsigned n = env_thread_count("OMP_NUM_THREADS")) return n;
        return 1;
    }

    /// Starts or stops workers so that there are exactly `count` (config_ is held).
    void resize(std::size_t count) {
        if (count < workers_.size()) {
            {
                std::lock_guard lock(m_);
                stop_from_ = static_cast<unsigned>(count) + 1;
                ++generation_;
            }
            wake_.notify_all();
            for (std::size_t i = count; i < workers_.size(); ++i) workers_[i].join();
            workers_.resize(count);
            std::lock_guard lock(m_);
            stop_from_ = ~0u;
        }
        while (workers_.size() < count) {
            std::uint64_t gen;
            {
                std::lock_guard lock(m_);
                gen = generation_;
            }
            const auto index = static_cast<unsigned>(workers_.size()) + 1;
            workers_.emplace_back([this, index, gen] { work(index, gen); });
        }
    }

    /// A worker's loop: spin, then sleep, until a new generation; run its share of the job; report.
    /// The job's fields are read under m_, as they are written.
    void work(unsigned index, std::uint64_t seen) {
        std::unique_lock lock(m_);
        for (;;) {
            if (generation_.load(std::memory_order_relaxed) == seen) {
                lock.unlock();
                const bool woke =
                    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; },
                               spin_budget());
                lock.lock();
                if (!woke)
                    wake_.wait(lock,
                               [&] { return generation_.load(std::memory_order_relaxed) != seen; });
            }
            seen = generation_.load(std::memory_order_relaxed);
            if (index >= stop_from_) return;
            if (job_fn_ == nullptr || index >= job_size_) continue;
            const JobFn fn = job_fn_;
            void* ctx = job_ctx_;
            lock.unlock();
            fn(ctx, index);
            lock.lock();
            if (--pending_ == 0) done_.notify_one();
        }
    }

    std::mutex config_; // guards threads_ and workers_
    std::mutex busy_;   // held by the thread whose job is running
    std::mutex m_;      // guards the job fields below
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    unsigned threads_ = 0;
    JobFn job_fn_ = nullptr;
    void* job_ctx_ = nullptr;
    unsigned job_size_ = 0, stop_from_ = ~0u;
    // Written under m_; atomic so that spinning threads can read them without it.
    std::atomic<unsigned> pending_{0};
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<unsigned> spin_us_; // CTNN_SPIN_US
};

} // namespace detail

/// Sets how many threads ctnn's CPU executor uses for one forward or backward pass (>= 1; 0 means
/// all hardware threads). Takes effect at the next pass; call it between passes.
inline void set_num_threads(unsigned n) { detail::ThreadPool::instance().set_size(n); }

/// The number of threads ctnn's CPU executor uses: set_num_threads(), else the environment
/// variable CTNN_NUM_THREADS, else OMP_NUM_THREADS, else 1.
[[nodiscard]] inline unsigned num_threads() { return detail::ThreadPool::instance().size(); }

} // namespace ctnn
