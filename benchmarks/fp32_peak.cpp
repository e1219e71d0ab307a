// Measures this machine's fp32 FMA peak (GFLOP/s) per core and for 1..N threads, with the widest
// vector ISA the CPU runs and with AVX2. mlp_cpu measures the same number for its "% of peak".
//
//   fp32_peak [--quick]
#include "common/peak.hpp"

#include <cstdio>
#include <cstring>
#include <thread>

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
    return 0;
}
