// ctnn/backend/cuda/memory.hpp — device memory, copies, streams and device discovery.
//
//   cuda::DeviceBuffer<float> p(n);               // cudaMalloc; freed by the destructor
//   cuda::copy_to_device(p.data(), host, n, s);   // one cudaMemcpyAsync
//   cuda::copy_to_host(host, p.data(), n, s);     // waits for the stream, then copies
//   cuda::Stream s;                                // a non-blocking stream, destroyed with s
//   cuda::HostBuffer<float> x(n, cuda::HostMemory::mapped); // page-locked, device-visible
//   cuda::probe();                                 // how many devices, or why there are none
//
// Under nvcc these are the CUDA runtime's calls; every failure throws ctnn::cuda_error with the
// CUDA error name, its description and the caller's file and line. Out of memory throws
// cudaErrorMemoryAllocation from the constructor of the buffer that did not fit, so nothing
// allocated before it leaks (every owner is RAII).
//
// In host mode (host execution, no nvcc) "device memory" is aligned host memory, copies are
// memcpy, streams are null and synchronization is a no-op (launches complete before they return);
// during a host-mode capture (capture.hpp) copies and zero() are recorded, and a wait throws.
// host::set_memory_limit(bytes) caps the bytes DeviceBuffers may hold at once, so tests can
// provoke and check out-of-memory; an allocation over the cap throws the same cuda_error as the
// GPU would.
#pragma once
#include "../../config.hpp"
#include "capture.hpp"
#include "error.hpp"
#include "types.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#if CTNN_DEVICE_COMPILE
#include <cuda_runtime.h>
#endif

namespace ctnn::cuda {

// --- Device discovery -------------------------------------------------------------------------

/// The result of looking for CUDA devices at run time.
struct DeviceProbe {
    int count = 0;      ///< usable devices (0: none)
    std::string reason; ///< why there are none (CUDA error name and description), else empty
};

/// Looks for CUDA devices. Never throws and never crashes: no driver, no device, or a driver
/// older than the runtime all give count == 0 with the reason. In host mode there is no GPU:
/// count == 0, reason "built without nvcc".
inline DeviceProbe probe() {
    DeviceProbe p;
#if CTNN_DEVICE_COMPILE
    int count = 0;
    const cudaError_t code = cudaGetDeviceCount(&count);
    if (code != cudaSuccess) {
        p.reason = std::string(cudaGetErrorName(code)) + ": " + cudaGetErrorString(code);
        (void)cudaGetLastError(); // not sticky: clear it so later calls start clean
        return p;
    }
    p.count = count;
    if (count == 0) p.reason = "the CUDA runtime reports 0 devices";
#else
    p.reason = "ctnn was compiled without nvcc";
#endif
    return p;
}

#if CTNN_DEVICE_COMPILE
namespace detail {
/// Makes `device` current for the calling thread (a no-op if it already is).
inline void set_device(int device, CallSite where) {
    int current = -1;
    if (cudaGetDevice(&current) == cudaSuccess && current == device) return;
    const cudaError_t code = cudaSetDevice(device);
    if (code != cudaSuccess)
        throw cuda_error(cudaGetErrorName(code),
                         std::string(cudaGetErrorString(code)) + " (cudaSetDevice(" +
                             std::to_string(device) + "))",
                         where.file, where.line);
}
} // namespace detail
#endif

// --- Host-mode memory accounting ----------------------------------------------------------------

namespace host {
namespace detail {
struct MemoryAccount {
    std::size_t limit = std::numeric_limits<std::size_t>::max();
    std::size_t in_use = 0;
    std::size_t to_device = 0; ///< bytes copied host -> device so far
    std::size_t to_host = 0;   ///< bytes copied device -> host so far
};
inline MemoryAccount& memory_account() {
    static MemoryAccount account;
    return account;
}
} // namespace detail

/// Caps the bytes that DeviceBuffers may hold at once in host mode (tests of out-of-memory);
/// no argument removes the cap. Not thread-safe: set it before launching work.
inline void set_memory_limit(std::size_t bytes = std::numeric_limits<std::size_t>::max()) {
    detail::memory_account().limit = bytes;
}
/// Bytes held by DeviceBuffers in host mode.
inline std::size_t memory_in_use() { return detail::memory_account().in_use; }
/// Bytes copied from host to device memory (copy_to_device) and back (copy_to_host) in host mode
/// since the program started: tests check which copies a pass makes (a mapped buffer's none).
inline std::size_t bytes_copied_to_device() { return detail::memory_account().to_device; }
inline std::size_t bytes_copied_to_host() { return detail::memory_account().to_host; }
} // namespace host

namespace detail {

/// Allocates `bytes` of device memory (nullptr for 0 bytes).
inline void* device_alloc(std::size_t bytes, CallSite where) {
    if (bytes == 0) return nullptr;
#if CTNN_DEVICE_COMPILE
    void* p = nullptr;
    const cudaError_t code = cudaMalloc(&p, bytes);
    if (code != cudaSuccess) {
        (void)cudaGetLastError();
        throw cuda_error(cudaGetErrorName(code),
                         std::string(cudaGetErrorString(code)) + " (cudaMalloc of " +
                             std::to_string(bytes) + " bytes)",
                         where.file, where.line);
    }
    return p;
#else
    auto& account = host::detail::memory_account();
    if (bytes > account.limit - account.in_use)
        throw cuda_error("cudaErrorMemoryAllocation",
                         std::string("out of memory (cudaMalloc of ") + std::to_string(bytes) +
                             " bytes; " + std::to_string(account.in_use) + " of " +
                             std::to_string(account.limit) + " bytes in use)",
                         where.file, where.line);
    constexpr std::size_t alignment = 256; // cudaMalloc's guarantee
    void* p = std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment);
    if (p == nullptr)
        throw cuda_error("cudaErrorMemoryAllocation",
                         std::string("out of host memory (") + std::to_string(bytes) + " bytes)",
                         where.file, where.line);
    account.in_use += bytes;
    return p;
#endif
}

/// Frees memory from device_alloc (never throws: called from destructors).
inline void device_free(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
#if CTNN_DEVICE_COMPILE
    (void)bytes;
    (void)cudaFree(p);
#else
    host::detail::memory_account().in_use -= bytes;
    std::free(p);
#endif
}

enum class CopyKind { to_device, to_host, device_to_device };

/// A copy of `bytes` on `stream`; with `wait`, returns when it is complete (a copy to host memory
/// the caller reads next).
inline void copy_bytes(void* dst, const void* src, std::size_t bytes, CopyKind kind,
                       stream_t stream, CallSite where, bool wait = false) {
    if (bytes == 0) return;
#if CTNN_DEVICE_COMPILE
    const cudaMemcpyKind k = kind == CopyKind::to_device ? cudaMemcpyHostToDevice
                             : kind == CopyKind::to_host ? cudaMemcpyDeviceToHost
                                                         : cudaMemcpyDeviceToDevice;
    cudaError_t code = cudaMemcpyAsync(dst, src, bytes, k, stream);
    if (code == cudaSuccess && wait) code = cudaStreamSynchronize(stream);
    if (code != cudaSuccess)
        throw cuda_error(cudaGetErrorName(code),
                         std::string(cudaGetErrorString(code)) + " (cudaMemcpyAsync of " +
                             std::to_string(bytes) + " bytes)",
                         where.file, where.line);
#else
    (void)stream;
    if (host::Recording* r = host::active_recording()) {
        if (wait) host::detail::no_wait_in_capture("copy_to_host", where);
        r->steps.push_back([=] { copy_bytes(dst, src, bytes, kind, nullptr, where); });
        return;
    }
    auto& account = host::detail::memory_account();
    if (kind == CopyKind::to_device) account.to_device += bytes;
    if (kind == CopyKind::to_host) account.to_host += bytes;
    std::memmove(dst, src, bytes);
#endif
}

} // namespace detail

// --- Buffers -------------------------------------------------------------------------------------

namespace detail {
/// The bytes of n Ts; throws cuda_error (cudaErrorMemoryAllocation) when they overflow size_t.
template <class T>
std::size_t bytes_of(std::size_t n, CallSite where) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
        throw cuda_error("cudaErrorMemoryAllocation",
                         std::to_string(n) + " values do not fit in size_t bytes", where.file,
                         where.line);
    return n * sizeof(T);
}
} // namespace detail

/// An owning array of n Ts in device memory (move-only). Contents are uninitialized.
template <class T>
class DeviceBuffer {
    static_assert(std::is_trivially_copyable_v<T>, "device buffers hold trivially copyable values");

public:
    DeviceBuffer() = default;
    /// Allocates n values; throws cuda_error (cudaErrorMemoryAllocation) if they do not fit.
    explicit DeviceBuffer(std::size_t n, CallSite where = {__builtin_FILE(),
                                                           static_cast<unsigned>(__builtin_LINE())})
        : p_(static_cast<T*>(detail::device_alloc(detail::bytes_of<T>(n, where), where))), n_(n) {}
    DeviceBuffer(DeviceBuffer&& o) noexcept
        : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            release();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { release(); }

    [[nodiscard]] T* data() noexcept { return p_; }
    [[nodiscard]] const T* data() const noexcept { return p_; }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }
    [[nodiscard]] bool empty() const noexcept { return n_ == 0; }

    /// Frees the memory (size() becomes 0).
    void release() noexcept {
        detail::device_free(p_, n_ * sizeof(T));
        p_ = nullptr;
        n_ = 0;
    }

private:
    T* p_ = nullptr;
    std::size_t n_ = 0;
};

/// How a HostBuffer's memory is allocated.
enum class HostMemory {
    /// Page-locked (cudaHostAlloc): copies to and from the device run by DMA and asynchronously,
    /// without the runtime's staging through a pinned bounce buffer.
    pinned,
    /// Page-locked and mapped into the device's address space (cudaHostAllocMapped): kernels read
    /// and write it in place. On an integrated GPU (Jetson), whose CPU and GPU share one DRAM,
    /// that is no copy at all; on a discrete GPU every access crosses PCIe.
    mapped,
};

/// An owning array of n Ts of page-locked host memory (move-only; contents uninitialized), for
/// inputs and outputs that the device reads or writes: Model::predict(const HostBuffer&,
/// HostBuffer&) binds a mapped input in place. In host mode it is aligned host memory, and a
/// mapped buffer's device address is its host address.
template <class T>
class HostBuffer {
    static_assert(std::is_trivially_copyable_v<T>, "host buffers hold trivially copyable values");

public:
    HostBuffer() = default;
    /// Allocates n values; throws cuda_error if the runtime cannot.
    explicit HostBuffer(std::size_t n, HostMemory kind = HostMemory::pinned,
                        CallSite where = {__builtin_FILE(),
                                          static_cast<unsigned>(__builtin_LINE())})
        : n_(n), kind_(kind) {
        if (n == 0) return;
        const std::size_t bytes = detail::bytes_of<T>(n, where);
#if CTNN_DEVICE_COMPILE
        void* p = nullptr;
        cudaError_t code = cudaHostAlloc(
            &p, bytes, kind == HostMemory::mapped ? cudaHostAllocMapped : cudaHostAllocDefault);
        void* d = nullptr;
        if (code == cudaSuccess && kind == HostMemory::mapped) {
            code = cudaHostGetDevicePointer(&d, p, 0);
            if (code != cudaSuccess) (void)cudaFreeHost(p);
        }
        if (code != cudaSuccess) {
            (void)cudaGetLastError();
            throw cuda_error(cudaGetErrorName(code),
                             std::string(cudaGetErrorString(code)) + " (cudaHostAlloc of " +
                                 std::to_string(bytes) + " bytes)",
                             where.file, where.line);
        }
        p_ = static_cast<T*>(p);
        d_ = static_cast<T*>(d);
#else
        constexpr std::size_t alignment = 64;
        p_ = static_cast<T*>(
            std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment));
        if (p_ == nullptr)
            throw cuda_error("cudaErrorMemoryAllocation",
                             std::string("out of host memory (") + std::to_string(bytes) +
                                 " bytes)",
                             where.file, where.line);
        d_ = kind == HostMemory::mapped ? p_ : nullptr;
#endif
    }
    HostBuffer(HostBuffer&& o) noexcept
        : p_(std::exchange(o.p_, nullptr)), d_(std::exchange(o.d_, nullptr)),
          n_(std::exchange(o.n_, 0)), kind_(o.kind_) {}
    HostBuffer& operator=(HostBuffer&& o) noexcept {
        if (this != &o) {
            release();
            p_ = std::exchange(o.p_, nullptr);
            d_ = std::exchange(o.d_, nullptr);
            n_ = std::exchange(o.n_, 0);
            kind_ = o.kind_;
        }
        return *this;
    }
    HostBuffer(const HostBuffer&) = delete;
    HostBuffer& operator=(const HostBuffer&) = delete;
    ~HostBuffer() { release(); }

    [[nodiscard]] T* data() noexcept { return p_; }
    [[nodiscard]] const T* data() const noexcept { return p_; }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }
    [[nodiscard]] HostMemory kind() const noexcept { return kind_; }
    /// The device's address of the same memory (mapped buffers; null for pinned ones).
    [[nodiscard]] T* device_data() const noexcept { return d_; }
    [[nodiscard]] T* begin() noexcept { return p_; }
    [[nodiscard]] T* end() noexcept { return p_ + n_; }
    [[nodiscard]] const T* begin() const noexcept { return p_; }
    [[nodiscard]] const T* end() const noexcept { return p_ + n_; }

    /// Frees the memory (size() becomes 0).
    void release() noexcept {
#if CTNN_DEVICE_COMPILE
        if (p_ != nullptr) (void)cudaFreeHost(p_);
#else
        std::free(p_);
#endif
        p_ = d_ = nullptr;
        n_ = 0;
    }

private:
    T* p_ = nullptr;
    T* d_ = nullptr;
    std::size_t n_ = 0;
    HostMemory kind_ = HostMemory::pinned;
};

/// Copies n values from host memory to device memory (asynchronous on `stream`; the host source
/// must stay valid until the stream reaches the copy).
template <class T>
void copy_to_device(T* dst, const T* src, std::size_t n, stream_t stream = nullptr,
                    CallSite where = {__builtin_FILE(), static_cast<unsigned>(__builtin_LINE())}) {
    detail::copy_bytes(dst, src, n * sizeof(T), detail::CopyKind::to_device, stream, where);
}
/// Copies n values from device memory to host memory; returns when they have arrived.
template <class T>
void copy_to_host(T* dst, const T* src, std::size_t n, stream_t stream = nullptr,
                  CallSite where = {__builtin_FILE(), static_cast<unsigned>(__builtin_LINE())}) {
    detail::copy_bytes(dst, src, n * sizeof(T), detail::CopyKind::to_host, stream, where, true);
}
/// Copies n values from device memory to host memory asynchronously on `stream` (into pinned
/// memory: DMA; what a CUDA graph may hold): read them after synchronize(stream).
template <class T>
void copy_to_host_async(T* dst, const T* src, std::size_t n, stream_t stream = nullptr,
                        CallSite where = {__builtin_FILE(),
                                          static_cast<unsigned>(__builtin_LINE())}) {
    detail::copy_bytes(dst, src, n * sizeof(T), detail::CopyKind::to_host, stream, where);
}
/// Copies n values between device buffers (asynchronous on `stream`).
template <class T>
void copy_on_device(T* dst, const T* src, std::size_t n, stream_t stream = nullptr,
                    CallSite where = {__builtin_FILE(), static_cast<unsigned>(__builtin_LINE())}) {
    detail::copy_bytes(dst, src, n * sizeof(T), detail::CopyKind::device_to_device, stream, where);
}

/// Sets n values of device memory to all-zero bytes (asynchronous on `stream`).
template <class T>
void zero(T* dst, std::size_t n, stream_t stream = nullptr,
          CallSite where = {__builtin_FILE(), static_cast<unsigned>(__builtin_LINE())}) {
    if (n == 0) return;
#if CTNN_DEVICE_COMPILE
    const cudaError_t code = cudaMemsetAsync(dst, 0, n * sizeof(T), stream);
    if (code != cudaSuccess)
        throw cuda_error(cudaGetErrorName(code), cudaGetErrorString(code), where.file, where.line);
#else
    (void)stream;
    (void)where;
    if (host::Recording* r = host::active_recording()) {
        r->steps.push_back([=] { std::memset(static_cast<void*>(dst), 0, n * sizeof(T)); });
        return;
    }
    std::memset(static_cast<void*>(dst), 0, n * sizeof(T));
#endif
}

/// Waits until every operation queued on `stream` has completed; throws the first error of an
/// asynchronous kernel or copy.
inline void synchronize(stream_t stream = nullptr,
                        CallSite where = {__builtin_FILE(),
                                          static_cast<unsigned>(__builtin_LINE())}) {
#if CTNN_DEVICE_COMPILE
    const cudaError_t code = cudaStreamSynchronize(stream);
    if (code != cudaSuccess)
        throw cuda_error(cudaGetErrorName(code), cudaGetErrorString(code), where.file, where.line);
#else
    (void)stream;
    host::detail::no_wait_in_capture("synchronize", where);
#endif
}

/// An owned CUDA stream (non-blocking with respect to the legacy default stream), destroyed with
/// the object. In host mode it is the null stream.
class Stream {
public:
    explicit Stream(CallSite where = {__builtin_FILE(), static_cast<unsigned>(__builtin_LINE())}) {
#if CTNN_DEVICE_COMPILE
        const cudaError_t code = cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking);
        if (code != cudaSuccess)
            throw cuda_error(cudaGetErrorName(code), cudaGetErrorString(code), where.file,
                             where.line);
#else
        (void)where;
#endif
    }
    Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Stream& operator=(Stream&& o) noexcept {
        if (this != &o) {
            destroy();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream() { destroy(); }

    [[nodiscard]] stream_t get() const noexcept { return s_; }

private:
    void destroy() noexcept {
#if CTNN_DEVICE_COMPILE
        if (s_ != nullptr) (void)cudaStreamDestroy(s_);
#endif
        s_ = nullptr;
    }
    stream_t s_ = nullptr;
};

} // namespace ctnn::cuda
