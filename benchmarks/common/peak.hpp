// benchmarks/common/peak.hpp — the machine's measured fp32 FMA peak, per core and for N threads.
//
// A micro-kernel of independent FMA chains (16 zmm / 12 ymm accumulators: more than FMA latency
// times the number of FMA pipes on current x86 cores, without spilling registers) in the widest
// vector ISA the CPU runs (AVX-512, else AVX2+FMA), chosen at run time with __builtin_cpu_supports
// so the result does not depend on -march. "% of peak" in the benchmark tables divides by this
// number, measured on the same machine in the same run, never by a datasheet figure.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CTNN_BENCH_X86 1
#endif

namespace bench {

/// A kernel of `chains` independent FMA chains of `lanes` floats: one call with `iters` does
/// iters * chains * lanes * 2 FLOPs.
struct PeakKernel {
    const char* isa = "scalar";
    unsigned lanes = 1;
    unsigned chains = 16;
    float (*run)(std::uint64_t iters) = nullptr;
};

namespace detail {

#ifdef CTNN_BENCH_X86
__attribute__((target("avx512f"))) inline float fma_chains_avx512(std::uint64_t iters) {
    __m512 a[16];
    for (int k = 0; k < 16; ++k) a[k] = _mm512_set1_ps(1.0f + 0.001f * static_cast<float>(k));
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (std::uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
        for (int k = 0; k < 16; ++k) a[k] = _mm512_fmadd_ps(a[k], m, c);
    }
    __m512 s = a[0];
    for (int k = 1; k < 16; ++k) s = _mm512_add_ps(s, a[k]);
    alignas(64) float r[16];
    _mm512_store_ps(r, s); // not _mm512_reduce_add_ps: GCC 12 warns inside it (-Wuninitialized)
    float t = 0;
    for (float v : r) t += v;
    return t;
}

// 12 chains: AVX2 has 16 ymm registers (16 chains plus two constants would spill).
__attribute__((target("avx2,fma"))) inline float fma_chains_avx2(std::uint64_t iters) {
    __m256 a[12];
    for (int k = 0; k < 12; ++k) a[k] = _mm256_set1_ps(1.0f + 0.001f * static_cast<float>(k));
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (std::uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
        for (int k = 0; k < 12; ++k) a[k] = _mm256_fmadd_ps(a[k], m, c);
    }
    __m256 s = a[0];
    for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, a[k]);
    alignas(32) float r[8];
    _mm256_store_ps(r, s);
    return r[0] + r[1] + r[2] + r[3] + r[4] + r[5] + r[6] + r[7];
}
#endif

inline float fma_chains_scalar(std::uint64_t iters) {
    float a[16];
    for (int k = 0; k < 16; ++k) a[k] = 1.0f + 0.001f * static_cast<float>(k);
    for (std::uint64_t i = 0; i < iters; ++i)
        for (float& v : a) v = v * 0.999999f + 1e-6f;
    float s = 0;
    for (float v : a) s += v;
    return s;
}

} // namespace detail

/// The widest FMA kernel this CPU runs.
inline PeakKernel best_peak_kernel() {
#ifdef CTNN_BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return {"AVX-512", 16, 16, &detail::fma_chains_avx512};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {"AVX2+FMA", 8, 12, &detail::fma_chains_avx2};
#endif
    return {"scalar", 1, 16, &detail::fma_chains_scalar};
}

/// AVX2 kernel too, when available (to show whether 512-bit FMAs are really twice as wide).
inline PeakKernel avx2_peak_kernel() {
#ifdef CTNN_BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {"AVX2+FMA", 8, 12, &detail::fma_chains_avx2};
#endif
    return {"scalar", 1, 16, &detail::fma_chains_scalar};
}

/// Measured fp32 GFLOP/s of `kernel` run by `threads` threads at once (total over the threads):
/// the best of `reps` runs of about `seconds` each.
inline double measure_peak_gflops(const PeakKernel& kernel, unsigned threads, double seconds,
                                  int reps = 3) {
    using clock = std::chrono::steady_clock;
    // Calibrate the iteration count on one thread.
    std::uint64_t iters = 1 << 16;
    volatile float sink = 0;
    for (;;) {
        const auto t0 = clock::now();
        sink = sink + kernel.run(iters);
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        if (dt > seconds / 4) {
            iters = static_cast<std::uint64_t>(static_cast<double>(iters) * seconds / dt);
            break;
        }
        iters *= 4;
    }
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        std::vector<std::thread> pool;
        std::vector<float> out(threads);
        const auto t0 = clock::now();
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([&, t] { out[t] = kernel.run(iters); });
        for (auto& th : pool) th.join();
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        for (float v : out) sink = sink + v;
        const double flops =
            static_cast<double>(iters) * kernel.chains * kernel.lanes * 2.0 * threads;
        best = std::max(best, flops / dt * 1e-9);
    }
    return best;
}

} // namespace bench
