// ctnn/model/cpu_side.hpp — a model's CPU executor and its copy of an optimizer state.
#pragma once
#include "../backend/cpu/executor.hpp"
#include "../core/aligned.hpp"
#include "state.hpp"

#include <memory>
#include <span>
#include <vector>

namespace ctnn::detail {

/// The CPU executor Exec of a model. A fused executor (cpu::FusedExecutor: Exec::native_floats)
/// trains in its own layout: pull() writes its parameters or gradients in PyTorch's layout.
template <class Exec, class T>
struct CpuSide final : CpuSideBase<T> {
    static constexpr bool native = requires { Exec::native_floats; };
    static constexpr char tag = 0; ///< its address names this type (CpuSideBase::kind)

    CpuSide() : CpuSideBase<T>(&tag) {}
    CpuSide(const CpuSide& o) : CpuSideBase<T>(&tag), exec(o.exec) {}

    void pull(Buf b, T* dst) const override {
        if constexpr (native) {
            if (b == Buf::params) exec.read_parameters(dst);
            else if (b == Buf::grads) exec.read_gradients(dst);
        } else {
            (void)b, (void)dst; // the host copies are the executor's own
        }
    }
    void push(Buf b, const T* src) override {
        // New parameters: an executor with its own layout repacks them at its next use.
        if (b == Buf::params) cpu::parameters_changed(exec);
        if constexpr (native) {
            if (b == Buf::grads) exec.set_gradients(src);
        } else {
            (void)src; // the host copies are the executor's own
        }
    }
    std::unique_ptr<CpuSideBase<T>> clone() const override {
        return std::make_unique<CpuSide>(*this);
    }

    Exec exec;
};

/// An optimizer's m and v in a fused CPU executor's layout.
template <class Exec, class T>
struct CpuStateCopy final : StateCopy<T> {
    static constexpr char tag = 0;
    CpuStateCopy() : StateCopy<T>(&tag) {}
    void read_into(std::span<T> hm, std::span<T> hv) const override {
        if (!m.empty()) Exec::from_native(m.data(), hm.data());
        if (!v.empty()) Exec::from_native(v.data(), hv.data());
    }
    std::vector<T, CacheAligned<T>> m, v;
};

} // namespace ctnn::detail
