// ctnn/backend/cuda/kernels/quantize.hpp — the operands of gemm_s8 (kernels/gemm_s8.hpp) from a
// quantized model's float activations: quantize_rows and, for a convolution, im2col_s8.
//
// The arithmetic is core/quantize.hpp's: v -> clamp(rint(v / s), -127, 127), rounded half to
// even (rintf under nvcc and in host execution alike), so a code is the CPU's bit for bit. int8
// has no NaN: a NaN is quantized as 0 and counted (one atomicAdd per NaN value, which is read
// once), and the executor reports the count. Four codes are packed into a 32-bit word, code i in
// byte i, the word order dp4a multiplies (backend/cuda/mma.hpp).
#pragma once
#include "../../../config.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"
#include "conv.hpp"
#include "elementwise.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

namespace detail {

/// The int8 code of v at 1 / scale = inv (v not NaN), as core/quantize.hpp's quantize_s8.
CTNN_HOST_DEVICE inline std::uint32_t quantize_code(float v, float inv) {
    const float r = rintf(v * inv);
    const float c = r < -127.0f ? -127.0f : (r > 127.0f ? 127.0f : r);
    return static_cast<std::uint32_t>(static_cast<std::int32_t>(c)) & 0xFFu;
}

} // namespace detail

namespace kernels {

/// Words of `rows` rows of K values x[m K + k] (T: float): out[m ld + w] packs the codes of values
/// 4w to 4w + 3 of row m (0 past K), for w < ld (ld >= ceil(K / 4)); NaNs are added to *nans.
template <class T>
__global__ void quantize_rows(const T* x, std::uint32_t rows, std::uint32_t K, float inv,
                              std::int32_t* out, std::uint32_t ld, unsigned* nans) {
    const std::uint64_t count = std::uint64_t{rows} * ld;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t m = i / ld;
        const std::uint32_t k0 = static_cast<std::uint32_t>(i % ld) * 4u;
        std::uint32_t word = 0;
        unsigned bad = 0;
        for (std::uint32_t j = 0; j < 4; ++j) {
            if (k0 + j >= K) break;
            const float v = static_cast<float>(x[m * K + k0 + j]);
            const bool nan = v != v;
            bad += nan ? 1u : 0u;
            word |= detail::quantize_code(nan ? 0.0f : v, inv) << (8u * j);
        }
        if (bad != 0) atomicAdd(nans, bad);
        out[i] = static_cast<std::int32_t>(word);
    }
}

/// A convolution's unfolded int8 input: for row r = s P + p (sample s, output pixel p) and group
/// g, the `words` words out[r ld + g words + w] pack the codes of taps 4w to 4w + 3 of the group
/// (0 past its Shape::taps taps, and in the padding), read from xq: the samples' codes, one byte
/// each, sample s at byte s * sample_bytes. ld = Shape::groups * words.
template <class Shape>
__global__ void im2col_s8(const std::int8_t* xq, std::uint32_t sample_bytes, std::uint32_t rows,
                          std::uint32_t words, std::int32_t* out) {
    const std::uint32_t ld = Shape::groups * words;
    const std::uint64_t count = std::uint64_t{rows} * ld;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const auto r = static_cast<std::uint32_t>(i / ld);
        const auto gw = static_cast<std::uint32_t>(i % ld);
        const std::uint32_t g = gw / words, k0 = gw % words * 4u;
        const std::uint32_t s = r / Shape::pixels, p = r % Shape::pixels;
        const std::int8_t* xs = xq + std::size_t{s} * sample_bytes;
        std::uint32_t word = 0;
        for (std::uint32_t j = 0; j < 4; ++j) {
            const std::uint32_t k = k0 + j;
            if (k >= Shape::taps) break;
            const std::uint32_t ci = k / Shape::kk, t = k % Shape::kk;
            std::uint32_t q = 0;
            if (!Shape::input_at(p, t, q)) continue;
            const std::int8_t code = xs[std::size_t{g * Shape::cg + ci} * Shape::hw + q];
            word |= (static_cast<std::uint32_t>(static_cast<std::uint8_t>(code))) << (8u * j);
        }
        out[i] = static_cast<std::int32_t>(word);
    }
}

} // namespace kernels

/// Quantizes `rows` rows of K floats (x, row-major) at 1 / scale = inv into words of 4 codes,
/// rows of ld words at out (ld >= ceil(K / 4), zero-padded); adds the NaNs met to the device
/// counter *nans. One kernel launch.
inline void quantize_rows(const float* x, std::size_t rows, std::uint32_t K, float inv,
                          std::int32_t* out, std::uint32_t ld, unsigned* nans,
                          stream_t stream = nullptr) {
    const std::uint64_t count = std::uint64_t{rows} * ld;
    if (count == 0) return;
    launch(&kernels::quantize_rows<float>, elementwise_grid(count), elementwise_block, 0, stream, x,
           static_cast<std::uint32_t>(rows), K, inv, out, ld, nans);
}

/// The unfolded int8 input of a convolution of Shape over `batch` samples whose codes are at xq
/// (sample_bytes bytes apart): rows of Shape::groups * words words (words >= ceil(Shape::taps /
/// 4) per group) at out, row s P + p for output pixel p of sample s. One kernel launch.
template <class Shape>
void im2col_s8(const std::int8_t* xq, std::uint32_t sample_bytes, std::size_t batch,
               std::uint32_t words, std::int32_t* out, stream_t stream = nullptr) {
    const std::uint64_t rows = std::uint64_t{batch} * Shape::pixels;
    if (rows == 0) return;
    launch(&kernels::im2col_s8<Shape>, elementwise_grid(rows * Shape::groups * words),
           elementwise_block, 0, stream, xq, sample_bytes, static_cast<std::uint32_t>(rows), words,
           out);
}

} // namespace ctnn::cuda
