// ctnn/backend/device.hpp — device::best(): the device a Model runs on by default.
//
// Here rather than in core/device.hpp because it asks the CUDA runtime (backend/cuda/memory.hpp)
// for devices when compiled by nvcc.
#pragma once
#include "../config.hpp"
#include "../core/device.hpp"

#include <cstdio>

#if CTNN_DEVICE_COMPILE
#include "cuda/memory.hpp"
#endif

namespace ctnn::device {

/// The best device available: in a translation unit compiled by nvcc, the first CUDA GPU when the
/// driver reports one; otherwise the CPU. The first time a CUDA build falls back to the CPU it
/// prints one line to stderr saying why (no device, no driver, ...). Host execution is never
/// chosen: it is a test tool.
inline Device best() {
#if CTNN_DEVICE_COMPILE
    static const Device chosen = [] {
        const cuda::DeviceProbe p = cuda::probe();
        if (p.count > 0) return cuda(0);
        std::fprintf(stderr, "ctnn: no CUDA device (%s); running on the CPU (Eigen)\n",
                     p.reason.c_str());
        return cpu();
    }();
    return chosen;
#else
    return cpu();
#endif
}
} // namespace ctnn::device
