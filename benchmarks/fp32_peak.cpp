// Measures this machine's fp32 FMA peak (GFLOP/s) per core and for 1..N threads, with the widest
// vector ISA the CPU runs and with AVX2. mlp_cpu measures the same number for its "% of peak".
// Then the ceiling of ctnn's own micro-kernel (backend/cpu/kernels.hpp, the instruction set this
// program is compiled for) on one core with every operand in L1: what the fused CPU path's
// products could reach if nothing else cost anything (docs/benchmarks.md, "What bounds").
//
//   fp32_peak [--quick]
#include "common/peak.hpp"

#include <ctnn/backend/cpu/kernels.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#if CTNN_CPU_FUSED
namespace {

using Isa = ctnn::cpu::simd::Native;
using reg = Isa::reg;

/// C += A B with C read at the start of each block and written at its end (the weight-gradient
/// tile of the fused executor).
struct InPlace {
    float* c;
    static constexpr std::size_t ld = Isa::max_vecs * Isa::width;
    template <std::size_t R, std::size_t V>
    CTNN_FORCEINLINE void init(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < V; ++v)
            acc[r][v] = Isa::load(c + (r0 + r) * ld + (v0 + v) * Isa::width);
    }
    template <std::size_t R, std::size_t V>
    CTNN_FORCEINLINE void finish(reg (&acc)[R][V], std::size_t r0, std::size_t v0) {
        CTNN_CPU_UNROLL
        for (std::size_t r = 0; r < R; ++r) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < V; ++v)
            Isa::store(c + (r0 + r) * ld + (v0 + v) * Isa::width, acc[r][v]);
    }
};

/// GFLOP/s of detail::gemm with its widest register block (Isa::rows(max_vecs) x max_vecs
/// registers) on 4 row blocks x 64-deep reductions: A, B and C take 28 KiB with AVX-512, so they
/// stay in L1. Best of 3 runs of `seconds`.
double kernel_ceiling(double seconds) {
    constexpr std::size_t nv = Isa::max_vecs, m = 4 * Isa::rows(nv), k = 64, n = nv * Isa::width;
    struct Free {
        void operator()(float* p) const { ::operator delete[](p, std::align_val_t{64}); }
    };
    const auto buffer = [](std::size_t size, float v) {
        auto* p = static_cast<float*>(::operator new[](size * sizeof(float), std::align_val_t{64}));
        std::fill(p, p + size, v);
        return std::unique_ptr<float[], Free>(p);
    };
    const auto a = buffer(m * k, 1e-3f), b = buffer(k * n, 1e-3f), c = buffer(m * n, 0.0f);
    InPlace tile{c.get()};
    double best = 0;
    for (int round = 0; round < 3; ++round) {
        std::size_t calls = 0;
        const auto t0 = std::chrono::steady_clock::now();
        double elapsed = 0;
        while (elapsed < seconds) {
            for (int i = 0; i < 1000; ++i)
                ctnn::cpu::detail::gemm<Isa, nv, 1, m, n>(m, k, a.get(), b.get(), tile);
            calls += 1000;
            elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        best = std::max(best, 2.0 * m * n * k * static_cast<double>(calls) / elapsed / 1e9);
    }
    volatile float sink = c[0]; // keep the result alive
    (void)sink;
    return best;
}

} // namespace
#endif

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const double seconds = quick ? 0.05 : 0.5;
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const bench::PeakKernel kernels[] = {bench::best_peak_kernel(), bench::avx2_peak_kernel()};
    std::printf("fp32 FMA peak (independent FMA chains, best of 3 runs of %.2f s)\n", seconds);
    std::printf("%-10s %8s %14s %18s\n", "ISA", "threads", "GFLOP/s", "GFLOP/s per core");
    for (const auto& k : kernels) {
        for (unsigned t = 1; t <= hw; ++t) {
            const double g = bench::measure_peak_gflops(k, t, seconds);
            std::printf("%-10s %8u %14.1f %18.1f\n", k.isa, t, g, g / t);
        }
        if (std::strcmp(kernels[0].isa, kernels[1].isa) == 0) break;
    }
#if CTNN_CPU_FUSED
    const double peak = bench::measure_peak_gflops(kernels[0], 1, seconds);
    const double ceiling = kernel_ceiling(seconds);
    std::printf("\nctnn's micro-kernel (%s, %zu x %zu registers, operands in L1), 1 thread: %.1f "
                "GFLOP/s = %.0f%% of the %s peak (%.1f)\n",
                Isa::name, Isa::rows(Isa::max_vecs), Isa::max_vecs, ceiling, 100.0 * ceiling / peak,
                kernels[0].isa, peak);
#endif
    return 0;
}
