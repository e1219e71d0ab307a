// fuzz/csv_fuzz.cpp — libFuzzer harness for the CSV reader.
//
// Input: one byte choosing the options (delimiter, header mode, task, label column), then the
// file content. Malformed input must end in ctnn::io_error; anything else is a bug. Every
// accepted file must give a dataset that passes Dataset::validate().
// Build: clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -DCTNN_HAS_ZLIB=1
//        -Iinclude fuzz/csv_fuzz.cpp -lz -o csv_fuzz
#include <ctnn/io/csv.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t sel = data[0];
    ctnn::io::CsvOptions opt;
    constexpr char delimiters[] = {',', ';', '\t', ' '};
    opt.delimiter = delimiters[sel & 3];
    switch ((sel >> 2) & 3) {
    case 0: opt.header.reset(); break;
    case 1: opt.header = true; break;
    default: opt.header = false; break;
    }
    if ((sel >> 4) & 1) {
        opt.task = ctnn::io::CsvTask::regression;
        opt.target_count = 1 + ((sel >> 6) & 1);
    }
    opt.label_column = ((sel >> 5) & 1) ? 0 : -1;
    std::vector<char> text(data + 1, data + size);
    try {
        const ctnn::Dataset ds = ctnn::io::detail::parse_csv(text, "fuzz.csv", opt);
        ds.validate();
    } catch (const ctnn::io_error&) {
    }
    return 0;
}
