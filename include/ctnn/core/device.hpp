// ctnn/core/device.hpp — where a model runs: the Device value type.
//
// Choosing the best device probes the CUDA driver, a backend matter: device::best() lives in
// backend/device.hpp (included by ctnn.hpp and model.hpp).
#pragma once
#include "../config.hpp"

#include <cstdio>
#include <string>

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

} // namespace device

} // namespace ctnn
