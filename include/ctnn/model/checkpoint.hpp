// ctnn/model/checkpoint.hpp — a model's parameters and buffers as a safetensors file (PyTorch's
// names and layouts), for Model::save and Model::load.
#pragma once
#include "../core/aligned.hpp"
#include "../core/error.hpp"
#include "../graph/sequential.hpp"
#include "../io/safetensors.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ctnn::detail {

/// Writes Net's parameters and buffers as F32 tensors (PyTorch's load_state_dict converts
/// num_batches_tracked back to int64), then the `extra` tensors, with the seed and the `meta`
/// entries as metadata; the file is replaced atomically.
template <class Net, class T>
void save_checkpoint(const std::filesystem::path& path, std::span<const T> params,
                     std::span<const T> buffers, std::uint64_t seed,
                     std::span<const io::TensorView> extra = {},
                     const std::map<std::string, std::string>& meta = {}) {
    std::vector<float> p32, b32;
    const float* p = nullptr;
    const float* b = nullptr;
    if constexpr (std::is_same_v<T, float>) {
        p = params.data();
        b = buffers.data();
    } else {
        p32.assign(params.begin(), params.end());
        b32.assign(buffers.begin(), buffers.end());
        p = p32.data();
        b = b32.data();
    }
    std::vector<io::TensorView> views;
    for (const ParamEntry& e : parameter_table<Net>())
        views.push_back({e.name, e.spec.shape(), std::span<const float>(p + e.offset, e.size)});
    for (const BufferEntry& e : buffer_table<Net>())
        views.push_back({e.name, e.spec.shape(), std::span<const float>(b + e.offset, e.size)});
    views.insert(views.end(), extra.begin(), extra.end());
    std::map<std::string, std::string> metadata = meta;
    metadata["format"] = "pt";
    metadata["ctnn.seed"] = std::to_string(seed);
    io::save_safetensors(path, views, metadata);
}

/// Reads Net's parameters and buffers from `file` (read from `path`) into params and buffers.
/// Every tensor of the model must be present with its shape, and no other tensor may be but the
/// `extra` ones (which the caller reads): otherwise throws shape_error naming the file and
/// tensor, leaving params and buffers unchanged.
template <class Net, class T, class PA, class BA>
void load_checkpoint(const io::SafetensorsFile& file, const std::filesystem::path& path,
                     std::vector<T, PA>& params, std::vector<T, BA>& buffers,
                     std::span<const std::string> extra = {}) {
    const auto table = parameter_table<Net>();
    const auto buffer_entries = buffer_table<Net>();
    std::vector<T, PA> next(Net::param_count);
    std::vector<T, BA> next_buffers(Net::buffer_count);
    auto read = [&](const std::string& name, const std::vector<std::int64_t>& shape,
                    std::size_t size, std::span<T> to, std::size_t offset) {
        const io::Tensor* t = file.find(name);
        if (!t)
            throw shape_error(path.string() + ": tensor '" + name +
                              "' of the model is missing from the file");
        if (t->shape != shape || t->data.size() != size)
            throw shape_error(path.string() + ": tensor '" + name + "' has shape " +
                              dims_str(t->shape) + ", the model expects " + dims_str(shape));
        std::copy(t->data.begin(), t->data.end(), to.begin() + static_cast<std::ptrdiff_t>(offset));
    };
    for (const ParamEntry& e : table) read(e.name, e.spec.shape(), e.size, next, e.offset);
    for (const BufferEntry& e : buffer_entries)
        read(e.name, e.spec.shape(), e.size, next_buffers, e.offset);
    for (const io::Tensor& t : file.tensors) {
        bool known = false;
        for (const ParamEntry& e : table) known = known || e.name == t.name;
        for (const BufferEntry& e : buffer_entries) known = known || e.name == t.name;
        for (const std::string& name : extra) known = known || name == t.name;
        if (!known)
            throw shape_error(path.string() + ": tensor '" + t.name +
                              "' in the file is not a parameter of the model");
    }
    params = std::move(next);
    buffers = std::move(next_buffers);
}

/// load_checkpoint of the safetensors file at `path`.
template <class Net, class T, class PA, class BA>
void load_checkpoint(const std::filesystem::path& path, std::vector<T, PA>& params,
                     std::vector<T, BA>& buffers) {
    load_checkpoint<Net>(io::load_safetensors(path), path, params, buffers);
}

} // namespace ctnn::detail
