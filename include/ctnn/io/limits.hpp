// ctnn/io/limits.hpp — ReadLimits: how much ctnn's readers may take from one file.
//
// A corrupt or hostile file must end in an io_error, quickly and in little memory, not in
// std::bad_alloc after minutes: a gzip bomb (2 MB that inflate to gigabytes), an endless stream
// (/dev/zero, a pipe), a safetensors header that turns 20 MB of text into a tensor of rank ten
// million. Readers stop at the size a header announces; ReadLimits caps what no header bounds.
#pragma once
#include "../config.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

namespace ctnn::io {

/// Bounds on what one reader call takes from a file. Going past one is an io_error that names
/// the file, the offset and the limit. The defaults admit every dataset and checkpoint ctnn is
/// meant for (Fashion-MNIST's largest file is 47 MB); raise a limit to read a larger file.
struct ReadLimits {
    /// IDX and CSV: the most bytes of content taken from one file, counted after gzip
    /// decompression (and on the compressed file as well). Default 1 GiB.
    std::uint64_t max_bytes = std::uint64_t{1} << 30;
    /// safetensors: the most dimensions of one tensor. Default 8.
    std::size_t max_rank = 8;
    /// safetensors: the most JSON values (objects, arrays, strings, numbers, ...) in the header;
    /// a tensor takes at most 14 with the default max_rank. Default 100,000.
    std::size_t max_json_values = 100'000;
    /// safetensors: the deepest nesting of arrays and objects in the header. Default 64.
    std::size_t max_json_depth = 64;
};

namespace detail {

/// A size that is not known (yet).
inline constexpr std::uint64_t unknown_size = std::numeric_limits<std::uint64_t>::max();

/// Says, from the first bytes of a file's content, how many bytes the whole content should have
/// (the size its header announces), or unknown_size while the prefix does not tell. With it a
/// reader stops where the content should end instead of reading a bomb or an endless stream.
using SizeProbe = std::uint64_t (*)(std::span<const std::uint8_t> prefix) noexcept;

/// How far a bounded read goes: reaching `bytes` bytes of content ends it. When `final`, the
/// probe needs no more and the content is returned cut short; otherwise the content exceeds
/// ReadLimits::max_bytes, which is an error.
struct ReadTarget {
    std::uint64_t bytes;
    bool final;
};

/// The target of a read that holds `prefix`: one byte more than the probe's answer (that byte
/// shows whether the content goes on), or one more than max_bytes while the probe cannot tell.
/// An answer above max_bytes ends the read at once, for the caller to report the limit, unless
/// `content_size` (unknown_size if not known) shows that the content is shorter than announced:
/// then it is read, within max_bytes, so that its truncation is what gets reported.
[[nodiscard]] inline ReadTarget read_target(std::span<const std::uint8_t> prefix, SizeProbe probe,
                                            std::uint64_t max_bytes,
                                            std::uint64_t content_size = unknown_size) noexcept {
    const std::uint64_t over = max_bytes == unknown_size ? max_bytes : max_bytes + 1;
    const std::uint64_t want = probe != nullptr ? probe(prefix) : unknown_size;
    if (want == unknown_size) return {over, false};
    if (want > max_bytes) {
        if (content_size < want) return {over, false};
        return {prefix.size(), true};
    }
    return {want + 1, true};
}

} // namespace detail

} // namespace ctnn::io
