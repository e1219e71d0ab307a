// ctnn/io/detail/gzip.hpp — in-memory gzip decompression through zlib.
//
// gzip input is recognised by its magic bytes 0x1f 0x8b, never by the file name. zlib is used when
// CTNN_HAS_ZLIB is defined to 1 (the CMake target does this when it finds zlib and links it);
// without it, gzip input is reported as an io_error that says so. Every translation unit of a
// program must see the same value of CTNN_HAS_ZLIB.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
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

/// Decompresses a complete gzip file held in memory (one or more concatenated members).
/// Throws io_error naming `file` and the compressed byte offset for corrupt, truncated or
/// trailing data, and when ctnn was built without zlib.
[[nodiscard]] inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> in,
                                                      const std::string& file) {
#if defined(CTNN_HAS_ZLIB) && CTNN_HAS_ZLIB
    // The gzip trailer's ISIZE (uncompressed size mod 2^32) is a good first guess for the output;
    // it is capped by deflate's maximum ratio and by 256 MiB so that a corrupt trailer cannot
    // force a huge allocation (larger outputs grow by doubling).
    std::size_t guess = std::size_t{1} << 16;
    if (in.size() >= 18) {
        const std::size_t isize = load_le<std::uint32_t>(in.data() + in.size() - 4);
        std::size_t cap = 0;
        if (!checked_mul(in.size(), 1032, cap)) cap = std::numeric_limits<std::size_t>::max();
        cap = std::min(cap, std::size_t{1} << 28);
        guess = std::max(guess, std::min(isize, cap) + 1);
    }
    std::vector<std::uint8_t> out(guess);

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
            std::size_t bigger = 0;
            if (!checked_mul(out.size(), 2, bigger))
                throw io_error(file, pos, "gzip data decompresses to more than memory can hold");
            out.resize(bigger);
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
    out.resize(produced);
    out.shrink_to_fit();
    return out;
#else
    (void)in;
    throw io_error(file, "file is gzip-compressed, but ctnn was built without zlib (define "
                         "CTNN_HAS_ZLIB=1 and link zlib, or decompress the file first)");
#endif
}

} // namespace ctnn::io::detail
