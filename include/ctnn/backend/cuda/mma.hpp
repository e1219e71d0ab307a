// ctnn/backend/cuda/mma.hpp — the tensor-core instructions ctnn's kernels use, as functions:
//   mma_m16n8k16<MmaInput::f16 or bf16>(d, a, b, c)
//       mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32: D = A B + C for a
//       16 x 16 A, 16 x 8 B and 16 x 8 f32 C, D spread over the warp's registers
//   ldmatrix_m8n8<N, Trans>(r, row)
//       ldmatrix.sync.aligned.m8n8.x{1,2,4}{.trans}.shared.b16: N 8 x 8 matrices of 16-bit
//       elements from shared memory into the fragment layout mma takes
//   round_to_mma_input<MmaInput::f16 or bf16>(v)
//       the 16-bit encoding of float v, rounded to nearest even (cvt.rn.f16.f32 / .bf16.f32)
//   dp4a(a, b, c)
//       dp4a.s32.s32: c plus the four products of the signed bytes of a and b (int8 GEMMs;
//       sm_61 and newer), byte i being bits 8i .. 8i + 7 (memory order of 4 int8 read as a word)
// Under nvcc (sm_80 or newer: Jetson Orin's sm_87, sm_90, Thor's sm_110) each is one PTX
// instruction; in host mode the host execution runtime computes them for the whole warp with the
// PTX ISA's per-thread fragment layouts (host/mma.hpp, where the layouts are written out), so a
// kernel with a wrong fragment index fails its host-execution test. Include after kernel.hpp.
#pragma once
#include "kernel.hpp"

#include <cstdint>

#if CTNN_DEVICE_COMPILE
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace ctnn::cuda {

#if CTNN_DEVICE_COMPILE

/// The input type of an mma: IEEE half or bfloat16 (the accumulator is f32).
enum class MmaInput : std::uint8_t { f16, bf16 };

/// This lane's part of D = A B + C (m16n8k16, f32 accumulation); every lane of the warp calls it.
template <MmaInput Input>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4],
                                             const std::uint32_t (&b)[2], const float (&c)[4]) {
#if defined(__CUDA_ARCH__)
    if constexpr (Input == MmaInput::f16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
                     "{%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
                     : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]),
                       "f"(c[1]), "f"(c[2]), "f"(c[3]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                     "{%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
                     : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]),
                       "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
    (void)d, (void)a, (void)b, (void)c;
#endif
}

/// This lane's registers of N 8 x 8 matrices of 16-bit elements (`row`: the shared-memory
/// address of one row, 16-byte aligned; lanes 8j .. 8j + 7 name the rows of matrix j).
template <unsigned N, bool Trans = false>
__device__ __forceinline__ void ldmatrix_m8n8(std::uint32_t (&r)[N], const void* row) {
    static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#if defined(__CUDA_ARCH__)
    const auto addr = static_cast<unsigned>(__cvta_generic_to_shared(row));
    if constexpr (N == 1 && !Trans)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n"
                     : "=r"(r[0])
                     : "r"(addr));
    else if constexpr (N == 1)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
                     : "=r"(r[0])
                     : "r"(addr));
    else if constexpr (N == 2 && !Trans)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                     : "=r"(r[0]), "=r"(r[1])
                     : "r"(addr));
    else if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                     : "=r"(r[0]), "=r"(r[1])
                     : "r"(addr));
    else if constexpr (!Trans)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(addr));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(addr));
#else
    (void)r, (void)row;
#endif
}

/// The 16-bit encoding of v in Input, rounded to nearest even (NaN stays NaN, f16 overflows to
/// infinity, tiny values round to subnormals or zero).
template <MmaInput Input>
__device__ __forceinline__ std::uint16_t round_to_mma_input(float v) {
#if defined(__CUDA_ARCH__)
    if constexpr (Input == MmaInput::f16) return __half_as_ushort(__float2half_rn(v));
    else return __bfloat16_as_ushort(__float2bfloat16_rn(v));
#else
    (void)v;
    return 0;
#endif
}

/// c + a0 b0 + a1 b1 + a2 b2 + a3 b3 over the signed bytes of a and b (wrapping as the PTX does).
__device__ __forceinline__ std::int32_t dp4a(std::int32_t a, std::int32_t b, std::int32_t c) {
#if defined(__CUDA_ARCH__)
    return __dp4a(a, b, c);
#else
    (void)a, (void)b;
    return c;
#endif
}

#else // host mode: the host execution runtime's warp-collective emulation

using host::MmaInput;

template <MmaInput Input>
inline void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                         const float (&c)[4]) {
    host::mma_m16n8k16<Input>(d, a, b, c);
}

template <unsigned N, bool Trans = false>
inline void ldmatrix_m8n8(std::uint32_t (&r)[N], const void* row) {
    host::ldmatrix_m8n8<N, Trans>(r, row);
}

template <MmaInput Input>
inline std::uint16_t round_to_mma_input(float v) {
    return host::round_to(v, Input);
}

/// dp4a.s32.s32 per thread: byte i of a word is bits 8i .. 8i + 7; the sum wraps modulo 2^32.
inline std::int32_t dp4a(std::int32_t a, std::int32_t b, std::int32_t c) {
    const auto ua = static_cast<std::uint32_t>(a), ub = static_cast<std::uint32_t>(b);
    auto sum = static_cast<std::uint32_t>(c);
    for (unsigned i = 0; i < 4; ++i) {
        const auto x = static_cast<std::int8_t>(static_cast<std::uint8_t>(ua >> (8 * i)));
        const auto y = static_cast<std::int8_t>(static_cast<std::uint8_t>(ub >> (8 * i)));
        sum += static_cast<std::uint32_t>(std::int32_t{x} * std::int32_t{y});
    }
    return static_cast<std::int32_t>(sum);
}

#endif

} // namespace ctnn::cuda
