// ctnn/backend/cpu/denormal.hpp — flush-to-zero for the CPU optimizer update.
//
// An optimizer's state decays geometrically where a gradient stays zero (SGD's momentum, Adam's
// moments of a ReLU unit that no longer fires): after a few hundred steps the values are
// denormal, and on x86 every vector instruction that reads or produces a denormal takes a
// microcode assist of ~100 cycles. Measured on the seed program (Adam, batch 32, Fashion-MNIST):
// the update took 4x longer with the state in PyTorch's layout and 14x with the fused executor's
// (a dead unit is a column of W^T there, so nearly every vector holds one denormal lane). Model's
// CPU update therefore runs with the calling thread's FTZ and DAZ flags set (denormal results and
// inputs taken as zero), as TensorFlow runs its CPU kernels: state values below FLT_MIN
// (1.2e-38) become 0, far below anything an update can resolve next to eps or a learning rate.
// On 64-bit ARM, FPCR.FZ does both (ARM cores handle most denormals at full speed, but the
// results must not depend on the architecture).
#pragma once
#include "../../config.hpp"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <xmmintrin.h>
#define CTNN_CPU_HAS_MXCSR 1
#else
#define CTNN_CPU_HAS_MXCSR 0
#endif
#if defined(__aarch64__) && defined(__GNUC__)
#define CTNN_CPU_HAS_FPCR 1
#else
#define CTNN_CPU_HAS_FPCR 0
#endif

namespace ctnn::cpu {

/// The calling thread's floating-point control word: x86's MXCSR, AArch64's FPCR; 0 elsewhere.
inline std::uint64_t fp_control() noexcept {
#if CTNN_CPU_HAS_MXCSR
    return _mm_getcsr();
#elif CTNN_CPU_HAS_FPCR
    std::uint64_t v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
#else
    return 0;
#endif
}
/// Sets the control word that fp_control() reads (no-op where there is none).
inline void set_fp_control([[maybe_unused]] std::uint64_t v) noexcept {
#if CTNN_CPU_HAS_MXCSR
    _mm_setcsr(static_cast<unsigned>(v));
#elif CTNN_CPU_HAS_FPCR
    __asm__ __volatile__("msr fpcr, %0" : : "r"(v));
#endif
}

/// While alive, the calling thread flushes denormal results to zero and reads denormal inputs as
/// zero (x86: MXCSR's FTZ and DAZ bits; AArch64: FPCR.FZ); the previous mode is restored on
/// destruction. A no-op on other architectures.
class FlushDenormals {
public:
    FlushDenormals() noexcept : saved_(fp_control()) { set_fp_control(saved_ | flush_bits); }
    ~FlushDenormals() { set_fp_control(saved_); }
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;
    FlushDenormals(FlushDenormals&&) = delete;
    FlushDenormals& operator=(FlushDenormals&&) = delete;

#if CTNN_CPU_HAS_FPCR
    /// FPCR's flush-to-zero bit (FZ, bit 24): denormal inputs and results of single- and
    /// double-precision operations are zero.
    static constexpr std::uint64_t flush_bits = std::uint64_t{1} << 24;
#else
    /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) bits.
    static constexpr std::uint64_t flush_bits = 0x8040u;
#endif

private:
    std::uint64_t saved_;
};

} // namespace ctnn::cpu
