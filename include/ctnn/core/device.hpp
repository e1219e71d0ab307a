// ctnn/core/device.hpp — where a model runs.
#pragma once
#include "../config.hpp"

#include <string>

namespace ctnn {

/// A compute device: the CPU (Eigen backend) or a CUDA GPU.
struct Device {
    enum class Kind { cpu, cuda };
    Kind kind = Kind::cpu;
    int index = 0;

    [[nodiscard]] std::string str() const {
        return kind == Kind::cpu ? std::string("cpu (Eigen)")
                                 : std::string("cuda:") + std::to_string(index);
    }
    friend bool operator==(const Device&, const Device&) = default;
};

namespace device {
/// The CPU, through the Eigen backend.
inline Device cpu() { return {Device::Kind::cpu, 0}; }
/// CUDA device `index`. Using it in a build without CUDA support throws ctnn::argument_error.
inline Device cuda(int index = 0) { return {Device::Kind::cuda, index}; }
/// The best device available: a CUDA GPU when ctnn was built with CUDA and one is present,
/// otherwise the CPU.
inline Device best() { return cpu(); }
} // namespace device

} // namespace ctnn
