// fuzz/idx_fuzz.cpp — libFuzzer harness for the IDX reader and the gzip decoder.
//
// Input: the bytes of a file (plain or gzip). Malformed input must end in ctnn::io_error; any
// other exception, crash, leak or sanitizer report is a bug.
// Build: clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -DCTNN_HAS_ZLIB=1
//        -Iinclude fuzz/idx_fuzz.cpp -lz -o idx_fuzz
#include <ctnn/io/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> bytes(data, size);
    try {
        if (ctnn::io::detail::is_gzip(bytes)) {
            const auto plain = ctnn::io::detail::gunzip(bytes, "fuzz.gz");
            (void)ctnn::io::detail::parse_idx(plain, {"fuzz.gz", true});
            (void)ctnn::io::detail::parse_idx_labels(plain, {"fuzz.gz", true});
        } else {
            (void)ctnn::io::detail::parse_idx(bytes, {"fuzz", false});
            (void)ctnn::io::detail::parse_idx_labels(bytes, {"fuzz", false});
        }
    } catch (const ctnn::io_error&) {
    }
    return 0;
}
