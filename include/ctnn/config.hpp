// ctnn/config.hpp — included first by every ctnn header.
//
// Holds the portability macros (host/device annotations, inlining, assertions) and the version.
// No other header spells __host__/__device__ directly: every header must also compile with a plain
// C++20 host compiler.
#pragma once

#define CTNN_VERSION_MAJOR 0
#define CTNN_VERSION_MINOR 1
#define CTNN_VERSION_PATCH 0

#if defined(__CUDACC__) || defined(__HIPCC__)
#define CTNN_HOST_DEVICE __host__ __device__
#define CTNN_DEVICE_COMPILE 1
#else
#define CTNN_HOST_DEVICE
#define CTNN_DEVICE_COMPILE 0
#endif

#if defined(_MSC_VER)
#define CTNN_FORCEINLINE __forceinline
#else
#define CTNN_FORCEINLINE inline __attribute__((always_inline))
#endif

#if __cplusplus < 202002L && !defined(_MSVC_LANG)
#error "ctnn requires C++20 (compile with -std=c++20)"
#endif
