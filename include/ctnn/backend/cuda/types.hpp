// ctnn/backend/cuda/types.hpp — launch geometry and stream types shared by nvcc and host mode.
//
// Under nvcc these are CUDA's own dim3 and cudaStream_t. In host mode (plain g++/clang) dim3 is a
// structurally identical struct and a stream is an opaque pointer (host execution is synchronous,
// so every stream behaves as the default stream).
#pragma once
#include "../../config.hpp"

#if CTNN_DEVICE_COMPILE
#include <cuda_runtime.h>
#endif

namespace ctnn::cuda {

/// A source position (file and line), captured at a call site by default arguments
/// `__builtin_FILE()` / `__builtin_LINE()` (std::source_location needs clang >= 15).
struct CallSite {
    const char* file = "";
    unsigned line = 0;
};

#if CTNN_DEVICE_COMPILE
/// Grid or block extents (CUDA's dim3).
using dim3 = ::dim3;
/// A CUDA stream (nullptr: the default stream).
using stream_t = cudaStream_t;
#else
/// Grid or block extents, as CUDA's dim3: unspecified extents are 1.
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned dx = 1, unsigned dy = 1, unsigned dz = 1) noexcept
        : x(dx), y(dy), z(dz) {}
};
/// An opaque stream handle; host execution runs every launch synchronously.
struct host_stream;
/// A stream (nullptr: the default stream).
using stream_t = host_stream*;
#endif

} // namespace ctnn::cuda
