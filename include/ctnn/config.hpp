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

/// CTNN_CUDA_BACKEND is 1 when Model can run on device::cuda(): in translation units compiled by
/// nvcc, and in host-mode builds that define CTNN_HOST_EXECUTION=1 (the CUDA kernels then run on
/// the CPU through ctnn's host execution: a test and debugging tool, slow by design). Every
/// translation unit of a program that uses a Model must see the same value.
#if CTNN_DEVICE_COMPILE || (defined(CTNN_HOST_EXECUTION) && CTNN_HOST_EXECUTION)
#define CTNN_CUDA_BACKEND 1
#else
#define CTNN_CUDA_BACKEND 0
#endif

/// 1 when ctnn's own CPU kernels (backend/cpu: the fused MLP executor, the direct convolution)
/// are compiled in: GCC or Clang, not a CUDA-backend translation unit (whose Model must match
/// nvcc's: it keeps the Eigen executor), and not disabled by defining CTNN_NO_FUSED_CPU (every
/// Model then runs on Eigen alone, as before those kernels).
#if !CTNN_CUDA_BACKEND && defined(__GNUC__) && !defined(CTNN_NO_FUSED_CPU)
#define CTNN_CPU_FUSED 1
#else
#define CTNN_CPU_FUSED 0
#endif

#if defined(_MSC_VER)
#define CTNN_FORCEINLINE __forceinline
#else
#define CTNN_FORCEINLINE inline __attribute__((always_inline))
#endif

#if __cplusplus < 202002L && !defined(_MSVC_LANG)
#error "ctnn requires C++20 (compile with -std=c++20)"
#endif
