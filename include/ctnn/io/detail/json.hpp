// ctnn/io/detail/json.hpp — a small, strict JSON (RFC 8259) parser and string writer.
//
// Used for the safetensors header. The parser builds a tree of JsonValue; every value remembers
// the absolute byte offset where it starts in the file, so later semantic checks can point at it.
// Strict means: no comments, no trailing commas, no leading zeros or '+' in numbers, no control
// characters in strings, valid UTF-8 only, no lone surrogates in \u escapes, no duplicate keys,
// nothing but whitespace after the top-level value. The nesting depth (64) and the number of values
// (100,000) are limited (ReadLimits::max_json_depth, max_json_values), so that a small hostile
// text cannot make a tree many times its size.
#pragma once
#include "../../config.hpp"
#include "../../core/error.hpp"
#include "../limits.hpp"
#include "bytes.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctnn::io::detail {

struct JsonMember;

/// One JSON value. Strings hold their unescaped UTF-8 text; numbers hold their literal text.
struct JsonValue {
    /// The JSON type of a value.
    enum class Kind : std::uint8_t { null, boolean, number, string, array, object };

    Kind kind = Kind::null;
    bool boolean = false;            ///< value of a boolean
    std::string text;                ///< string value, or a number's literal text
    std::vector<JsonValue> items;    ///< array elements
    std::vector<JsonMember> members; ///< object members in file order
    std::uint64_t offset = 0;        ///< absolute byte offset of the value's first character

    /// The member named `key` of an object, or nullptr.
    [[nodiscard]] const JsonValue* find(std::string_view key) const;

    /// The value of a number literal that is a non-negative integer without fraction or exponent
    /// and fits in 64 bits; nullopt otherwise.
    [[nodiscard]] std::optional<std::uint64_t> as_uint64() const {
        if (kind != Kind::number || text.empty() || text.size() > 20) return std::nullopt;
        std::uint64_t v = 0;
        for (const char c : text) {
            if (c < '0' || c > '9') return std::nullopt;
            const auto d = static_cast<std::uint64_t>(c - '0');
            if (v > (UINT64_MAX - d) / 10) return std::nullopt;
            v = v * 10 + d;
        }
        return v;
    }
};

/// A key and its value inside a JSON object.
struct JsonMember {
    std::string key;
    std::uint64_t key_offset = 0; ///< absolute byte offset of the key's opening quote
    JsonValue value;
};

inline const JsonValue* JsonValue::find(std::string_view key) const {
    for (const JsonMember& m : members)
        if (m.key == key) return &m.value;
    return nullptr;
}

/// Human-readable name of a JSON kind ("object", "string", ...), for error messages.
[[nodiscard]] inline const char* json_kind_name(JsonValue::Kind k) noexcept {
    switch (k) {
    case JsonValue::Kind::null: return "null";
    case JsonValue::Kind::boolean: return "a boolean";
    case JsonValue::Kind::number: return "a number";
    case JsonValue::Kind::string: return "a string";
    case JsonValue::Kind::array: return "an array";
    case JsonValue::Kind::object: return "an object";
    }
    return "?";
}

/// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not valid
/// UTF-8 (overlong forms, surrogates and code points above U+10FFFF are invalid).
[[nodiscard]] inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf; // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;      // no overlong 3-byte forms
        else if (c == 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;      // no overlong 4-byte forms
        else if (c == 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() - i < n) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    return n;
}

/// True when the whole string is valid UTF-8.
[[nodiscard]] inline bool is_valid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

/// Appends the UTF-8 encoding of a code point (<= U+10FFFF, not a surrogate).
inline void append_utf8(std::string& out, std::uint32_t cp) {
    const auto put = [&](std::uint32_t v) {
        out += static_cast<char>(static_cast<unsigned char>(v));
    };
    if (cp < 0x80) {
        put(cp);
    } else if (cp < 0x800) {
        put(0xc0 | (cp >> 6));
        put(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        put(0xe0 | (cp >> 12));
        put(0x80 | ((cp >> 6) & 0x3f));
        put(0x80 | (cp & 0x3f));
    } else {
        put(0xf0 | (cp >> 18));
        put(0x80 | ((cp >> 12) & 0x3f));
        put(0x80 | ((cp >> 6) & 0x3f));
        put(0x80 | (cp & 0x3f));
    }
}

/// Appends `s` as a JSON string literal (with quotes); `s` must be valid UTF-8.
inline void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += "0123456789abcdef"[c >> 4];
                out += "0123456789abcdef"[c & 0xf];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

/// Parses one JSON document; errors throw io_error(file, base + position, "invalid JSON: ..."),
/// and so does a document deeper or with more values than `limits` allow.
class JsonParser {
public:
    /// `text` is the document; `base` is the file offset of its first byte.
    JsonParser(std::string_view text, std::string file, std::uint64_t base,
               const ReadLimits& limits = {})
        : s_(text), file_(std::move(file)), base_(base), max_depth_(limits.max_json_depth),
          max_values_(limits.max_json_values) {}

    /// Parses the whole text: one value, optionally surrounded by whitespace.
    [[nodiscard]] JsonValue parse_document() {
        skip_ws();
        JsonValue v = parse_value(0);
        skip_ws();
        if (pos_ != s_.size())
            fail(pos_, std::string("unexpected ") + describe(pos_) + " after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(std::size_t at, const std::string& what) const {
        throw io_error(file_, base_ + at, std::string("invalid JSON: ") + what);
    }

    [[noreturn]] void fail_depth() const {
        fail(pos_, std::string("nesting deeper than ") + std::to_string(max_depth_) +
                       " (ReadLimits::max_json_depth)");
    }

    std::string describe(std::size_t at) const {
        if (at >= s_.size()) return "end of data";
        const auto c = static_cast<unsigned char>(s_[at]);
        if (c >= 0x21 && c < 0x7f) return std::string("character '") + s_[at] + "'";
        return std::string("byte ") + hex_byte(c);
    }

    void skip_ws() noexcept {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    void expect_literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word)
            fail(pos_,
                 std::string("expected '") + std::string(word) + "', found " + describe(pos_));
        pos_ += word.size();
    }

    JsonValue parse_value(std::size_t depth) {
        if (pos_ >= s_.size()) fail(pos_, "expected a value, found end of data");
        // Counted before anything is built, so the limit bounds the tree's memory.
        if (++values_ > max_values_)
            throw io_error(file_, base_ + pos_,
                           std::string("more than ") + std::to_string(max_values_) +
                               " JSON values, the limit set by ReadLimits::max_json_values");
        JsonValue v;
        v.offset = base_ + pos_;
        switch (s_[pos_]) {
        case '{': parse_object(v, depth); break;
        case '[': parse_array(v, depth); break;
        case '"':
            v.kind = JsonValue::Kind::string;
            v.text = parse_string();
            break;
        case 't':
            expect_literal("true");
            v.kind = JsonValue::Kind::boolean;
            v.boolean = true;
            break;
        case 'f':
            expect_literal("false");
            v.kind = JsonValue::Kind::boolean;
            break;
        case 'n': expect_literal("null"); break;
        default:
            if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) {
                v.kind = JsonValue::Kind::number;
                v.text = parse_number();
            } else {
                fail(pos_, std::string("expected a value, found ") + describe(pos_));
            }
        }
        return v;
    }

    void parse_object(JsonValue& v, std::size_t depth) {
        if (depth >= max_depth_) fail_depth();
        v.kind = JsonValue::Kind::object;
        ++pos_; // '{'
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return;
        }
        for (;;) {
            if (pos_ >= s_.size() || s_[pos_] != '"')
                fail(pos_, std::string("expected a string key, found ") + describe(pos_));
            JsonMember m;
            m.key_offset = base_ + pos_;
            m.key = parse_string();
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':')
                fail(pos_, std::string("expected ':' after a key, found ") + describe(pos_));
            ++pos_;
            skip_ws();
            m.value = parse_value(depth + 1);
            v.members.push_back(std::move(m));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                skip_ws();
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                check_duplicate_keys(v);
                return;
            }
            fail(pos_, std::string("expected ',' or '}' in an object, found ") + describe(pos_));
        }
    }

    // Sorting key indices finds duplicates in O(n log n), also for headers with many tensors.
    void check_duplicate_keys(const JsonValue& v) const {
        if (v.members.size() < 2) return;
        std::vector<std::size_t> order(v.members.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return v.members[a].key < v.members[b].key ||
                   (v.members[a].key == v.members[b].key && a < b);
        });
        for (std::size_t i = 1; i < order.size(); ++i) {
            const JsonMember& m = v.members[order[i]];
            if (m.key == v.members[order[i - 1]].key)
                fail(static_cast<std::size_t>(m.key_offset - base_),
                     std::string("duplicate key \"") + m.key + "\"");
        }
    }

    void parse_array(JsonValue& v, std::size_t depth) {
        if (depth >= max_depth_) fail_depth();
        v.kind = JsonValue::Kind::array;
        ++pos_; // '['
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return;
        }
        for (;;) {
            v.items.push_back(parse_value(depth + 1));
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                skip_ws();
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return;
            }
            fail(pos_, std::string("expected ',' or ']' in an array, found ") + describe(pos_));
        }
    }

    std::string parse_number() {
        const std::size_t start = pos_;
        const auto digit = [&](std::size_t at) {
            return at < s_.size() && s_[at] >= '0' && s_[at] <= '9';
        };
        if (s_[pos_] == '-') ++pos_;
        if (!digit(pos_)) fail(pos_, std::string("expected a digit, found ") + describe(pos_));
        if (s_[pos_] == '0') {
            ++pos_;
            if (digit(pos_)) fail(pos_, "leading zeros are not allowed in numbers");
        } else {
            while (digit(pos_)) ++pos_;
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (!digit(pos_))
                fail(pos_, std::string("expected a digit after '.', found ") + describe(pos_));
            while (digit(pos_)) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digit(pos_))
                fail(pos_,
                     std::string("expected a digit in the exponent, found ") + describe(pos_));
            while (digit(pos_)) ++pos_;
        }
        return std::string(s_.substr(start, pos_ - start));
    }

    std::uint32_t parse_hex4(std::size_t at) {
        if (s_.size() - at < 4) fail(at, "incomplete \\u escape");
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = s_[at + k];
            std::uint32_t d = 0;
            if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
            else fail(at + k, std::string("invalid hex digit in \\u escape: ") + describe(at + k));
            v = v * 16 + d;
        }
        return v;
    }

    std::string parse_string() {
        const std::size_t open = pos_;
        ++pos_; // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) fail(open, "unterminated string");
            const auto c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20)
                fail(pos_, std::string("control character ") + hex_byte(c) + " inside a string");
            if (c != '\\') {
                const std::size_t n = utf8_sequence_length(s_, pos_);
                if (n == 0)
                    fail(pos_, std::string("invalid UTF-8 byte ") + hex_byte(c) + " in a string");
                out.append(s_.substr(pos_, n));
                pos_ += n;
                continue;
            }
            const std::size_t esc = pos_;
            if (pos_ + 1 >= s_.size()) fail(open, "unterminated string");
            const char e = s_[pos_ + 1];
            pos_ += 2;
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                std::uint32_t cp = parse_hex4(pos_);
                pos_ += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff) fail(esc, "lone low surrogate in \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (s_.substr(pos_, 2) != "\\u")
                        fail(esc, "high surrogate in \\u escape without a low surrogate");
                    const std::uint32_t lo = parse_hex4(pos_ + 2);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        fail(pos_, "high surrogate in \\u escape without a low surrogate");
                    pos_ += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                append_utf8(out, cp);
                break;
            }
            default:
                fail(esc, std::string("invalid escape sequence in a string: ") + describe(esc + 1));
            }
        }
    }

    std::string_view s_;
    std::string file_;
    std::uint64_t base_;
    std::size_t max_depth_;
    std::size_t max_values_;
    std::size_t pos_ = 0;
    std::size_t values_ = 0; // values begun so far
};

/// Parses a JSON document that starts at file offset `base` of `file`, within `limits`
/// (max_json_depth, max_json_values).
[[nodiscard]] inline JsonValue parse_json(std::string_view text, const std::string& file,
                                          std::uint64_t base = 0, const ReadLimits& limits = {}) {
    return JsonParser(text, file, base, limits).parse_document();
}

} // namespace ctnn::io::detail
