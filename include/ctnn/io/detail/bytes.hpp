// ctnn/io/detail/bytes.hpp — byte-order loads and stores, half-precision conversions and
// overflow-checked size arithmetic shared by the IO readers and writers.
#pragma once
#include "../../config.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ctnn::io::detail {

/// Reads an unsigned integer of sizeof(U) bytes stored big-endian (most significant byte first).
template <class U>
[[nodiscard]] inline U load_be(const std::uint8_t* p) noexcept {
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>((v << 8) | U{p[i]});
    return v;
}

/// Reads an unsigned integer of sizeof(U) bytes stored little-endian (least significant byte
/// first).
template <class U>
[[nodiscard]] inline U load_le(const std::uint8_t* p) noexcept {
    U v = 0;
    for (std::size_t i = sizeof(U); i-- > 0;) v = static_cast<U>((v << 8) | U{p[i]});
    return v;
}

/// Writes an unsigned integer as sizeof(U) little-endian bytes.
template <class U>
inline void store_le(std::uint8_t* p, U v) noexcept {
    for (std::size_t i = 0; i < sizeof(U); ++i) {
        p[i] = static_cast<std::uint8_t>(v & 0xffu);
        v = static_cast<U>(v >> 8);
    }
}

/// Converts an IEEE 754 binary16 value (given by its bits) to float, exactly.
[[nodiscard]] inline float f16_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    const std::uint32_t mant = h & 0x3ffu;
    std::uint32_t bits = 0;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign; // signed zero
        } else {
            // Subnormal half: normalise the mantissa into a float normal number.
            std::uint32_t m = mant;
            std::uint32_t e = 113; // float exponent of 2^-14 (bias 127) for a leading 1 at bit 10
            while ((m & 0x400u) == 0) {
                m <<= 1;
                --e;
            }
            bits = sign | (e << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13); // inf or NaN (payload kept)
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

/// Converts a bfloat16 value (given by its bits) to float, exactly.
[[nodiscard]] inline float bf16_to_float(std::uint16_t h) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

/// a * b, or false if the product does not fit in std::size_t.
[[nodiscard]] inline bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) noexcept {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return false;
    out = a * b;
    return true;
}

/// a + b, or false if the sum does not fit in std::size_t.
[[nodiscard]] inline bool checked_add(std::size_t a, std::size_t b, std::size_t& out) noexcept {
    if (b > std::numeric_limits<std::size_t>::max() - a) return false;
    out = a + b;
    return true;
}

/// Formats a list of dimensions as "[2, 3, 4]".
template <class Int>
[[nodiscard]] inline std::string format_dims(const std::vector<Int>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (i != 0) s += ", ";
        s += std::to_string(dims[i]);
    }
    s += "]";
    return s;
}

/// Quotes a piece of file content for an error message: at most `max` bytes, control bytes
/// shown as '?', an ellipsis when cut.
[[nodiscard]] inline std::string quote_excerpt(std::string_view text, std::size_t max = 40) {
    std::string s = "'";
    const std::size_t n = text.size() < max ? text.size() : max;
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        s += (c < 0x20 || c == 0x7f) ? '?' : text[i];
    }
    if (n < text.size()) s += "...";
    s += "'";
    return s;
}

/// Formats a byte as "0x1f".
[[nodiscard]] inline std::string hex_byte(std::uint8_t b) {
    constexpr char digits[] = "0123456789abcdef";
    std::string s = "0x";
    s += digits[b >> 4];
    s += digits[b & 0xf];
    return s;
}

} // namespace ctnn::io::detail
