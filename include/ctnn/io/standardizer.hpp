// ctnn/io/standardizer.hpp — a Standardizer saved in safetensors metadata: inside a checkpoint
// (next to the model's tensors) or in a file of its own.
//
// Two metadata entries hold it, "ctnn.standardizer.mean" and "ctnn.standardizer.scale", each a
// JSON array of per-feature floats written as the shortest decimal that reads back as the same
// float (std::to_chars), so a load gives the saved values bit for bit. Metadata, not tensors:
// Model::load and PyTorch's load_state_dict(strict=True) reject tensors they do not know, while
// both ignore metadata; in Python, json.loads(metadata["ctnn.standardizer.mean"]) reads it back.
#pragma once
#include "../config.hpp"
#include "../core/error.hpp"
#include "../core/standardizer.hpp"
#include "detail/json.hpp"
#include "safetensors.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ctnn::io {

/// Metadata key of the standardizer's per-feature means.
inline constexpr std::string_view standardizer_mean_key = "ctnn.standardizer.mean";
/// Metadata key of the standardizer's per-feature scales.
inline constexpr std::string_view standardizer_scale_key = "ctnn.standardizer.scale";

namespace detail {

/// "[v0,v1,...]" with each value the shortest decimal that reads back as the same float.
[[nodiscard]] inline std::string float_list_json(std::span<const float> values) {
    std::string out = "[";
    char buf[32];
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) out += ',';
        const auto r = std::to_chars(buf, buf + sizeof buf, values[i]);
        out.append(buf, r.ptr);
    }
    out += ']';
    return out;
}

/// The floats of a JSON array of numbers (as float_list_json writes). Throws io_error naming
/// `file` and `key` for anything else (not an array, a non-number, a value outside the float
/// range).
[[nodiscard]] inline std::vector<float>
parse_float_list(const std::string& text, const std::string& file, std::string_view key) {
    const auto fail = [&](const std::string& what) -> std::vector<float> {
        throw io_error(file, std::string("metadata entry \"") + std::string(key) + "\" " + what);
    };
    // The text is in memory already: allow as many JSON values as it could hold (the default
    // limit, 100,000, would refuse a standardizer of more features).
    ReadLimits limits;
    limits.max_json_values = text.size() + 1;
    JsonValue v;
    try {
        v = parse_json(text, file, 0, limits);
    } catch (const io_error& e) {
        return fail(std::string("is not a JSON array of numbers (") + e.what() + ")");
    }
    if (v.kind != JsonValue::Kind::array)
        return fail(std::string("is a JSON ") + json_kind_name(v.kind) +
                    ", expected an array of numbers");
    std::vector<float> out;
    out.reserve(v.items.size());
    for (std::size_t i = 0; i < v.items.size(); ++i) {
        const JsonValue& item = v.items[i];
        float f = 0.0f;
        const char* b = item.text.data();
        const char* e = b + item.text.size();
        const auto r = item.kind == JsonValue::Kind::number
                           ? std::from_chars(b, e, f)
                           : std::from_chars_result{b, std::errc{}};
        if (item.kind != JsonValue::Kind::number || r.ec != std::errc{} || r.ptr != e ||
            !std::isfinite(f))
            return fail("holds " +
                        (item.kind == JsonValue::Kind::number
                             ? "the number " + item.text + ", not a finite float,"
                             : std::string("a ") + json_kind_name(item.kind)) +
                        " at index " + std::to_string(i));
        out.push_back(f);
    }
    return out;
}

} // namespace detail

/// The metadata entries that hold `s` (see the top of this header). Throws argument_error if
/// `s` is not fitted.
[[nodiscard]] inline std::map<std::string, std::string>
standardizer_metadata(const Standardizer& s) {
    if (!s.fitted()) throw argument_error("standardizer_metadata: the Standardizer is not fitted");
    return {{std::string(standardizer_mean_key), detail::float_list_json(s.mean())},
            {std::string(standardizer_scale_key), detail::float_list_json(s.scale())}};
}

/// The Standardizer held in `metadata` (as standardizer_metadata writes it), or nullopt when
/// neither entry is there. Throws io_error naming `file` when only one entry is there or an
/// entry is malformed (not an array of finite floats, different lengths, a scale that is not
/// positive).
[[nodiscard]] inline std::optional<Standardizer>
find_standardizer(const std::map<std::string, std::string>& metadata, const std::string& file) {
    const auto mean = metadata.find(std::string(standardizer_mean_key));
    const auto scale = metadata.find(std::string(standardizer_scale_key));
    if (mean == metadata.end() && scale == metadata.end()) return std::nullopt;
    if (mean == metadata.end() || scale == metadata.end())
        throw io_error(file, std::string("metadata has \"") +
                                 std::string(mean == metadata.end() ? standardizer_scale_key
                                                                    : standardizer_mean_key) +
                                 "\" but not \"" +
                                 std::string(mean == metadata.end() ? standardizer_mean_key
                                                                    : standardizer_scale_key) +
                                 "\"; a standardizer needs both");
    std::vector<float> m = detail::parse_float_list(mean->second, file, standardizer_mean_key);
    std::vector<float> s = detail::parse_float_list(scale->second, file, standardizer_scale_key);
    try {
        return Standardizer(std::move(m), std::move(s));
    } catch (const argument_error& e) {
        throw io_error(file, std::string("the saved standardizer is invalid: ") + e.what());
    }
}

/// Adds `s` to an existing safetensors file, typically a checkpoint just written by
/// Model::save (which rewrites the file: call this after every save). The tensors and the other
/// metadata are kept (a standardizer already there is replaced); tensors stored in another dtype
/// than F32 are rewritten as F32. The file is replaced atomically, as by save_safetensors.
/// Throws io_error if the file cannot be read or written, argument_error if `s` is not fitted.
inline void add_standardizer(const std::filesystem::path& checkpoint, const Standardizer& s) {
    std::map<std::string, std::string> add = standardizer_metadata(s);
    const SafetensorsFile file = load_safetensors(checkpoint);
    std::map<std::string, std::string> metadata = file.metadata;
    for (auto& [k, v] : add) metadata[k] = std::move(v);
    std::vector<TensorView> views;
    views.reserve(file.tensors.size());
    for (const Tensor& t : file.tensors) views.push_back({t.name, t.shape, t.data});
    save_safetensors(checkpoint, views, metadata);
}

/// Saves `s` alone as a safetensors file (no tensors, the two metadata entries), replacing
/// `path` atomically. Throws io_error if it cannot be written, argument_error if `s` is not
/// fitted.
inline void save_standardizer(const std::filesystem::path& path, const Standardizer& s) {
    save_safetensors(path, {}, standardizer_metadata(s));
}

/// Loads the standardizer saved in `path` by add_standardizer or save_standardizer, with the
/// values it was saved with, bit for bit. Throws io_error naming the file if it cannot be read,
/// holds no standardizer, or holds a malformed one.
[[nodiscard]] inline Standardizer load_standardizer(const std::filesystem::path& path) {
    const SafetensorsFile file = load_safetensors(path);
    std::optional<Standardizer> s = find_standardizer(file.metadata, path.string());
    if (!s)
        throw io_error(path.string(), std::string("no standardizer in the file (no \"") +
                                          std::string(standardizer_mean_key) +
                                          "\" metadata); save one with add_standardizer or "
                                          "save_standardizer");
    return std::move(*s);
}

} // namespace ctnn::io
