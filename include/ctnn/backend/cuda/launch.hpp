// ctnn/backend/cuda/launch.hpp — launch(): the only way ctnn starts a kernel.
//
//   ctnn::cuda::launch(kernel, grid, block, shared_bytes, stream, args...);
//
// Under nvcc: kernel<<<grid, block, shared_bytes, stream>>>(args...), then cudaGetLastError();
// a failed launch throws ctnn::cuda_error naming the CUDA error and the call site of launch().
// The launch is asynchronous, as in CUDA. In host mode (plain C++ compiler): the kernel runs to
// completion on the calling thread through the host execution (host/runtime.hpp); the stream is
// ignored; while a host-mode capture is recording (capture.hpp), the launch is recorded instead.
//
// Every launch increments a per-OS-thread counter, so tests can assert how many kernels a forward
// pass or a training step launches (launch_count(), reset_launch_count()).
#pragma once
#include "../../config.hpp"
#include "error.hpp"
#include "types.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#if !CTNN_DEVICE_COMPILE
#include "capture.hpp"
#include "host/runtime.hpp"

#include <tuple>
#endif

namespace ctnn::cuda {

namespace detail {
inline std::uint64_t& launch_counter() {
    thread_local std::uint64_t count = 0;
    return count;
}
} // namespace detail

/// Kernels launched by this OS thread since the last reset_launch_count().
inline std::uint64_t launch_count() { return detail::launch_counter(); }
/// Restarts this OS thread's launch count at 0.
inline void reset_launch_count() { detail::launch_counter() = 0; }

/// The grid of a launch, with the call site of launch() (captured by the implicit conversion from
/// a dim3 or an extent, so error messages name the caller's file and line).
struct Grid {
    dim3 dims;
    CallSite where;
    Grid(dim3 d, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE())
        : dims(d), where{file, line} {}
    Grid(unsigned x, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE())
        : dims(x), where{file, line} {}
};

/// Launches kernel(args...) over `grid` blocks of `block` threads with `shared_bytes` of dynamic
/// shared memory on `stream` (see the file comment). Arguments convert to the kernel's parameter
/// types as in a CUDA launch.
template <class... P, class... A>
void launch(void (*kernel)(P...), Grid grid, dim3 block, std::size_t shared_bytes, stream_t stream,
            A&&... args) {
    static_assert(sizeof...(P) == sizeof...(A), "launch: wrong number of kernel arguments");
    ++detail::launch_counter();
#if CTNN_DEVICE_COMPILE
    kernel<<<grid.dims, block, shared_bytes, stream>>>(std::forward<A>(args)...);
    const cudaError_t code = cudaGetLastError();
    if (code != cudaSuccess)
        throw cuda_error(cudaGetErrorName(code), cudaGetErrorString(code), grid.where.file,
                         grid.where.line);
#else
    (void)stream;
    if (host::Recording* r = host::active_recording()) {
        // Capturing (capture.hpp): the launch becomes a step, its arguments converted to the
        // kernel's parameter types now, as a CUDA launch copies them.
        r->steps.push_back([kernel, dims = grid.dims, block, shared_bytes, where = grid.where,
                            a = std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)] {
            std::apply(
                [&](const auto&... v) {
                    host::run_kernel(kernel, dims, block, shared_bytes, where, v...);
                },
                a);
        });
        return;
    }
    host::run_kernel(kernel, grid.dims, block, shared_bytes, grid.where, std::forward<A>(args)...);
#endif
}

} // namespace ctnn::cuda
