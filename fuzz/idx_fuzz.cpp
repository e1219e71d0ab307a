// fuzz/idx_fuzz.cpp — libFuzzer harness for the IDX reader and the gzip decoder.
//
// Input: the bytes of a file (plain or gzip), written to a scratch file and read with read_idx
// and, as both the images and the labels, read_idx_dataset: the whole path a user's file takes
// (bounded file read, size probe, gzip, header and data checks). Malformed input must end in
// ctnn::io_error; any other exception, crash, leak or sanitizer report is a bug. Limits are
// fuzz-sized (fuzz_file.hpp) so that megabyte inputs, gzip bombs included, stay cheap.
// Build and run: fuzz/run.sh (or see its build line).
#include "fuzz_file.hpp"

#include <ctnn/io/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ctnn_fuzz::ScratchFile file(".idx");
    const auto& path = file.write(data, size);
    try {
        const ctnn::io::IdxArray a = ctnn::io::read_idx(path, ctnn_fuzz::limits());
        std::size_t count = 1;
        for (const std::size_t d : a.dims) count *= d;
        if (a.dims.empty() || count != a.data.size()) std::abort();
    } catch (const ctnn::io_error&) {
    }
    try {
        const ctnn::Dataset ds = ctnn::io::read_idx_dataset(path, path, 1.0f, ctnn_fuzz::limits());
        ds.validate();
        if (ds.labels.size() != ds.size()) std::abort();
    } catch (const ctnn::io_error&) {
    }
    return 0;
}
