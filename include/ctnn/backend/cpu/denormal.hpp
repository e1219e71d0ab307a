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
#pragma once
#include "../../config.hpp"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <xmmintrin.h>
#define CTNN_CPU_HAS_MXCSR 1
#else
#define CTNN_CPU_HAS_MXCSR 0
#endif

namespace ctnn::cpu {

/// While alive, the calling thread flushes denormal results to zero and reads denormal inputs as
/// zero (x86: MXCSR's FTZ and DAZ bits); the previous mode is restored on destruction. A no-op on
/// other architectures.
class FlushDenormals {
public:
    FlushDenormals() noexcept {
#if CTNN_CPU_HAS_MXCSR
        saved_ = _mm_getcsr();
        _mm_setcsr(saved_ | ftz_daz);
#endif
    }
    ~FlushDenormals() {
#if CTNN_CPU_HAS_MXCSR
        _mm_setcsr(saved_);
#endif
    }
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;
    FlushDenormals(FlushDenormals&&) = delete;
    FlushDenormals& operator=(FlushDenormals&&) = delete;

    /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) bits.
    static constexpr unsigned ftz_daz = 0x8040u;

private:
    unsigned saved_ = 0;
};

} // namespace ctnn::cpu
