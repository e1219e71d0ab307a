// fuzz/safetensors_fuzz.cpp — libFuzzer harness for load_safetensors.
//
// Input: the bytes of a file; they are written to a scratch file (fuzz_file.hpp) and loaded with
// the default ReadLimits. Malformed input must end in ctnn::io_error; anything else is a bug. A
// file that loads must save and load again to the same values.
// Build and run: fuzz/run.sh (or see its build line).
#include "fuzz_file.hpp"

#include <ctnn/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ctnn_fuzz::ScratchFile in_file(".safetensors");
    static const ctnn_fuzz::ScratchFile out_file("_out.safetensors");
    const auto& in = in_file.write(data, size);
    const auto& out = out_file.path();
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
