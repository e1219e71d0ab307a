// fuzz/safetensors_fuzz.cpp — libFuzzer harness for load_safetensors.
//
// Input: the bytes of a file; they are written to a temporary file (in /dev/shm when it exists)
// and loaded. Malformed input must end in ctnn::io_error; anything else is a bug. A file that
// loads must save and load again to the same values.
// Build: clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//        -Iinclude fuzz/safetensors_fuzz.cpp -o safetensors_fuzz
#include <ctnn/io/safetensors.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

std::filesystem::path scratch_dir() {
    std::error_code ec;
    const std::filesystem::path shm = "/dev/shm";
    return std::filesystem::is_directory(shm, ec) ? shm : std::filesystem::temp_directory_path();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::filesystem::path in =
        scratch_dir() / ("ctnn_fuzz_" + std::to_string(::getpid()) + ".safetensors");
    static const std::filesystem::path out =
        scratch_dir() / ("ctnn_fuzz_" + std::to_string(::getpid()) + "_out.safetensors");
    std::FILE* f = std::fopen(in.c_str(), "wb");
    if (f == nullptr) std::abort();
    if (size != 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    try {
        const ctnn::io::SafetensorsFile st = ctnn::io::load_safetensors(in);
        // Round trip what was loaded (as F32).
        std::vector<ctnn::io::TensorView> views;
        for (const auto& t : st.tensors) views.push_back({t.name, t.shape, t.data});
        ctnn::io::save_safetensors(out, views, st.metadata);
        const ctnn::io::SafetensorsFile again = ctnn::io::load_safetensors(out);
        if (again.tensors.size() != st.tensors.size() || again.metadata != st.metadata)
            std::abort();
        for (std::size_t i = 0; i < st.tensors.size(); ++i) {
            const auto& a = st.tensors[i].data;
            const auto& b = again.tensors[i].data;
            if (a.size() != b.size() ||
                (!a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0))
                std::abort();
        }
    } catch (const ctnn::io_error&) {
    }
    return 0;
}
