// ctnn/io/safetensors.hpp — reader and writer for the safetensors format.
//
// Layout (as written by Hugging Face's `safetensors` package): an 8-byte little-endian u64 header
// length N; N bytes of UTF-8 JSON
//   {"__metadata__": {"key": "value"}, "name": {"dtype": "F32", "shape": [2, 3],
//    "data_offsets": [begin, end]}, ...}
// padded with trailing spaces; then the data buffer. Offsets are relative to the buffer start;
// tensors are little-endian, row-major, and exactly tile the buffer (no gaps, no overlaps, nothing
// left over). ctnn writes F32 and reads F32, F64, F16, BF16, signed/unsigned integers and BOOL,
// converting them to float. Every malformed input throws ctnn::io_error naming the file and the
// byte offset (counted from the start of the file). The header's size is limited (100 MB), and so
// are the number of its JSON values, their nesting and the rank of a tensor (ReadLimits), so that
// a hostile header cannot make a tree or a shape many times its size.
#pragma once
#include "../config.hpp"
#include "../core/error.hpp"
#include "detail/bytes.hpp"
#include "detail/file.hpp"
#include "detail/json.hpp"
#include "limits.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ctnn::io {

/// A tensor to save: a name, a shape (row-major; product == data.size()) and borrowed F32 data.
struct TensorView {
    std::string name;
    std::vector<std::int64_t> shape;
    std::span<const float> data;
};

/// A tensor read from a file: its name, the dtype it had in the file ("F32", "F16", ...), its
/// shape, and its values converted to float (row-major; data.size() == product of shape).
struct Tensor {
    std::string name;
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<float> data;
};

/// The content of a safetensors file: the tensors in the order of their data in the file, and
/// the string-to-string metadata of the header's "__metadata__" entry.
struct SafetensorsFile {
    std::vector<Tensor> tensors;
    std::map<std::string, std::string> metadata;

    /// The tensor called `name`, or nullptr.
    [[nodiscard]] const Tensor* find(std::string_view name) const {
        for (const Tensor& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
};

namespace detail {

/// Largest header length load_safetensors accepts (a larger one means a corrupt file).
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

/// A safetensors dtype: its name, element size in bytes, and whether ctnn can convert it.
struct SafetensorsDtype {
    std::string_view name;
    std::size_t size;
    bool supported;
};

/// Looks up a dtype name; nullptr if it is not a safetensors dtype at all.
[[nodiscard]] inline const SafetensorsDtype* find_safetensors_dtype(std::string_view name) {
    static constexpr std::array<SafetensorsDtype, 20> table{{
        {"F32", 4, true},  {"F64", 8, true},      {"F16", 2, true},      {"BF16", 2, true},
        {"I64", 8, true},  {"I32", 4, true},      {"I16", 2, true},      {"I8", 1, true},
        {"U64", 8, true},  {"U32", 4, true},      {"U16", 2, true},      {"U8", 1, true},
        {"BOOL", 1, true}, {"F8_E4M3", 1, false}, {"F8_E5M2", 1, false}, {"F8_E8M0", 1, false},
        {"F4", 1, false},  {"F6_E2M3", 1, false}, {"F6_E3M2", 1, false}, {"C64", 8, false},
    }};
    for (const SafetensorsDtype& d : table)
        if (d.name == name) return &d;
    return nullptr;
}

/// One tensor entry of a checked header.
struct SafetensorsEntry {
    std::string name;
    const SafetensorsDtype* dtype = nullptr;
    std::vector<std::int64_t> shape;
    std::size_t count = 0;   ///< number of elements
    std::uint64_t begin = 0; ///< data_offsets, relative to the buffer
    std::uint64_t end = 0;
};

/// The checked header: entries sorted by data offset, and the metadata.
struct SafetensorsLayout {
    std::vector<SafetensorsEntry> entries;
    std::map<std::string, std::string> metadata;
};

/// Parses and checks a header (the N JSON bytes at file offset 8) against the size of the data
/// buffer that follows it, within `limits` (JSON values, nesting, tensor rank).
[[nodiscard]] inline SafetensorsLayout parse_safetensors_header(std::string_view header,
                                                                const std::string& file,
                                                                std::uint64_t buffer_size,
                                                                const ReadLimits& limits = {}) {
    using Kind = JsonValue::Kind;
    constexpr std::uint64_t base = 8;
    const std::uint64_t data_start = base + header.size();
    if (header.empty() || header.front() != '{')
        throw io_error(file, base, "the header must be a JSON object starting with '{'");
    const JsonValue root = parse_json(header, file, base, limits);

    SafetensorsLayout layout;
    for (const JsonMember& m : root.members) {
        const JsonValue& v = m.value;
        if (m.key == "__metadata__") {
            if (v.kind != Kind::object)
                throw io_error(
                    file, v.offset,
                    std::string("\"__metadata__\" must be an object of strings, found ") +
                        json_kind_name(v.kind));
            for (const JsonMember& kv : v.members) {
                if (kv.value.kind != Kind::string)
                    throw io_error(file, kv.value.offset,
                                   std::string("metadata value \"") + kv.key +
                                       "\" must be a string, found " +
                                       json_kind_name(kv.value.kind));
                layout.metadata[kv.key] = kv.value.text;
            }
            continue;
        }
        const std::string tensor = std::string("tensor \"") + m.key + "\"";
        if (v.kind != Kind::object)
            throw io_error(file, v.offset,
                           tensor + " must be an object, found " + json_kind_name(v.kind));
        for (const JsonMember& f : v.members)
            if (f.key != "dtype" && f.key != "shape" && f.key != "data_offsets")
                throw io_error(file, f.key_offset,
                               tensor + " has an unknown field \"" + f.key + "\"");
        const auto field = [&](const char* key, Kind kind) -> const JsonValue& {
            const JsonValue* p = v.find(key);
            if (p == nullptr)
                throw io_error(file, v.offset,
                               tensor + " lacks the field \"" + std::string(key) + "\"");
            if (p->kind != kind)
                throw io_error(file, p->offset,
                               tensor + ": \"" + key + "\" must be " + json_kind_name(kind) +
                                   std::string(", found ") + json_kind_name(p->kind));
            return *p;
        };
        SafetensorsEntry e;
        e.name = m.key;

        const JsonValue& dtype = field("dtype", Kind::string);
        e.dtype = find_safetensors_dtype(dtype.text);
        if (e.dtype == nullptr)
            throw io_error(file, dtype.offset,
                           tensor + " has an unknown dtype \"" + dtype.text + "\"");
        if (!e.dtype->supported)
            throw io_error(file, dtype.offset,
                           tensor + " has dtype " + dtype.text +
                               ", which ctnn cannot read (it reads F32, F64, F16, BF16, I64, I32, "
                               "I16, I8, U64, U32, U16, U8 and BOOL)");

        const JsonValue& shape = field("shape", Kind::array);
        if (shape.items.size() > limits.max_rank)
            throw io_error(file, shape.items[limits.max_rank].offset,
                           tensor + ": shape has " + std::to_string(shape.items.size()) +
                               " dimensions, more than the limit of " +
                               std::to_string(limits.max_rank) + " (ReadLimits::max_rank)");
        e.count = 1;
        bool overflow = false;
        for (const JsonValue& d : shape.items) {
            const auto dim = d.as_uint64();
            if (!dim || *dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                throw io_error(file, d.offset,
                               tensor + ": shape entries must be non-negative integers, found " +
                                   (d.kind == Kind::number ? d.text : json_kind_name(d.kind)));
            e.shape.push_back(static_cast<std::int64_t>(*dim));
            if (*dim > std::numeric_limits<std::size_t>::max() ||
                !checked_mul(e.count, static_cast<std::size_t>(*dim), e.count))
                overflow = true;
        }
        std::size_t nbytes = 0;
        if (overflow || !checked_mul(e.count, e.dtype->size, nbytes))
            throw io_error(file, shape.offset,
                           tensor + ": shape " + format_dims(e.shape) + " is too large");

        const JsonValue& offsets = field("data_offsets", Kind::array);
        if (offsets.items.size() != 2)
            throw io_error(file, offsets.offset,
                           tensor + ": \"data_offsets\" must hold 2 numbers [begin, end], found " +
                               std::to_string(offsets.items.size()));
        for (const JsonValue& o : offsets.items)
            if (!o.as_uint64())
                throw io_error(file, o.offset,
                               tensor + ": data offsets must be non-negative integers, found " +
                                   (o.kind == Kind::number ? o.text : json_kind_name(o.kind)));
        e.begin = *offsets.items[0].as_uint64();
        e.end = *offsets.items[1].as_uint64();
        const std::string range =
            std::string("[") + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
        if (e.begin > e.end)
            throw io_error(file, offsets.offset,
                           tensor + ": data_offsets " + range + " end before they begin");
        if (e.end - e.begin != nbytes)
            throw io_error(file, offsets.offset,
                           tensor + ": shape " + format_dims(e.shape) + " of " + dtype.text +
                               std::string(" needs ") + std::to_string(nbytes) +
                               " bytes, but data_offsets " + range + " span " +
                               std::to_string(e.end - e.begin));
        if (e.end > buffer_size)
            throw io_error(file, offsets.offset,
                           tensor + ": data_offsets " + range +
                               std::string(" run past the end of the data buffer (") +
                               std::to_string(buffer_size) + " bytes)");
        layout.entries.push_back(std::move(e));
    }

    // The tensors must tile the buffer exactly.
    std::stable_sort(layout.entries.begin(), layout.entries.end(),
                     [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                         return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
                     });
    std::uint64_t covered = 0;
    const SafetensorsEntry* prev = nullptr;
    for (const SafetensorsEntry& e : layout.entries) {
        const std::string range =
            std::string("[") + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
        if (e.begin < covered)
            throw io_error(file, data_start + e.begin,
                           std::string("the data of tensor \"") + e.name + "\" " + range +
                               std::string(" overlaps the data of tensor \"") + prev->name +
                               "\" [" + std::to_string(prev->begin) + ", " +
                               std::to_string(prev->end) + ")");
        if (e.begin > covered)
            throw io_error(file, data_start + covered,
                           std::string("gap of ") + std::to_string(e.begin - covered) +
                               std::string(" unused bytes in the data buffer before tensor \"") +
                               e.name + std::string("\" ") + range);
        covered = e.end;
        prev = &e;
    }
    if (covered != buffer_size)
        throw io_error(file, data_start + covered,
                       std::to_string(buffer_size - covered) +
                           " bytes left over in the data buffer after the last tensor");
    return layout;
}

/// Converts `e.count` little-endian elements of e's dtype at p to float.
inline void decode_safetensors(const std::uint8_t* p, const SafetensorsEntry& e, float* out,
                               const std::string& file, std::uint64_t file_offset) {
    const std::size_t n = e.count;
    const std::string_view dt = e.dtype->name;
    if (dt == "F32") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = std::bit_cast<float>(load_le<std::uint32_t>(p + 4 * i));
    } else if (dt == "F64") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<float>(std::bit_cast<double>(load_le<std::uint64_t>(p + 8 * i)));
    } else if (dt == "F16") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = f16_to_float(load_le<std::uint16_t>(p + 2 * i));
    } else if (dt == "BF16") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = bf16_to_float(load_le<std::uint16_t>(p + 2 * i));
    } else if (dt == "I64") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] =
                static_cast<float>(static_cast<std::int64_t>(load_le<std::uint64_t>(p + 8 * i)));
    } else if (dt == "I32") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] =
                static_cast<float>(static_cast<std::int32_t>(load_le<std::uint32_t>(p + 4 * i)));
    } else if (dt == "I16") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] =
                static_cast<float>(static_cast<std::int16_t>(load_le<std::uint16_t>(p + 2 * i)));
    } else if (dt == "I8") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<float>(static_cast<std::int8_t>(p[i]));
    } else if (dt == "U64") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<float>(load_le<std::uint64_t>(p + 8 * i));
    } else if (dt == "U32") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<float>(load_le<std::uint32_t>(p + 4 * i));
    } else if (dt == "U16") {
        for (std::size_t i = 0; i < n; ++i)
            out[i] = static_cast<float>(load_le<std::uint16_t>(p + 2 * i));
    } else if (dt == "U8") {
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
    } else if (dt == "BOOL") {
        for (std::size_t i = 0; i < n; ++i) {
            if (p[i] > 1)
                throw io_error(file, file_offset + i,
                               std::string("tensor \"") + e.name +
                                   "\" of dtype BOOL holds the byte " + hex_byte(p[i]) +
                                   " (expected 0x00 or 0x01)");
            out[i] = static_cast<float>(p[i]);
        }
    } else {
        throw io_error(file, file_offset, std::string("cannot convert dtype ") + std::string(dt));
    }
}

/// The JSON header ctnn writes for these tensors (F32, data in the given order), padded with
/// spaces so that the data starts at a multiple of 8 bytes.
[[nodiscard]] inline std::string
make_safetensors_header(std::span<const TensorView> tensors,
                        const std::map<std::string, std::string>& metadata) {
    std::string h = "{";
    bool first = true;
    if (!metadata.empty()) {
        h += "\"__metadata__\":{";
        for (const auto& [k, v] : metadata) {
            if (!first) h += ',';
            first = false;
            append_json_string(h, k);
            h += ':';
            append_json_string(h, v);
        }
        h += '}';
        first = false;
    }
    std::uint64_t offset = 0;
    for (const TensorView& t : tensors) {
        if (!first) h += ',';
        first = false;
        append_json_string(h, t.name);
        h += ":{\"dtype\":\"F32\",\"shape\":[";
        for (std::size_t i = 0; i < t.shape.size(); ++i) {
            if (i != 0) h += ',';
            h += std::to_string(t.shape[i]);
        }
        const std::uint64_t end = offset + 4 * static_cast<std::uint64_t>(t.data.size());
        h += std::string("],\"data_offsets\":[") + std::to_string(offset) + "," +
             std::to_string(end) + "]}";
        offset = end;
    }
    h += '}';
    h.append((8 - h.size() % 8) % 8, ' ');
    return h;
}

} // namespace detail

/// Saves F32 tensors (in the given order) and string metadata as a safetensors file that
/// Python's `safetensors` loads. The file is written to a temporary file in the same directory
/// and renamed over `path` only once it is complete and synced, so a failed save never destroys
/// an existing file. Throws shape_error if a shape has a negative entry or its product differs
/// from data.size(); argument_error for duplicate or reserved names and non-UTF-8 strings;
/// io_error naming the file if it cannot be written.
inline void save_safetensors(const std::filesystem::path& path, std::span<const TensorView> tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
    const std::string file = path.string();
    std::set<std::string_view> names;
    for (const TensorView& t : tensors) {
        if (!detail::is_valid_utf8(t.name))
            throw argument_error(std::string("save_safetensors(") + file + "): tensor name " +
                                 detail::quote_excerpt(t.name) + " is not valid UTF-8");
        if (t.name == "__metadata__")
            throw argument_error(std::string("save_safetensors(") + file +
                                 "): \"__metadata__\" is reserved and cannot name a tensor");
        if (!names.insert(t.name).second)
            throw argument_error(std::string("save_safetensors(") + file +
                                 "): two tensors are named \"" + t.name + "\"");
        std::size_t count = 1;
        bool overflow = false;
        for (const std::int64_t d : t.shape) {
            if (d < 0)
                throw shape_error(std::string("save_safetensors(") + file + "): tensor \"" +
                                  t.name + std::string("\" has a negative dimension in shape ") +
                                  detail::format_dims(t.shape));
            if (!detail::checked_mul(count, static_cast<std::size_t>(d), count)) overflow = true;
        }
        if (overflow || count != t.data.size())
            throw shape_error(std::string("save_safetensors(") + file + "): tensor \"" + t.name +
                              std::string("\" has shape ") + detail::format_dims(t.shape) + " (" +
                              (overflow ? std::string("too many") : std::to_string(count)) +
                              std::string(" values) but ") + std::to_string(t.data.size()) +
                              " data values");
    }
    for (const auto& [k, v] : metadata)
        if (!detail::is_valid_utf8(k) || !detail::is_valid_utf8(v))
            throw argument_error(std::string("save_safetensors(") + file + "): metadata entry " +
                                 detail::quote_excerpt(k) + " is not valid UTF-8");

    const std::string header = detail::make_safetensors_header(tensors, metadata);
    detail::AtomicFileWriter out(path);
    std::uint8_t len[8];
    detail::store_le<std::uint64_t>(len, header.size());
    out.write(len, sizeof len);
    out.write(header.data(), header.size());
    for (const TensorView& t : tensors) {
        if constexpr (std::endian::native == std::endian::little) {
            out.write(t.data.data(), t.data.size_bytes());
        } else {
            std::vector<std::uint8_t> le(t.data.size() * 4);
            for (std::size_t i = 0; i < t.data.size(); ++i)
                detail::store_le(le.data() + 4 * i, std::bit_cast<std::uint32_t>(t.data[i]));
            out.write(le.data(), le.size());
        }
    }
    out.commit();
}

/// Loads a safetensors file, converting every tensor to float (see the supported dtypes above).
/// Throws io_error naming the file and byte offset for: a file shorter than 8 bytes, a header
/// length beyond the file or above 100 MB, invalid JSON, a header beyond `limits` (JSON values,
/// nesting, tensor rank), missing or ill-typed fields, unknown or unsupported dtypes, a shape that
/// does not match its data_offsets, offsets outside the buffer, overlapping tensors, gaps, bytes
/// left over after the last tensor; and io_error naming the file for running out of memory.
[[nodiscard]] inline SafetensorsFile load_safetensors(const std::filesystem::path& path,
                                                      const ReadLimits& limits = {}) {
    const std::string file = path.string();
    return detail::reporting_memory_errors(file, [&] {
        detail::FilePtr f = detail::open_for_reading(path);
        std::error_code ec;
        const std::uintmax_t size = std::filesystem::file_size(path, ec);
        if (ec) throw io_error(file, std::string("cannot get the file size: ") + ec.message());
        if (size < 8)
            throw io_error(
                file, size,
                std::string("file is ") + std::to_string(size) +
                    " bytes long; a safetensors file starts with an 8-byte header length");
        std::uint8_t len_bytes[8];
        detail::read_exact(f.get(), len_bytes, 8, file, 0);
        const std::uint64_t n = detail::load_le<std::uint64_t>(len_bytes);
        if (n > detail::safetensors_max_header)
            throw io_error(file, 0,
                           std::string("header length ") + std::to_string(n) +
                               " exceeds the limit of " +
                               std::to_string(detail::safetensors_max_header) +
                               " bytes (corrupt file, or not a safetensors file)");
        if (n > size - 8)
            throw io_error(file, 0,
                           std::string("header length ") + std::to_string(n) +
                               " runs past the end of the file (" + std::to_string(size) +
                               " bytes, so at most " + std::to_string(size - 8) +
                               " are left for the header)");
        std::string header(static_cast<std::size_t>(n), '\0');
        detail::read_exact(f.get(), header.data(), header.size(), file, 8);
        const std::uint64_t data_start = 8 + n;
        detail::SafetensorsLayout layout =
            detail::parse_safetensors_header(header, file, size - data_start, limits);

        SafetensorsFile result;
        result.metadata = std::move(layout.metadata);
        result.tensors.reserve(layout.entries.size());
        std::vector<std::uint8_t> scratch;
        for (detail::SafetensorsEntry& e : layout.entries) {
            Tensor t;
            t.name = e.name;
            t.dtype = std::string(e.dtype->name);
            t.shape = e.shape;
            t.data.resize(e.count);
            const std::uint64_t at = data_start + e.begin;
            const auto nbytes = static_cast<std::size_t>(e.end - e.begin);
            if (std::endian::native == std::endian::little && e.dtype->name == "F32") {
                detail::read_exact(f.get(), t.data.data(), nbytes, file, at);
            } else {
                scratch.resize(nbytes);
                detail::read_exact(f.get(), scratch.data(), nbytes, file, at);
                detail::decode_safetensors(scratch.data(), e, t.data.data(), file, at);
            }
            result.tensors.push_back(std::move(t));
        }
        if (std::fgetc(f.get()) != EOF)
            throw io_error(file, size, "the file grew while it was being read");
        return result;
    });
}

} // namespace ctnn::io
