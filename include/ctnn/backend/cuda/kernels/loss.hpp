// ctnn/backend/cuda/kernels/loss.hpp — a loss and its gradient in one kernel.
//
// One launch computes, for a batch of model outputs y ([batch, n]):
//   - dL/dY for every element, already multiplied by the derivative of the last stage's epilogue
//     (Epi, e.g. a final Sigmoid), so the backward pass starts at dL/dZ without a kernel of its
//     own;
//   - the mean loss, reduced deterministically in the same launch: each block adds its part in
//     double (block_reduce_sum), writes it to partials[blockIdx.x], and the last block to finish
//     (an atomic ticket) adds the partials in block order and resets the ticket.
// The per-sample and per-element formulas are the losses' own CTNN_HOST_DEVICE functions
// (loss/classification.hpp, loss/regression.hpp), the ones the Eigen path uses:
//   row losses (SoftmaxCrossEntropy): L::row(y_b, n, label_b, 1/batch, grad_b), one thread per row;
//   elementwise losses (MSE, L1, Huber, BCEWithLogits): l.value(y, t), l.grad(y, t), one thread
//   per element.
#pragma once
#include "../../../config.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../primitives.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

/// A loss evaluated per sample row from a class label (L::row, as SoftmaxCrossEntropy).
template <class L>
concept RowLoss = requires(const float* y, float* g) {
    {L::template row<float>(y, std::size_t{1}, std::int32_t{0}, 1.0f, g)};
};
/// A loss evaluated per element from a target value (l.value and l.grad, as MSE).
template <class L>
concept ElementLoss = requires(const L& l, float v) {
    {l.value(v, v)};
    {l.grad(v, v)};
};
/// Whether loss L has a CUDA kernel.
template <class L>
inline constexpr bool has_device_loss = RowLoss<L> || ElementLoss<L>;

/// Threads per block of the loss kernels.
inline constexpr unsigned loss_block = 256;
/// Most blocks of a loss launch (and the size of its partial-sum buffer).
inline constexpr unsigned loss_max_blocks = 128;

/// Device scratch of the loss kernels: partial sums, the ticket (zero between launches) and the
/// result.
struct LossScratch {
    double* partials = nullptr; ///< [loss_max_blocks]
    unsigned* ticket = nullptr; ///< one counter, 0 before and after every launch
    double* result = nullptr;   ///< the mean loss
};

namespace kernels {

/// Block total of `v` to partials, then the last block adds the partials in order:
/// *result = sum * scale.
template <class T>
__device__ __forceinline__ void finish_loss(double v, LossScratch s, double scale) {
    const double total = block_reduce_sum<static_cast<int>(loss_block)>(v);
    __shared__ unsigned last;
    if (threadIdx.x == 0) {
        s.partials[blockIdx.x] = total;
        // The partial is visible to every block before the ticket says it is there.
        __threadfence();
        last = atomicAdd(s.ticket, 1u) == gridDim.x - 1 ? 1u : 0u;
    }
    // Thread 0 has taken the ticket before anyone reads `last`.
    __syncthreads();
    if (last != 0u && threadIdx.x == 0) {
        __threadfence();
        const volatile double* p = s.partials;
        double sum = 0;
        for (unsigned b = 0; b < gridDim.x; ++b) sum += p[b];
        *s.result = sum * scale;
        *s.ticket = 0u;
    }
}

/// Row loss: one thread per sample (grid-stride); grad = grad_scale dL/dZ of the last stage
/// ([batch, n]; grad_scale: an fp16 model's loss scale, else 1).
template <class L, class Epi, class T>
__global__ void __launch_bounds__(loss_block)
    row_loss(const T* y, const std::int32_t* labels, const T* z, T* grad, std::uint32_t batch,
             std::uint32_t n, ElemCtx ctx, LossScratch s, T grad_scale) {
    const T scale = grad_scale / static_cast<T>(batch);
    double acc = 0;
    const std::uint32_t stride = gridDim.x * blockDim.x;
    for (std::uint32_t b = blockIdx.x * blockDim.x + threadIdx.x; b < batch; b += stride) {
        const std::size_t row = std::size_t{b} * n;
        acc += static_cast<double>(L::template row<T>(y + row, n, labels[b], scale, grad + row));
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            for (std::uint32_t j = 0; j < n; ++j) {
                c.index = row + j;
                grad[row + j] *= Epi::apply(expr::Dual<T>{z[row + j], T(1)}, c).d;
            }
        }
    }
    finish_loss<T>(acc, s, 1.0 / static_cast<double>(batch));
}

/// Elementwise loss: one thread per element (grid-stride) over count = batch * n values.
template <class L, class Epi, class T>
__global__ void __launch_bounds__(loss_block)
    element_loss(L l, const T* y, const T* t, const T* z, T* grad, std::uint64_t count, ElemCtx ctx,
                 LossScratch s, T grad_scale) {
    const T scale = grad_scale / static_cast<T>(count);
    double acc = 0;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        acc += static_cast<double>(l.value(y[i], t[i]));
        T g = l.grad(y[i], t[i]) * scale;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            g *= Epi::apply(expr::Dual<T>{z[i], T(1)}, c).d;
        }
        grad[i] = g;
    }
    finish_loss<T>(acc, s, 1.0 / static_cast<double>(count));
}

} // namespace kernels

namespace detail {
inline unsigned loss_grid(std::uint64_t work) {
    const std::uint64_t blocks = (work + loss_block - 1) / loss_block;
    return static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, loss_max_blocks));
}
} // namespace detail

/// Loss of a batch of outputs y ([batch, n], device) and dL/dZ into grad: one kernel launch.
/// Row losses read `labels` ([batch], device; each in [0, n), checked by the caller), elementwise
/// losses read `targets` ([batch, n], device). z is the last stage's epilogue input (ignored when
/// Epi is empty). The mean loss lands in *scratch.result; the gradient is multiplied by
/// grad_scale (an fp16 model's loss scale, model/loss_scale.hpp), the loss is not.
template <class Epi, class L, class T>
void loss_forward_backward(const L& l, const T* y, const std::int32_t* labels, const T* targets,
                           const T* z, T* grad, std::size_t batch, std::size_t n, ElemCtx ctx,
                           LossScratch scratch, T grad_scale, stream_t stream = nullptr) {
    static_assert(has_device_loss<L>, "this loss has no CUDA kernel: give it a CTNN_HOST_DEVICE "
                                      "static row() (per sample) or value()/grad() (per element)");
    if (batch == 0 || n == 0) return;
    if constexpr (RowLoss<L>) {
        (void)l;
        (void)targets;
        launch(&kernels::row_loss<L, Epi, T>, detail::loss_grid(batch), loss_block, 0, stream, y,
               labels, z, grad, static_cast<std::uint32_t>(batch), static_cast<std::uint32_t>(n),
               ctx, scratch, grad_scale);
    } else {
        (void)labels;
        const std::uint64_t count = std::uint64_t{batch} * n;
        launch(&kernels::element_loss<L, Epi, T>, detail::loss_grid(count), loss_block, 0, stream,
               l, y, targets, z, grad, count, ctx, scratch, grad_scale);
    }
}

} // namespace ctnn::cuda
