// ctnn/backend/cuda/host/mma.hpp — host execution of the warp-level matrix instructions
// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 and
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16, with the per-thread fragment layouts
// of the PTX ISA ("Matrix Fragments for mma.m16n8k16 with floating point type", "ldmatrix").
//
// Both are warp-collective: runtime.hpp gathers the 32 lanes' operands (each lane's registers)
// and calls the functions here once for the whole warp, so a kernel that puts a value in the
// wrong register of the wrong lane computes a wrong product here exactly as on a GPU.
//
// Notation of the PTX ISA: groupID = laneid / 4, threadID_in_group = laneid % 4. A 32-bit
// register holds two 16-bit elements, the lower-indexed one in its low half.
//   A (16 x 16, row): a_i, i < 8, in register i / 2:
//       row = groupID + 8 * ((i / 2) % 2)       col = 2 * threadID_in_group + i % 2 + 8 * (i / 4)
//   B (16 x 8, col):  b_i, i < 4, in register i / 2:
//       row = 2 * threadID_in_group + i % 2 + 8 * (i / 2)        col = groupID
//   C, D (16 x 8, f32): c_i, i < 4:
//       row = groupID + 8 * (i / 2)             col = 2 * threadID_in_group + i % 2
//   ldmatrix .m8n8 .b16: lanes 8j .. 8j + 7 give the addresses of rows 0..7 of matrix j (x1: j <
//   1, x2: j < 2, x4: j < 4); register j of lane l holds row l / 4, columns 2 (l % 4) and
//   2 (l % 4) + 1 of matrix j; with .trans, of the transposed matrix (column l / 4, rows 2 (l % 4)
//   and 2 (l % 4) + 1).
// The products of two f16 or bf16 values are exact in f32; the sum over k runs in k order in f32
// (the hardware's order and internal precision are not specified: tests compare within float
// rounding).
#pragma once
#include "../../../config.hpp"
#include "../../../core/precision.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ctnn::cuda::host {

/// The input type of an mma: IEEE half or bfloat16.
enum class MmaInput : std::uint8_t { f16, bf16 };

/// The GemmOperands format of an mma input type.
inline GemmOperands format_of(MmaInput type) {
    return type == MmaInput::bf16 ? GemmOperands::bf16 : GemmOperands::fp16;
}

/// A 16-bit element as float (exact for both types).
inline float decode(std::uint16_t bits, MmaInput type) {
    return ctnn::detail::from_16bit(bits, format_of(type));
}

/// float v as a 16-bit element of `type`, rounded to nearest even as cvt.rn.{f16,bf16}.f32 does
/// (core/precision.hpp: NaN stays a quiet NaN, f16 overflows to infinity, small values become
/// subnormals or zero).
inline std::uint16_t round_to(float v, MmaInput type) {
    return ctnn::detail::to_16bit(v, format_of(type));
}

namespace detail {

/// One lane's registers of an m16n8k16 mma: A (4 x 2 elements), B (2 x 2), C and D (4 floats).
struct MmaLane {
    std::uint32_t a[4];
    std::uint32_t b[2];
    float c[4];
    float d[4];
};

/// The 16-bit element `half` (0: low, 1: high) of a register.
inline std::uint16_t element(std::uint32_t reg, unsigned half) {
    return static_cast<std::uint16_t>(half == 0 ? reg & 0xFFFFu : reg >> 16);
}

/// D = A B + C for the whole warp: lanes[l] are lane l's registers.
inline void mma_m16n8k16(MmaLane* const (&lanes)[32], MmaInput type) {
    float A[16][16], B[16][8], C[16][8];
    for (unsigned l = 0; l < 32; ++l) {
        const unsigned g = l / 4, t = l % 4;
        const MmaLane& x = *lanes[l];
        for (unsigned i = 0; i < 8; ++i)
            A[g + 8 * ((i / 2) % 2)][2 * t + i % 2 + 8 * (i / 4)] =
                decode(element(x.a[i / 2], i % 2), type);
        for (unsigned i = 0; i < 4; ++i)
            B[2 * t + i % 2 + 8 * (i / 2)][g] = decode(element(x.b[i / 2], i % 2), type);
        for (unsigned i = 0; i < 4; ++i) C[g + 8 * (i / 2)][2 * t + i % 2] = x.c[i];
    }
    for (unsigned l = 0; l < 32; ++l) {
        const unsigned g = l / 4, t = l % 4;
        for (unsigned i = 0; i < 4; ++i) {
            const unsigned row = g + 8 * (i / 2), col = 2 * t + i % 2;
            float s = C[row][col];
            for (unsigned k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
            lanes[l]->d[i] = s;
        }
    }
}

/// One lane's part of an ldmatrix: the row address it gives and the registers it receives.
struct LdmatrixLane {
    const void* row;
    std::uint32_t r[4];
};

/// ldmatrix .m8n8 .x`count` (.trans when `trans`) .b16 for the whole warp.
inline void ldmatrix_m8n8(LdmatrixLane* const (&lanes)[32], unsigned count, bool trans) {
    for (unsigned j = 0; j < count; ++j) {
        std::uint16_t m[8][8];
        for (unsigned r = 0; r < 8; ++r) std::memcpy(m[r], lanes[8 * j + r]->row, sizeof m[r]);
        for (unsigned l = 0; l < 32; ++l) {
            const unsigned a = l / 4, b = 2 * (l % 4);
            const std::uint16_t lo = trans ? m[b][a] : m[a][b];
            const std::uint16_t hi = trans ? m[b + 1][a] : m[a][b + 1];
            lanes[l]->r[j] = std::uint32_t{lo} | (std::uint32_t{hi} << 16);
        }
    }
}

} // namespace detail
} // namespace ctnn::cuda::host
