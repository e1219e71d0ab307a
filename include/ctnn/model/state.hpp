// ctnn/model/state.hpp — the pieces of Model's state that do not depend on a backend: the
// optimizer state, the mirrors of its flat buffers, and the interfaces of its backend sides.
//
// A Model keeps each flat buffer (parameters, gradients, buffers) once on the host, in PyTorch's
// layout, and once where its backend computes (the CUDA device, or the fused CPU executor's packed
// layout). A Mirror records which copy is newest; the model refreshes the other one on demand,
// with one copy of the whole buffer. The backend sides are held through the interfaces below, so
// that Model<Net> has the same members in every translation unit, whatever it was compiled with
// (nvcc, host execution, the fused CPU kernels or not).
#pragma once
#include "../core/error.hpp"
#include "../optim/optimizer.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ctnn {

/// Forward-pass mode: training enables Dropout and BatchNorm's batch statistics.
enum class Mode { inference, training };

namespace detail {

/// The error of `who` (Model::forward, QuantizedModel::forward) for an input of `size` values
/// that is not `batch` samples of `in` values (batch 0: not a positive multiple of `in`); `shape`
/// names the input shape. Called only on the error path: a pass builds no string.
[[noreturn]] inline void throw_bad_input(std::size_t size, std::size_t batch, std::size_t in,
                                         const std::string& shape,
                                         const char* who = "Model::forward") {
    const std::string what =
        batch == 0 ? ", not a positive multiple of " + std::to_string(in)
                   : ", expected batch " + std::to_string(batch) + " x " + std::to_string(in);
    throw shape_error(std::string(who) + ": input holds " + std::to_string(size) + " values" +
                      what + " (input shape " + shape + ")");
}

/// A copy of an optimizer's state buffers that a model keeps where it updates (on the CUDA
/// device, or in the fused CPU executor's layout). `kind` names the concrete type.
template <class T>
struct StateCopy {
    explicit StateCopy(const void* k) : kind(k) {}
    StateCopy(const StateCopy&) = delete;
    StateCopy& operator=(const StateCopy&) = delete;
    virtual ~StateCopy() = default;
    /// Writes the values back into m and v, in the parameters' layout.
    virtual void read_into(std::span<T> m, std::span<T> v) const = 0;
    const void* const kind;
};

/// The flat buffers of a model.
enum class Buf { params, grads, buffers };

/// Where the newest values of a flat buffer are.
enum class Newest : std::uint8_t { both, host, backend };

/// A workspace a model makes at first use and does not copy (Model::input_gradient's executor).
struct Workspace {
    Workspace() = default;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    virtual ~Workspace() = default;
};

/// One flat buffer: its host copy and which copy is newest. `version` counts the changes of its
/// values (mark()): an executor that keeps a copy in its own layout (Model::predict's) repacks
/// when it has seen an older version.
template <class T, class Alloc = std::allocator<T>>
struct Mirror {
    std::vector<T, Alloc> host;
    Newest newest = Newest::both;
    std::uint64_t version = 0;
    /// The values changed; `n` holds the newest (host or backend).
    void mark(Newest n) noexcept {
        newest = n;
        ++version;
    }
};

/// A model's CPU executor, behind an interface: the executor type depends on how a translation
/// unit was compiled (cpu::executor_for), so a model used from another one replaces it, reading
/// back the values it holds first. `kind` names the concrete type.
template <class T>
struct CpuSideBase {
    explicit CpuSideBase(const void* k) : kind(k) {}
    CpuSideBase(const CpuSideBase&) = default;
    CpuSideBase& operator=(const CpuSideBase&) = delete;
    virtual ~CpuSideBase() = default;
    /// Copies the parameters or gradients the executor holds into dst (PyTorch layout).
    virtual void pull(Buf b, T* dst) const = 0;
    /// The host copy of flat buffer b (src, PyTorch layout) is newer than the executor's: for
    /// the parameters, an executor with its own layout repacks them at its next use; for the
    /// gradients (e.g. after clipping) it replaces those it holds. A no-op for an executor that
    /// works on the model's host copies.
    virtual void push(Buf b, const T* src) = 0;
    virtual std::unique_ptr<CpuSideBase> clone() const = 0;
    const void* const kind;
};

/// A model's device side (CUDA): its copies of the flat buffers and its executor.
template <class T>
struct DeviceSide {
    DeviceSide() = default;
    DeviceSide(const DeviceSide&) = delete;
    DeviceSide& operator=(const DeviceSide&) = delete;
    virtual ~DeviceSide() = default;
    /// Copies flat buffer b from the device into dst / from src to the device.
    virtual void pull(Buf b, T* dst) const = 0;
    virtual void push(Buf b, const T* src) = 0;
    /// Waits for every operation queued by the model.
    virtual void synchronize() const = 0;
};

/// Where a QuantizedModel runs when not on the CPU (model/cuda_side.hpp: QuantizedCudaSide),
/// held through this interface for the same reason as DeviceSide.
struct Int8Side {
    Int8Side() = default;
    Int8Side(const Int8Side&) = delete;
    Int8Side& operator=(const Int8Side&) = delete;
    virtual ~Int8Side() = default;
    /// Inference on `batch` samples of host input x; the host output [batch, out_size], valid
    /// until the next call.
    virtual std::span<const float> forward(const float* x, std::size_t batch) = 0;
};

} // namespace detail

/// The optimizer's state buffers and step count, as large as the model's parameter buffer
/// (Model::make_state(optimizer) makes one of the right size).
template <Optimizer O, class T = float>
struct OptimizerState {
    O optimizer;
    /// State buffers (those the optimizer uses), in the parameters' layout. After the first
    /// update the model keeps its own copy (on the CUDA device; on the CPU, in the fused
    /// executor's layout) and updates that: Model::read_state(state) copies it back here.
    std::vector<T> m, v;
    std::uint64_t step = 0; ///< number of updates applied
    /// The model's copy of m and v (empty until the first update of a model that keeps one).
    std::shared_ptr<detail::StateCopy<T>> copy;

    OptimizerState(const O& opt, std::size_t param_count)
        : optimizer(opt), m(O::state_count >= 1 ? param_count : 0, T(0)),
          v(O::state_count >= 2 ? param_count : 0, T(0)) {}
};

} // namespace ctnn
