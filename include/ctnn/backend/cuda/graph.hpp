// ctnn/backend/cuda/graph.hpp — a CUDA graph captured from a stream, replayed with one launch.
//
//   cuda::Graph g = cuda::Graph::capture(stream, [&] { /* launches and async copies */ });
//   g.launch(stream);   // the whole captured work again, one launch
//
// Under nvcc: cudaStreamBeginCapture (thread-local mode) / cudaStreamEndCapture /
// cudaGraphInstantiate, then cudaGraphLaunch. The captured work keeps its pointers and scalar
// arguments: a replay reads and writes the same memory (new values in it, same addresses). The
// legacy default stream cannot be captured (CUDA's error names the call). In host mode the capture
// is a host::Recording (capture.hpp) and a replay runs its steps in order; a wait inside the
// capture throws there as on a GPU.
#pragma once
#include "../../config.hpp"
#include "capture.hpp"
#include "error.hpp"
#include "types.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#if CTNN_DEVICE_COMPILE
#include <cuda_runtime.h>
#endif

namespace ctnn::cuda {

/// An instantiated CUDA graph (move-only; empty when default-constructed).
class Graph {
public:
    Graph() = default;

    /// Captures what f() queues on `stream` (kernels, async copies, memsets) into a graph.
    /// Throws cuda_error if the capture fails (e.g. f waits for the device), rethrows what f
    /// throws; either way the stream is left out of capture mode.
    template <class F>
    static Graph capture(stream_t stream, F&& f,
                         CallSite where = {__builtin_FILE(),
                                           static_cast<unsigned>(__builtin_LINE())}) {
        Graph g;
#if CTNN_DEVICE_COMPILE
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin", where);
        cudaGraph_t graph = nullptr;
        try {
            f();
        } catch (...) {
            if (cudaStreamEndCapture(stream, &graph) == cudaSuccess && graph != nullptr)
                (void)cudaGraphDestroy(graph);
            (void)cudaGetLastError();
            throw;
        }
        check(cudaStreamEndCapture(stream, &graph), "end", where);
        const cudaError_t code = cudaGraphInstantiate(&g.exec_, graph, 0);
        (void)cudaGraphDestroy(graph);
        check(code, "instantiate", where);
#else
        (void)stream;
        (void)where;
        auto recording = std::make_shared<host::Recording>();
        host::Recording*& active = host::active_recording();
        if (active != nullptr)
            throw cuda_error("cudaErrorStreamCaptureUnsupported",
                             "Graph::capture: a capture is already in progress on this thread",
                             where.file, where.line);
        active = recording.get();
        try {
            f();
        } catch (...) {
            active = nullptr;
            throw;
        }
        active = nullptr;
        g.recording_ = std::move(recording);
#endif
        return g;
    }

    Graph(Graph&& o) noexcept : exec_(std::exchange(o.exec_, nullptr)) {
#if !CTNN_DEVICE_COMPILE
        recording_ = std::move(o.recording_);
#endif
    }
    Graph& operator=(Graph&& o) noexcept {
        if (this != &o) {
            destroy();
            exec_ = std::exchange(o.exec_, nullptr);
#if !CTNN_DEVICE_COMPILE
            recording_ = std::move(o.recording_);
#endif
        }
        return *this;
    }
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;
    ~Graph() { destroy(); }

    /// Whether it holds a captured graph.
    [[nodiscard]] bool empty() const noexcept {
#if CTNN_DEVICE_COMPILE
        return exec_ == nullptr;
#else
        return recording_ == nullptr;
#endif
    }

    /// Queues the captured work on `stream` (asynchronous, as its parts were).
    void launch(stream_t stream, CallSite where = {__builtin_FILE(),
                                                   static_cast<unsigned>(__builtin_LINE())}) const {
        if (empty())
            throw cuda_error("cudaErrorInvalidValue", "Graph::launch: no graph was captured",
                             where.file, where.line);
#if CTNN_DEVICE_COMPILE
        check(cudaGraphLaunch(exec_, stream), "launch", where);
#else
        (void)stream;
        for (const auto& step : recording_->steps) step();
#endif
    }

    /// Steps recorded by a host-mode capture (kernels, copies, memsets); 0 under nvcc.
    [[nodiscard]] std::size_t host_steps() const noexcept {
#if CTNN_DEVICE_COMPILE
        return 0;
#else
        return recording_ ? recording_->steps.size() : 0;
#endif
    }

private:
#if CTNN_DEVICE_COMPILE
    using exec_t = cudaGraphExec_t;
    static void check(cudaError_t code, const char* what, CallSite where) {
        if (code == cudaSuccess) return;
        (void)cudaGetLastError();
        throw cuda_error(cudaGetErrorName(code),
                         std::string(cudaGetErrorString(code)) + " (CUDA graph " + what + ")",
                         where.file, where.line);
    }
#else
    using exec_t = void*;
    std::shared_ptr<host::Recording> recording_;
#endif
    void destroy() noexcept {
#if CTNN_DEVICE_COMPILE
        if (exec_ != nullptr) (void)cudaGraphExecDestroy(exec_);
#else
        recording_.reset();
#endif
        exec_ = nullptr;
    }
    exec_t exec_ = nullptr;
};

} // namespace ctnn::cuda
