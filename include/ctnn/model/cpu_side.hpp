// ctnn/model/cpu_side.hpp — a model's CPU executor and its copy of an optimizer state.
#pragma once
#include "../backend/cpu/executor.hpp"
#include "../config.hpp"
#include "../core/aligned.hpp"
#include "../expr/context.hpp"
#include "core.hpp"
#include "state.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
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

/// An executor of Model::predict's pool (Exec: the model's CPU executor type) and the version of
/// the parameters it last read.
template <class Exec>
struct PredictSide final : Workspace {
    Exec exec;
    std::uint64_t version = ~std::uint64_t{0};
};

/// Model::predict on the CPU: an inference pass on x ([batch, in_size]) into y ([batch,
/// out_size]) on an executor taken from `pool` (made when none is idle, given back after), which
/// repacks its weights when the parameters changed since its last pass. refresh() brings
/// params.host up to date; it runs under the pool's lock.
template <class Exec, class T, class Alloc, class Refresh>
void predict_on_pool(InferencePool& pool, const Mirror<T, Alloc>& params, Refresh&& refresh,
                     T* buffers, const T* x, std::size_t batch, ElemCtx ctx, T* y,
                     std::size_t out_size) {
    std::unique_ptr<Workspace> w;
    {
        const std::lock_guard lock(pool.mutex);
        refresh();
        if (!pool.idle.empty()) {
            w = std::move(pool.idle.back());
            pool.idle.pop_back();
        }
    }
    if (!w) w = std::make_unique<PredictSide<Exec>>();
    auto& s = static_cast<PredictSide<Exec>&>(*w);
    if (s.version != params.version) {
        cpu::parameters_changed(s.exec);
        s.version = params.version;
    }
    const T* out = s.exec.forward(params.host.data(), x, batch, ctx, buffers);
    std::copy_n(out, batch * out_size, y);
    const std::lock_guard lock(pool.mutex);
    pool.idle.push_back(std::move(w));
}

/// A fused executor's (Exec's) copy of an optimizer state, made at the first update after
/// read_back() has read another backend's copy into state.m and state.v.
template <class Exec, class O, class T, class ReadBack>
CpuStateCopy<Exec, T>& cpu_state_copy(OptimizerState<O, T>& state, ReadBack&& read_back) {
    using Copy = CpuStateCopy<Exec, T>;
    if (!state.copy || state.copy->kind != &Copy::tag) {
        read_back();
        auto st = std::make_shared<Copy>();
        if (!state.m.empty()) {
            st->m.assign(Exec::native_floats, T(0));
            Exec::to_native(state.m.data(), st->m.data());
        }
        if (!state.v.empty()) {
            st->v.assign(Exec::native_floats, T(0));
            Exec::to_native(state.v.data(), st->v.data());
        }
        state.copy = std::move(st);
    }
    return static_cast<Copy&>(*state.copy);
}

} // namespace ctnn::detail
