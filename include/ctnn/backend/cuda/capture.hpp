// ctnn/backend/cuda/capture.hpp — host execution's stand-in for CUDA stream capture.
//
// Under nvcc a CUDA graph is captured from a stream (cuda::Graph, graph.hpp). In host mode,
// where every launch runs at once, a Recording plays that part: while one is active on the
// calling thread, launch(), the copies and zero() append their work to it instead of running it
// (a replay runs the steps in order, reading memory as it is then, as a graph's nodes do), and
// whatever waits for the device (synchronize(), copy_to_host()) throws
// cudaErrorStreamCaptureUnsupported, as CUDA does during a capture. So the tests see what a capture
// on a GPU would: every step of a pass recorded, none run twice, no wait inside.
#pragma once
#include "../../config.hpp"
#include "error.hpp"
#include "types.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ctnn::cuda::host {

/// The recorded steps of a host-mode capture.
struct Recording {
    std::vector<std::function<void()>> steps;
};

/// The Recording active on this thread, or null (not capturing).
inline Recording*& active_recording() noexcept {
    static thread_local Recording* r = nullptr;
    return r;
}

namespace detail {
/// Throws as a wait on a capturing stream does in CUDA; `what` names the waiting call.
inline void no_wait_in_capture(const char* what, CallSite where) {
    if (active_recording() != nullptr)
        throw cuda_error("cudaErrorStreamCaptureUnsupported",
                         std::string(what) +
                             " waits for the device while a CUDA graph is being captured",
                         where.file, where.line);
}
} // namespace detail

} // namespace ctnn::cuda::host
