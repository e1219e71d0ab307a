// fuzz/csv_fuzz.cpp — libFuzzer harness for the CSV reader.
//
// Input: two bytes choosing the options (delimiter, header mode, task, label column, skip_rows,
// text labels), then the file content (plain or gzip), written to a scratch file and read with
// read_csv_table under fuzz-sized limits (fuzz_file.hpp). Malformed input must end in
// ctnn::io_error; anything else is a bug. Every accepted file must give a dataset that passes
// Dataset::validate(), and text labels must index the returned class names.
// Build and run: fuzz/run.sh (or see its build line).
#include "fuzz_file.hpp"

#include <ctnn/io/csv.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    static const ctnn_fuzz::ScratchFile file(".csv");
    const std::uint8_t sel = data[0];
    const std::uint8_t sel2 = data[1];
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
    } else {
        opt.text_labels = ((sel >> 6) & 1) != 0;
    }
    opt.label_column = ((sel >> 5) & 1) ? 0 : -1;
    opt.skip_rows = sel2 & 3;
    const auto& path = file.write(data + 2, size - 2);
    try {
        const ctnn::io::CsvTable t = ctnn::io::read_csv_table(path, opt, ctnn_fuzz::limits());
        t.data.validate();
        if (!t.class_names.empty())
            for (const std::int32_t l : t.data.labels)
                if (l < 0 || static_cast<std::size_t>(l) >= t.class_names.size()) std::abort();
    } catch (const ctnn::io_error&) {
    }
    return 0;
}
