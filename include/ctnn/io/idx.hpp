// ctnn/io/idx.hpp — reader for the IDX format of MNIST and Fashion-MNIST.
//
// An IDX file is: two zero bytes, a data-type byte, a rank byte, `rank` big-endian u32 dimensions,
// then the elements, big-endian, row-major. Files may be gzip-compressed (recognised by their
// magic bytes, not their name). Every malformed input throws ctnn::io_error naming the file and
// the byte offset; for gzip files the offsets count bytes of the decompressed data. Reading stops
// where the header says the data ends, so a gzip bomb or an endless stream behind a valid header
// costs no more than the announced size; ReadLimits::max_bytes caps that size. Float data must be
// finite, as in CSV files: NaN and infinities are errors.
#pragma once
#include "../config.hpp"
#include "../core/dataset.hpp"
#include "../core/error.hpp"
#include "detail/bytes.hpp"
#include "detail/file.hpp"
#include "limits.hpp"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctnn::io {

/// The element types of the IDX format; the enumerator values are the type codes in the file.
enum class IdxType : std::uint8_t {
    u8 = 0x08,  ///< unsigned byte
    i8 = 0x09,  ///< signed byte
    i16 = 0x0B, ///< big-endian 16-bit signed integer
    i32 = 0x0C, ///< big-endian 32-bit signed integer
    f32 = 0x0D, ///< big-endian IEEE float
    f64 = 0x0E, ///< big-endian IEEE double
};

/// An IDX array: its element type as stored in the file, its dimensions, and its elements
/// converted to float (row-major; data.size() == product of dims). i32 values beyond 2^24 and
/// f64 values are rounded to the nearest float.
struct IdxArray {
    IdxType dtype = IdxType::u8;   ///< element type in the file
    std::vector<std::size_t> dims; ///< dimensions, outermost first (dims[0] is the sample count)
    std::vector<float> data;       ///< elements as float, row-major

    /// Number of elements.
    [[nodiscard]] std::size_t size() const noexcept { return data.size(); }
};

/// Size in bytes of one element of type t.
[[nodiscard]] constexpr std::size_t idx_element_size(IdxType t) noexcept {
    switch (t) {
    case IdxType::u8:
    case IdxType::i8: return 1;
    case IdxType::i16: return 2;
    case IdxType::i32:
    case IdxType::f32: return 4;
    case IdxType::f64: return 8;
    }
    return 0;
}

/// Short name of an IDX type ("u8", "f32", ...).
[[nodiscard]] constexpr std::string_view idx_type_name(IdxType t) noexcept {
    switch (t) {
    case IdxType::u8: return "u8";
    case IdxType::i8: return "i8";
    case IdxType::i16: return "i16";
    case IdxType::i32: return "i32";
    case IdxType::f32: return "f32";
    case IdxType::f64: return "f64";
    }
    return "?";
}

namespace detail {

/// The parsed header of an IDX file.
struct IdxHeader {
    IdxType dtype = IdxType::u8;
    std::vector<std::size_t> dims;
    std::size_t count = 0;       ///< number of elements
    std::size_t data_offset = 0; ///< offset of the first element
};

/// What the IDX parser knows about the bytes it is given: the file name (for errors), whether
/// offsets are in decompressed data, whether reading stopped before the end of the content (at the
/// announced size: the content goes on), the full content's size where known, and the size limit.
struct IdxSource {
    std::string file;
    bool gzip = false;
    bool cut = false;
    std::uint64_t size = unknown_size;
    std::uint64_t max_bytes = ReadLimits{}.max_bytes;

    /// Complete content (e.g. bytes in memory), plain or decompressed gzip.
    IdxSource(std::string name, bool gzipped = false) : file(std::move(name)), gzip(gzipped) {}
    /// Content read by read_file_data under `limits`.
    IdxSource(std::string name, const FileData& d, const ReadLimits& limits)
        : file(std::move(name)), gzip(d.gzip), cut(d.cut), size(d.size),
          max_bytes(limits.max_bytes) {}

    [[noreturn]] void fail(std::uint64_t offset, const std::string& what) const {
        throw io_error(file, offset,
                       gzip ? what + " (offset in the decompressed gzip data)" : what);
    }
};

/// True for the type codes of the IDX format.
[[nodiscard]] constexpr bool is_idx_type_code(std::uint8_t code) noexcept {
    return code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D ||
           code == 0x0E;
}

/// The size of an IDX file's content as its header announces it (header plus data), so that
/// reading stops there (a SizeProbe): unknown_size while the header is incomplete; when the
/// header is bad or its size overflows, the bytes that show it (parse_idx_header reports it).
[[nodiscard]] inline std::uint64_t idx_announced_size(std::span<const std::uint8_t> b) noexcept {
    if (b.size() < 4) return unknown_size;
    if (b[0] != 0 || b[1] != 0 || !is_idx_type_code(b[2]) || b[3] == 0) return 4;
    const std::size_t rank = b[3];
    const std::size_t header = 4 + 4 * rank;
    if (b.size() < header) return unknown_size;
    std::size_t count = 1;
    for (std::size_t i = 0; i < rank; ++i)
        if (!checked_mul(count, load_be<std::uint32_t>(b.data() + 4 + 4 * i), count)) return header;
    std::size_t data_bytes = 0;
    std::size_t end = 0;
    if (!checked_mul(count, idx_element_size(static_cast<IdxType>(b[2])), data_bytes) ||
        !checked_add(header, data_bytes, end))
        return header;
    return end;
}

/// Parses and checks the header, and checks that the data has exactly the announced size and
/// that this size is within src.max_bytes.
[[nodiscard]] inline IdxHeader parse_idx_header(std::span<const std::uint8_t> b,
                                                const IdxSource& src) {
    if (b.empty()) src.fail(0, "file is empty; an IDX file starts with a 4-byte magic number");
    if (b.size() < 4)
        src.fail(b.size(), std::string("truncated IDX header: the file has ") +
                               std::to_string(b.size()) + " bytes, the magic number needs 4");
    if (b[0] != 0 || b[1] != 0)
        src.fail(0, std::string("bad magic number: an IDX file starts with 0x00 0x00, found ") +
                        hex_byte(b[0]) + std::string(" ") + hex_byte(b[1]) + "; not an IDX file");
    IdxHeader h;
    switch (b[2]) {
    case 0x08:
    case 0x09:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x0E: h.dtype = static_cast<IdxType>(b[2]); break;
    default:
        src.fail(2, std::string("unknown IDX data type ") + hex_byte(b[2]) +
                        " (expected 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32 or 0x0e f64)");
    }
    const std::size_t rank = b[3];
    if (rank == 0) src.fail(3, "IDX rank is 0; an IDX array needs at least one dimension");
    h.data_offset = 4 + 4 * rank;
    if (b.size() < h.data_offset)
        src.fail(b.size(), std::string("truncated IDX header: ") + std::to_string(rank) +
                               std::string(" dimensions need bytes up to offset ") +
                               std::to_string(h.data_offset) + ", but the file has " +
                               std::to_string(b.size()) + " bytes");
    h.dims.resize(rank);
    h.count = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < rank; ++i) {
        h.dims[i] = load_be<std::uint32_t>(b.data() + 4 + 4 * i);
        if (!overflow && !checked_mul(h.count, h.dims[i], h.count)) overflow = true;
    }
    std::size_t data_bytes = 0;
    std::size_t end = 0;
    if (overflow || !checked_mul(h.count, idx_element_size(h.dtype), data_bytes) ||
        !checked_add(h.data_offset, data_bytes, end))
        src.fail(4, std::string("dimensions ") + format_dims(h.dims) +
                        " describe more data than can be addressed (size overflow)");
    const std::string what = std::string("dimensions ") + format_dims(h.dims) + " of " +
                             std::string(idx_type_name(h.dtype)) + std::string(" need ") +
                             std::to_string(data_bytes) + " data bytes from offset " +
                             std::to_string(h.data_offset) + ", ending at offset " +
                             std::to_string(end);
    if (!src.cut && b.size() < end)
        src.fail(b.size(), std::string("truncated data: the data ends at offset ") +
                               std::to_string(b.size()) + std::string(", but ") + what);
    if (end > src.max_bytes)
        src.fail(4, what + ": more than the limit of " + std::to_string(src.max_bytes) +
                        " bytes (ReadLimits::max_bytes)");
    if (src.cut || b.size() > end) {
        // Reading stopped after the announced end: the size on disk, if known, gives the count.
        std::uint64_t extra = unknown_size;
        if (!src.cut) extra = b.size() - end;
        else if (src.size != unknown_size && src.size > end) extra = src.size - end;
        if (extra == unknown_size)
            src.fail(end, std::string("unexpected bytes after the end of the data (") + what +
                              "); reading stopped there");
        src.fail(end, std::to_string(extra) +
                          std::string(" unexpected bytes after the end of the data (") + what +
                          ")");
    }
    return h;
}

/// Reports a NaN or infinite float at element i: IDX float data must be finite, as CSV data.
[[noreturn]] inline void fail_non_finite(const IdxSource& src, const IdxHeader& h, std::size_t i,
                                         double v) {
    const char* what = std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf");
    src.fail(h.data_offset + i * idx_element_size(h.dtype),
             std::string(idx_type_name(h.dtype)) + " element " + std::to_string(i) + " is " + what +
                 ", not a finite number");
}

/// Converts the elements of a checked IDX file to float, multiplied by `scale`. Throws io_error
/// for a NaN or an infinity in f32 or f64 data (naming its offset).
inline void decode_idx_floats(std::span<const std::uint8_t> b, const IdxHeader& h, float scale,
                              float* out, const IdxSource& src) {
    const std::uint8_t* p = b.data() + h.data_offset;
    const std::size_t n = h.count;
    switch (h.dtype) {
    case IdxType::u8:
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]) * scale;
        break;
    case IdxType::i8:
        for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<float>(static_cast<std::int8_t>(p[i])) * scale;
        break;
    case IdxType::i16:
        for (std::size_t i = 0; i < n; ++i)
            out[i] =
                static_cast<float>(static_cast<std::int16_t>(load_be<std::uint16_t>(p + 2 * i))) *
                scale;
        break;
    case IdxType::i32:
        for (std::size_t i = 0; i < n; ++i)
            out[i] =
                static_cast<float>(static_cast<std::int32_t>(load_be<std::uint32_t>(p + 4 * i))) *
                scale;
        break;
    case IdxType::f32:
        for (std::size_t i = 0; i < n; ++i) {
            const float v = std::bit_cast<float>(load_be<std::uint32_t>(p + 4 * i));
            if (!std::isfinite(v)) fail_non_finite(src, h, i, v);
            out[i] = v * scale;
        }
        break;
    case IdxType::f64:
        for (std::size_t i = 0; i < n; ++i) {
            const double v = std::bit_cast<double>(load_be<std::uint64_t>(p + 8 * i));
            if (!std::isfinite(v)) fail_non_finite(src, h, i, v);
            out[i] = static_cast<float>(v) * scale;
        }
        break;
    }
}

/// Parses a complete IDX file held in memory (already decompressed).
[[nodiscard]] inline IdxArray parse_idx(std::span<const std::uint8_t> bytes, const IdxSource& src,
                                        float scale = 1.0f) {
    const IdxHeader h = parse_idx_header(bytes, src);
    IdxArray a;
    a.dtype = h.dtype;
    a.dims = h.dims;
    a.data.resize(h.count);
    decode_idx_floats(bytes, h, scale, a.data.data(), src);
    return a;
}

/// Parses an IDX label file: rank 1, integer type, values >= 0.
[[nodiscard]] inline std::vector<std::int32_t> parse_idx_labels(std::span<const std::uint8_t> b,
                                                                const IdxSource& src) {
    const IdxHeader h = parse_idx_header(b, src);
    if (h.dims.size() != 1)
        src.fail(3, std::string("a label file must have rank 1, found rank ") +
                        std::to_string(h.dims.size()) + std::string(" with dimensions ") +
                        format_dims(h.dims));
    const std::size_t es = idx_element_size(h.dtype);
    if (h.dtype == IdxType::f32 || h.dtype == IdxType::f64)
        src.fail(2, std::string("labels must have an integer type, found ") +
                        std::string(idx_type_name(h.dtype)));
    std::vector<std::int32_t> labels(h.count);
    const std::uint8_t* p = b.data() + h.data_offset;
    for (std::size_t i = 0; i < h.count; ++i) {
        std::int32_t v = 0;
        switch (h.dtype) {
        case IdxType::u8: v = p[i]; break;
        case IdxType::i8: v = static_cast<std::int8_t>(p[i]); break;
        case IdxType::i16: v = static_cast<std::int16_t>(load_be<std::uint16_t>(p + 2 * i)); break;
        default: v = static_cast<std::int32_t>(load_be<std::uint32_t>(p + 4 * i)); break;
        }
        if (v < 0)
            src.fail(h.data_offset + i * es, std::string("label of sample ") + std::to_string(i) +
                                                 " is " + std::to_string(v) +
                                                 "; labels must be >= 0");
        labels[i] = v;
    }
    return labels;
}

} // namespace detail

/// Reads an IDX file (plain or gzip) of any IDX type into float values.
/// Throws io_error naming the file and byte offset for a missing file, bad magic number, unknown
/// type, rank 0, size overflow, truncated data, bytes after the data, a size beyond
/// limits.max_bytes, NaN or infinite floats, and for running out of memory.
[[nodiscard]] inline IdxArray read_idx(const std::filesystem::path& path,
                                       const ReadLimits& limits = {}) {
    const std::string file = path.string();
    return detail::reporting_memory_errors(file, [&] {
        const detail::FileData d = detail::read_file_data(path, limits, detail::idx_announced_size);
        return detail::parse_idx(d.bytes, {file, d, limits});
    });
}

/// Reads an image file [N, d1, d2, ...] and a label file [N] (plain or gzip) into a Dataset.
/// Features are the image values times `scale` (default: bytes 0..255 to [0, 1]); feature_count
/// is d1*d2*...; sample_shape is {1, d1, d2} for 3-D image files (one channel, channel-first),
/// {1} for 1-D files and {d1, d2, ...} otherwise. Labels must be an integer type and >= 0.
/// Throws io_error if either file is malformed (see read_idx), exceeds `limits` or does not fit
/// in memory, or if they hold different numbers of samples (the message names both files).
[[nodiscard]] inline Dataset read_idx_dataset(const std::filesystem::path& images_path,
                                              const std::filesystem::path& labels_path,
                                              float scale = 1.0f / 255.0f,
                                              const ReadLimits& limits = {}) {
    std::string current = images_path.string(); // the file being read, for out-of-memory errors
    return detail::reporting_memory_errors(current, [&] {
        Dataset ds;
        std::size_t n_images = 0;
        {
            const detail::FileData d =
                detail::read_file_data(images_path, limits, detail::idx_announced_size);
            const detail::IdxSource src{current, d, limits};
            const detail::IdxHeader h = detail::parse_idx_header(d.bytes, src);
            n_images = h.dims[0];
            if (h.dims.size() == 1) {
                ds.sample_shape = {1};
            } else if (h.dims.size() == 3) {
                ds.sample_shape = {1, h.dims[1], h.dims[2]};
            } else {
                ds.sample_shape.assign(h.dims.begin() + 1, h.dims.end());
            }
            ds.feature_count = 1;
            for (std::size_t i = 1; i < h.dims.size(); ++i) ds.feature_count *= h.dims[i];
            if (ds.feature_count == 0)
                src.fail(4, std::string("images of dimensions ") + detail::format_dims(h.dims) +
                                " have no values per sample");
            ds.features.resize(h.count);
            detail::decode_idx_floats(d.bytes, h, scale, ds.features.data(), src);
        }
        {
            current = labels_path.string();
            const detail::FileData d =
                detail::read_file_data(labels_path, limits, detail::idx_announced_size);
            ds.labels = detail::parse_idx_labels(d.bytes, {current, d, limits});
        }
        if (ds.labels.size() != n_images)
            throw io_error(labels_path.string(),
                           std::string("holds ") + std::to_string(ds.labels.size()) +
                               std::string(" labels, but the image file '") + images_path.string() +
                               "' holds " + std::to_string(n_images) + " images");
        return ds;
    });
}

namespace detail {

/// The path of `base` or `base.gz` in `dir`, whichever exists (the plain name first).
[[nodiscard]] inline std::filesystem::path find_plain_or_gz(const std::filesystem::path& dir,
                                                            const std::string& base) {
    std::error_code ec;
    const std::filesystem::path plain = dir / base;
    if (std::filesystem::is_regular_file(plain, ec)) return plain;
    const std::filesystem::path gz = dir / (base + ".gz");
    if (std::filesystem::is_regular_file(gz, ec)) return gz;
    throw io_error(plain.string(), std::string("missing: neither '") + base + "' nor '" + base +
                                       std::string(".gz' exists in directory '") + dir.string() +
                                       "'");
}

} // namespace detail

/// Reads Fashion-MNIST (or MNIST: same file names) from a directory holding
/// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
/// t10k-labels-idx1-ubyte, each plain or with a .gz suffix. Pixels are scaled to [0, 1];
/// samples have sample_shape {1, 28, 28}. Throws io_error naming the directory or file that is
/// missing or malformed (see read_idx_dataset; `limits` applies to each file), or when train and
/// test images differ in shape.
[[nodiscard]] inline DatasetSplit fashion_mnist(const std::filesystem::path& dir,
                                                const ReadLimits& limits = {}) {
    std::error_code ec;
    const auto st = std::filesystem::status(dir, ec);
    if (st.type() == std::filesystem::file_type::not_found)
        throw io_error(dir.string(), "dataset directory does not exist");
    if (st.type() != std::filesystem::file_type::directory)
        throw io_error(dir.string(), "not a directory; expected the dataset directory");
    const auto train_images = detail::find_plain_or_gz(dir, "train-images-idx3-ubyte");
    const auto train_labels = detail::find_plain_or_gz(dir, "train-labels-idx1-ubyte");
    const auto test_images = detail::find_plain_or_gz(dir, "t10k-images-idx3-ubyte");
    const auto test_labels = detail::find_plain_or_gz(dir, "t10k-labels-idx1-ubyte");
    DatasetSplit split;
    split.train = read_idx_dataset(train_images, train_labels, 1.0f / 255.0f, limits);
    split.test = read_idx_dataset(test_images, test_labels, 1.0f / 255.0f, limits);
    if (split.train.sample_shape != split.test.sample_shape)
        throw io_error(
            test_images.string(),
            std::string("test images have shape ") + detail::format_dims(split.test.sample_shape) +
                std::string(" per sample, but the training images '") + train_images.string() +
                std::string("' have ") + detail::format_dims(split.train.sample_shape));
    return split;
}

} // namespace ctnn::io
