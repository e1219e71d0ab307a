// fuzz/json_fuzz.cpp — libFuzzer harness for the strict JSON parser of the safetensors header.
//
// Input: a JSON text. Malformed input must end in ctnn::io_error. Every string the parser
// accepts must be valid UTF-8 and survive a write/parse round trip.
// Build and run: fuzz/run.sh (or see its build line).
#include <ctnn/io/detail/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check_strings(const ctnn::io::detail::JsonValue& v) {
    using ctnn::io::detail::JsonValue;
    const auto round_trip = [](const std::string& s) {
        if (!ctnn::io::detail::is_valid_utf8(s)) std::abort();
        std::string out;
        ctnn::io::detail::append_json_string(out, s);
        if (ctnn::io::detail::parse_json(out, "round-trip").text != s) std::abort();
    };
    if (v.kind == JsonValue::Kind::string) round_trip(v.text);
    for (const auto& item : v.items) check_strings(item);
    for (const auto& m : v.members) {
        round_trip(m.key);
        check_strings(m.value);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        check_strings(ctnn::io::detail::parse_json(text, "fuzz.json", 8));
    } catch (const ctnn::io_error&) {
    }
    return 0;
}
