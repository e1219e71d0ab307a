// ctnn/io/detail/gzip.hpp — in-memory gzip decompression through zlib.
//
// gzip input is recognised by its magic bytes 0x1f 0x8b, never by the file name. zlib is used when
// CTNN_HAS_ZLIB is defined to 1 (the CMake target does this when it finds zlib and links it);
// without it, gzip input is reported as an io_error that says so. Every translation unit of a
// program must see the same value of CTNN_HAS_ZLIB.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../limits.hpp"
#include "bytes.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#if defined(CTNN_HAS_ZLIB) && CTNN_HAS_ZLIB
#include <zlib.h>
#endif

namespace ctnn::io::detail {

/// True when the bytes start with the gzip magic 0x1f 0x8b.
[[nodiscard]] inline bool is_gzip(std::span<const std::uint8_t> bytes) noexcept {
    return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

/// True when this build of ctnn can decompress gzip data.
[[nodiscard]] constexpr bool has_zlib() noexcept {
#if defined(CTNN_HAS_ZLIB) && CTNN_HAS_ZLIB
    return true;
#else
    return false;
#endif
}

/// Decompressed data, possibly cut short.
struct Inflated {
    std::vector<std::uint8_t> bytes; ///< the decompressed data, or its first bytes when `cut`
    bool cut = false;                ///< decompression stopped early because `probe` needed no more
};

/// Decompresses gzip data held in memory (one or more concatenated members): at most max_bytes,
/// and no more than `probe` asks for (see read_target), so that a bomb behind a header that
/// announces its size costs no more than that size. Throws io_error naming `file` for corrupt,
/// truncated or trailing data (at the compressed byte offset), for output beyond max_bytes (at
/// the decompressed offset), and when ctnn was built without zlib.
[[nodiscard]] inline Inflated gunzip_bounded(std::span<const std::uint8_t> in,
                                             const std::string& file, std::uint64_t max_bytes,
                                             SizeProbe probe = nullptr) {
#if defined(CTNN_HAS_ZLIB) && CTNN_HAS_ZLIB
    const auto to_size = [](std::uint64_t v) {
        return static_cast<std::size_t>(
            std::min<std::uint64_t>(v, std::numeric_limits<std::size_t>::max()));
    };
    // The gzip trailer's ISIZE (uncompressed size mod 2^32) is a good guess for the output; it is
    // capped by deflate's maximum ratio and by 256 MiB so that a corrupt trailer cannot force a
    // huge allocation (larger outputs grow by doubling).
    std::size_t guess = std::size_t{1} << 16;
    if (in.size() >= 18) {
        const std::size_t isize = load_le<std::uint32_t>(in.data() + in.size() - 4);
        std::size_t cap = 0;
        if (!checked_mul(in.size(), 1032, cap)) cap = std::numeric_limits<std::size_t>::max();
        cap = std::min(cap, std::size_t{1} << 28);
        guess = std::max(guess, std::min(isize, cap) + 1);
    }
    const auto too_long = [&] {
        throw io_error(file, max_bytes,
                       std::string("the decompressed data goes on past the limit of ") +
                           std::to_string(max_bytes) +
                           " bytes (ReadLimits::max_bytes; offset in the decompressed gzip data)");
    };
    Inflated result;
    std::vector<std::uint8_t>& out = result.bytes;
    // With a probe, the first 64 KiB hold the header that sizes the rest; without, the guess.
    const ReadTarget first = read_target({}, probe, max_bytes);
    out.resize(std::min(to_size(first.bytes), probe != nullptr ? std::size_t{1} << 16 : guess));

    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) throw io_error(file, "cannot initialise zlib");
    struct Guard {
        z_stream* zs;
        ~Guard() { inflateEnd(zs); }
    } guard{&zs};

    constexpr std::size_t max_chunk = std::size_t{1} << 30; // zlib counts in 32-bit uInt
    std::size_t pos = 0;                                    // compressed bytes consumed
    std::size_t produced = 0;                               // decompressed bytes written
    for (;;) {
        if (produced == out.size()) {
            // Output full: stop where the probe needs no more, fail past max_bytes, else grow.
            const ReadTarget target = read_target({out.data(), produced}, probe, max_bytes);
            if (produced >= target.bytes) {
                if (target.final) {
                    result.cut = true;
                    break;
                }
                too_long();
            }
            std::size_t bigger = 0;
            if (!checked_mul(out.size(), 2, bigger))
                bigger = std::numeric_limits<std::size_t>::max();
            out.resize(std::min(std::max(bigger, guess), to_size(target.bytes)));
        }
        const std::size_t in_avail = std::min(in.size() - pos, max_chunk);
        const std::size_t out_avail = std::min(out.size() - produced, max_chunk);
        zs.next_in = const_cast<Bytef*>(in.data() + pos); // zlib does not write through next_in
        zs.avail_in = static_cast<uInt>(in_avail);
        zs.next_out = out.data() + produced;
        zs.avail_out = static_cast<uInt>(out_avail);
        const int rc = inflate(&zs, Z_NO_FLUSH);
        pos += in_avail - zs.avail_in;
        produced += out_avail - zs.avail_out;

        if (rc == Z_STREAM_END) {
            if (pos == in.size()) break;
            // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
            if (is_gzip(in.subspan(pos))) {
                if (inflateReset(&zs) != Z_OK) throw io_error(file, pos, "cannot reset zlib");
                continue;
            }
            throw io_error(file, pos,
                           std::to_string(in.size() - pos) +
                               " unexpected bytes after the end of the gzip stream");
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR) {
            if (pos == in.size())
                throw io_error(file, pos,
                               "gzip stream is truncated: the compressed data ends before the "
                               "end of the stream");
            if (produced == out.size()) continue; // output full: grow and go on
            throw io_error(file, pos, "gzip stream makes no progress (corrupt data)");
        }
        if (rc == Z_MEM_ERROR) throw io_error(file, pos, "out of memory while decompressing");
        const std::string why = zs.msg != nullptr ? zs.msg : "invalid data";
        throw io_error(file, pos, std::string("corrupt gzip stream: ") + why);
    }
    // The buffer holds one byte more than max_bytes: a stream that ends just after it is too long,
    // unless the probe knows its size (the caller reports it, against the announced size).
    if (!result.cut && produced > max_bytes &&
        !read_target({out.data(), produced}, probe, max_bytes).final)
        too_long();
    out.resize(produced);
    if (out.capacity() - produced > produced / 8) out.shrink_to_fit(); // a guess far too large
    return result;
#else
    (void)in;
    (void)max_bytes;
    (void)probe;
    throw io_error(file, "file is gzip-compressed, but ctnn was built without zlib (define "
                         "CTNN_HAS_ZLIB=1 and link zlib, or decompress the file first)");
#endif
}

/// Decompresses a complete gzip file held in memory (one or more concatenated members).
/// Throws io_error naming `file` and the compressed byte offset for corrupt, truncated or
/// trailing data, for more than max_bytes of output, and when ctnn was built without zlib.
[[nodiscard]] inline std::vector<std::uint8_t>
gunzip(std::span<const std::uint8_t> in, const std::string& file,
       std::uint64_t max_bytes = ReadLimits{}.max_bytes) {
    return gunzip_bounded(in, file, max_bytes).bytes;
}

} // namespace ctnn::io::detail
