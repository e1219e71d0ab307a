// ctnn/core/device.hpp — where a model runs.
#pragma once
#include "../config.hpp"

#include <cstdio>
#include <string>

#if CTNN_DEVICE_COMPILE
#include "../backend/cuda/memory.hpp"
#endif

namespace ctnn {

/// A compute device: the CPU (Eigen backend) or a CUDA GPU.
struct Device {
    enum class Kind { cpu, cuda };
    Kind kind = Kind::cpu;
    int index = 0;

    [[nodiscard]] std::string str() const {
        if (kind == Kind::cpu) return std::string("cpu (Eigen)");
        std::string s = std::string("cuda:") + std::to_string(index);
#if !CTNN_DEVICE_COMPILE && CTNN_CUDA_BACKEND
        s += " (host execution)";
#endif
        return s;
    }
    friend bool operator==(const Device&, const Device&) = default;
};

namespace device {
/// The CPU, through the Eigen backend.
inline Device cpu() { return {Device::Kind::cpu, 0}; }
/// CUDA device `index`. A Model on it needs a CUDA build (or CTNN_HOST_EXECUTION=1, which runs
/// the kernels on the CPU for tests); otherwise the Model constructor throws ctnn::argument_error.
inline Device cuda(int index = 0) { return {Device::Kind::cuda, index}; }

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
} // namespace device

} // namespace ctnn
