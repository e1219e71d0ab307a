// ctnn/model/cuda_side.hpp — a model's CUDA side: its stream, the device copies of its flat
// buffers and of an optimizer state, and its executor. Compiled where CTNN_CUDA_BACKEND is 1
// (nvcc, or CTNN_HOST_EXECUTION=1 to run the kernels on the CPU for tests).
#pragma once
#include "../config.hpp"
#include "state.hpp"

#if CTNN_CUDA_BACKEND
#include "../backend/cuda/executor.hpp"
#include "../backend/cuda/graph.hpp"
#include "../backend/cuda/kernels/loss.hpp"
#include "../backend/cuda/kernels/optimizer.hpp"
#include "../backend/cuda/memory.hpp"
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/precision.hpp"
#include "../expr/context.hpp"
#include "../loss/loss.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ctnn::detail {

/// An optimizer's m and v on the device.
template <class T>
struct CudaStateCopy final : StateCopy<T> {
    static constexpr char tag = 0;
    CudaStateCopy(std::size_t nm, std::size_t nv) : StateCopy<T>(&tag), m(nm), v(nv) {}
    void read_into(std::span<T> hm, std::span<T> hv) const override {
        cuda::copy_to_host(hm.data(), m.data(), hm.size());
        cuda::copy_to_host(hv.data(), v.data(), hv.size());
    }
    cuda::DeviceBuffer<T> m, v;
};

/// Makes CUDA device `dev` current for `who` (Model, QuantizedModel); throws argument_error if
/// there is no such device.
inline void use_cuda_device(Device dev, const char* who) {
#if CTNN_DEVICE_COMPILE
    const cuda::DeviceProbe p = cuda::probe();
    if (dev.index < 0 || dev.index >= p.count)
        throw argument_error(std::string(who) + ": device " + dev.str() + " is not available (" +
                             (p.count == 0 ? p.reason : std::to_string(p.count) + " device(s)") +
                             "); device::best() falls back to the CPU");
    cuda::detail::set_device(dev.index, {__FILE__, __LINE__});
#else
    if (dev.index != 0)
        throw argument_error(std::string(who) + ": device " + dev.str() +
                             " is not available: host execution has one device, cuda:0");
#endif
}

/// The device side of a Model<Net, P> (Net must have CUDA kernels: kernel_schedule), T =
/// scalar_of<P>, G = gemm_operands_of<P>.
template <class Net, class T, GemmOperands G = GemmOperands::scalar>
struct CudaSide final : DeviceSide<T> {
    using Exec = cuda::Executor<Net, T, false, G>;

    CudaSide() : active(stream.get()), exec(stream.get()) {}

    /// A device side on `dev`, made current; throws argument_error if there is no such device.
    static std::unique_ptr<CudaSide> make(Device dev) {
        use_cuda_device(dev, "Model");
        return std::make_unique<CudaSide>();
    }

    void pull(Buf b, T* dst) const override {
        cuda::copy_to_host(dst, device(b), count(b), current_stream());
    }
    void push(Buf b, const T* src) override {
        cuda::copy_to_device(const_cast<T*>(device(b)), src, count(b), current_stream());
    }
    void synchronize() const override { cuda::synchronize(current_stream()); }

    /// The device copy of an optimizer state's m and v, made from them (after reading back
    /// another backend's copy) at the first update on this device.
    template <class O>
    CudaStateCopy<T>& state_copy(OptimizerState<O, T>& s) {
        if (!s.copy || s.copy->kind != &CudaStateCopy<T>::tag) {
            if (s.copy) s.copy->read_into(s.m, s.v);
            auto c = std::make_shared<CudaStateCopy<T>>(s.m.size(), s.v.size());
            cuda::copy_to_device(c->m.data(), s.m.data(), s.m.size(), current_stream());
            cuda::copy_to_device(c->v.data(), s.v.data(), s.v.size(), current_stream());
            s.copy = std::move(c);
        }
        return static_cast<CudaStateCopy<T>&>(*s.copy);
    }

    void reserve(std::size_t batch) { exec.reserve(batch); }

    /// The forward pass on host input x; returns the output, copied to the host.
    std::span<const T> forward(const T* x, std::size_t batch, ElemCtx ctx) {
        exec.forward(params.data(), x, batch, ctx, buffers.data());
        out.resize(batch * Net::out_size);
        exec.download_output(out.data());
        return {out.data(), out.size()};
    }

    template <class L>
    T loss(const L& l, loss::Targets<T> targets, T grad_scale = T(1)) {
        if constexpr (cuda::has_device_loss<L>) return exec.loss(l, targets, grad_scale);
        else no_device_loss<L>("Model::loss");
    }

    /// An fp16 model's backward(): the gradients times inv (one kernel); true when all are
    /// finite (waits for the device).
    bool unscale(T inv) {
        cuda::zero(non_finite.data(), 1, current_stream());
        cuda::unscale_gradients(grads.data(), Net::param_count, inv, non_finite.data(),
                                current_stream());
        std::uint32_t flag = 0;
        cuda::copy_to_host(&flag, non_finite.data(), 1, current_stream());
        return flag == 0;
    }

    /// Model::predict: an inference pass on the executor of its own (made at first use), the
    /// output copied to the host y ([batch, out_size]). The caller serializes the calls.
    void predict(const T* x, std::size_t batch, ElemCtx ctx, T* y) {
        if (!predict_exec) predict_exec = std::make_unique<Exec>(current_stream());
        predict_exec->forward(params.data(), x, batch, ctx, buffers.data());
        predict_exec->download_output(y);
    }

    /// Model::predict on page-locked host buffers: a mapped x bound as the input in place, a
    /// mapped y written by one device-side copy, pinned ones copied by DMA; then the stream is
    /// waited for. With use_graphs, the pass is captured once into a CUDA graph per (x, y,
    /// batch, seed, stream, workspace) and replayed with one launch; the host-side input checks
    /// still run per call.
    void predict_buffers(const cuda::HostBuffer<T>& x, std::size_t batch, ElemCtx ctx,
                         cuda::HostBuffer<T>& y) {
        if (!predict_exec) predict_exec = std::make_unique<Exec>(current_stream());
        if (!use_graphs) {
            enqueue_predict(x, batch, ctx, y);
            cuda::synchronize(current_stream());
            return;
        }
        predict_exec->reserve(batch); // allocations come before a capture
        const GraphKey key{x.data(), y.data(),         batch,
                           ctx.seed, current_stream(), predict_exec->capacity()};
        if (graph.empty() || !(key == graph_key)) {
            graph =
                cuda::Graph::capture(current_stream(), [&] { enqueue_predict(x, batch, ctx, y); });
            graph_key = key;
        } else {
            predict_exec->check_input(x.data(), batch, ctx);
        }
        graph.launch(current_stream());
        cuda::synchronize(current_stream());
    }

    /// Model::use_cuda_graphs: turns capture and replay on or off (dropping a captured graph).
    void set_graphs(bool on) {
        use_graphs = on;
        graph = cuda::Graph{};
    }

    /// Queues predict_buffers' pass: the input bound in place (mapped) or copied (pinned), the
    /// forward pass, the output copied on the device (mapped) or by DMA (pinned). No waiting.
    void enqueue_predict(const cuda::HostBuffer<T>& x, std::size_t batch, ElemCtx ctx,
                         cuda::HostBuffer<T>& y) {
        if (x.kind() == cuda::HostMemory::mapped)
            predict_exec->forward_in_place(params.data(), x.data(), x.device_data(), batch, ctx,
                                           buffers.data());
        else predict_exec->forward(params.data(), x.data(), batch, ctx, buffers.data());
        if (y.kind() == cuda::HostMemory::mapped)
            cuda::copy_on_device(y.device_data(), predict_exec->output(), batch * Net::out_size,
                                 current_stream());
        else
            cuda::copy_to_host_async(y.data(), predict_exec->output(), batch * Net::out_size,
                                     current_stream());
    }

    /// What a captured predict graph was made for: a change means a new capture.
    struct GraphKey {
        const void* x = nullptr;
        const void* y = nullptr;
        std::size_t batch = 0;
        std::uint64_t seed = 0;
        cuda::stream_t stream{};
        std::size_t capacity = 0; ///< the executor's workspace (reallocated when it grows)
        bool operator==(const GraphKey&) const = default;
    };

    /// Model::set_cuda_stream: waits for the work queued on the current stream, then runs
    /// everything on `s`.
    void set_stream(cuda::stream_t s) {
        cuda::synchronize(current_stream());
        active = s;
        exec.set_stream(s);
        if (predict_exec) predict_exec->set_stream(s);
        if (input_exec) input_exec->set_stream(s);
    }
    /// The stream the work runs on: the user's (set_stream), else the side's own.
    [[nodiscard]] cuda::stream_t current_stream() const { return active; }

    /// Model::input_gradient: a forward, loss and backward pass to the input on the executor
    /// of its own (made at first use), the gradient copied to the host dx ([batch, in_size]).
    template <class L>
    void input_gradient(const T* x, std::size_t batch, ElemCtx ctx, const L& l,
                        loss::Targets<T> targets, T* dx) {
        if constexpr (cuda::has_device_loss<L>) {
            if (!input_exec) {
                input_grads = cuda::DeviceBuffer<T>(Net::param_count);
                input_exec = std::make_unique<cuda::Executor<Net, T, true, G>>(current_stream());
            }
            input_exec->forward(params.data(), x, batch, ctx, buffers.data());
            input_exec->loss(l, targets);
            const T* g = input_exec->backward(params.data(), input_grads.data());
            cuda::copy_to_host(dx, g, batch * Net::in_size, current_stream());
        } else {
            no_device_loss<L>("Model::input_gradient");
        }
    }

    template <class L>
    [[noreturn]] static void no_device_loss(const char* who) {
        throw argument_error(std::string(who) + ": loss " + L::name() +
                             " has no CUDA kernel (it needs a CTNN_HOST_DEVICE row() or "
                             "value()/grad())");
    }

    void backward() { exec.backward(params.data(), grads.data()); }

    /// One optimizer step on the device (one kernel), with the state's device copy.
    template <class O>
    void update(OptimizerState<O, T>& state, float lr) {
        CudaStateCopy<T>& c = state_copy(state);
        ++state.step;
        cuda::apply_update(state.optimizer, state.optimizer.scalars(lr, state.step), params.data(),
                           grads.data(), c.m.data(), c.v.data(), Net::param_count,
                           current_stream());
    }

    static constexpr std::size_t count(Buf b) {
        return b == Buf::params  ? Net::param_count
               : b == Buf::grads ? Net::param_count
                                 : Net::buffer_count;
    }
    const T* device(Buf b) const {
        return b == Buf::params ? params.data() : b == Buf::grads ? grads.data() : buffers.data();
    }

    bool use_graphs = false; ///< Model::use_cuda_graphs
    cuda::Graph graph;       ///< predict_buffers' captured pass, for graph_key
    GraphKey graph_key;
    cuda::Stream stream;   ///< the side's own stream
    cuda::stream_t active; ///< the stream the work runs on: stream, or set_stream's
    cuda::DeviceBuffer<T> params{Net::param_count};
    cuda::DeviceBuffer<T> grads{Net::param_count};
    cuda::DeviceBuffer<T> buffers{Net::buffer_count}; ///< BatchNorm's running statistics
    Exec exec;
    std::vector<T> out; ///< host copy of the device output
    /// Model::input_gradient's executor and its (unread) parameter gradients, made at first use.
    std::unique_ptr<cuda::Executor<Net, T, true, G>> input_exec;
    std::unique_ptr<Exec> predict_exec; ///< Model::predict's
    cuda::DeviceBuffer<T> input_grads;
    cuda::DeviceBuffer<std::uint32_t> non_finite{1}; ///< unscale()'s flag
};

/// The CUDA side of a QuantizedModel<Net>: its stream, the fp32 parameters and buffers on the
/// device (bias, folded BatchNorms and the float stages read them) and the int8 executor, which
/// holds the int8 weights.
template <class Net>
struct QuantizedCudaSide final : Int8Side {
    QuantizedCudaSide(std::span<const float> p, std::span<const float> b,
                      std::span<const float> scales)
        : exec(stream.get()) {
        cuda::copy_to_device(params.data(), p.data(), p.size(), stream.get());
        cuda::copy_to_device(buffers.data(), b.data(), b.size(), stream.get());
        exec.set_int8(p.data(), scales);
    }
    std::span<const float> forward(const float* x, std::size_t batch) override {
        exec.forward(params.data(), x, batch, ElemCtx{},
                     Net::buffer_count > 0 ? buffers.data() : nullptr);
        out.resize(batch * Net::out_size);
        exec.download_output(out.data());
        return out;
    }

    cuda::Stream stream;
    cuda::DeviceBuffer<float> params{Net::param_count};
    cuda::DeviceBuffer<float> buffers{Net::buffer_count};
    cuda::Executor<Net, float, false, GemmOperands::int8> exec;
    std::vector<float> out; ///< host copy of the device output
};

} // namespace ctnn::detail
#endif
