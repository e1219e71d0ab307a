// ctnn/backend/cuda/error.hpp — ctnn::cuda_error and the CUDA runtime error check.
//
// cuda_error is thrown for a failed CUDA runtime call or kernel launch under nvcc, and by the host
// execution (backend/cuda/host) when a kernel breaks the CUDA execution model (a divergent
// __syncthreads, a block of more than 1024 threads, ...). Its message is one line:
//   <file>:<line>: <error name>: <details>
// where <file>:<line> is the call site of the failed call or launch.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"

#include <string>
#include <utility>

#if CTNN_DEVICE_COMPILE
#include <cuda_runtime.h>
#endif

namespace ctnn {

/// A CUDA call or kernel launch failed. Carries the CUDA error name (e.g.
/// "cudaErrorInvalidConfiguration"), its description, and the file and line of the call site.
class cuda_error : public error {
public:
    cuda_error(std::string error_name, const std::string& detail, std::string file, unsigned line)
        : error(format(error_name, detail, file, line)), name_(std::move(error_name)),
          file_(std::move(file)), line_(line) {}

    /// The CUDA error name, e.g. "cudaErrorMemoryAllocation".
    [[nodiscard]] const std::string& error_name() const noexcept { return name_; }
    /// The source file of the failed call or launch.
    [[nodiscard]] const std::string& file() const noexcept { return file_; }
    /// The line of the failed call or launch.
    [[nodiscard]] unsigned line() const noexcept { return line_; }

private:
    static std::string format(const std::string& name, const std::string& detail,
                              const std::string& file, unsigned line) {
        std::string m = file;
        m += ':';
        m += std::to_string(line);
        m += ": ";
        m += name;
        if (!detail.empty()) {
            m += ": ";
            m += detail;
        }
        return m;
    }

    std::string name_, file_;
    unsigned line_;
};

#if CTNN_DEVICE_COMPILE
namespace cuda::detail {
/// Throws cuda_error if `code` is not cudaSuccess; `what` is the failed expression.
inline void check(cudaError_t code, const char* what, const char* file, unsigned line) {
    if (code == cudaSuccess) return;
    std::string detail = cudaGetErrorString(code);
    detail += " (in ";
    detail += what;
    detail += ')';
    throw cuda_error(cudaGetErrorName(code), detail, file, line);
}
} // namespace cuda::detail

/// Evaluates a CUDA runtime call and throws ctnn::cuda_error naming this file and line if it fails.
#define CTNN_CUDA_CHECK(call) ::ctnn::cuda::detail::check((call), #call, __FILE__, __LINE__)
#endif

} // namespace ctnn
