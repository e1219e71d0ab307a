// ctnn/backend/cuda/kernels/recurrent.hpp — the time loops of RNN, LSTM and GRU stages.
//
// The stage's GEMMs (the input projection of every step, the weight and input gradients) run on
// kernels/gemm.hpp; what is sequential, the recurrence, is one persistent kernel per pass and
// direction here, the time loop inside it:
//   forward   per step: G_t += W_hh h_{t-1} (the block's samples), the gate nonlinearities and
//             the cell update, h_t to shared memory for the next step and to the outputs;
//   backward  per step, last to first: dh = the output's gradient + W_hh^T dG_{t+1} (+ GRU's
//             z dh), the gate gradients, dc carried in registers (LSTM), dG_t to shared memory
//             for the step before and to the workspace for the weight-gradient GEMMs.
// Layout (eval/recurrent.hpp): everything sample-major by sequence position p, as the stage's
// input and output are ([B, T, n] is a [B T, n] matrix, so the GEMMs need no transposition);
// the reverse direction's step s is position T - 1 - s. A block owns SB samples and runs every
// step for them: samples are independent, so blocks never wait on each other (no grid-wide
// synchronization, any grid size). Its NT threads own hidden units j = tid, tid + NT, ...: a
// thread computes every gate of its units (an LSTM unit's i, f, g, o rows j, H + j, 2H + j,
// 3H + j), so the cell update needs no exchange; one __syncthreads() per step publishes the new
// hidden states (forward) or gate gradients (backward), double-buffered in shared memory.
// Memory: the recurrent weight is read at every step, as W_hh^T [H, G H] forward (made by
// transpose_kernel each pass: thread j reads G H-strided columns, consecutive threads consecutive
// words) and as PyTorch's W_hh [G H, H] backward (row r, consecutive threads consecutive j). It
// stays in shared memory for the whole loop when it fits beside the state buffers (48 KiB of
// dynamic shared memory: LSTM H <= 48, GRU H <= 56, RNN H <= 96 in float); larger weights are
// read from global memory through L1/L2 at every step.
// Limits: SB samples per block (recurrent_batch_tile), so a batch of 64 is 16 blocks: a GPU with
// more SMs than that runs the loop partly idle. No tensor cores, no cluster-distributed weights.
// The arithmetic is the CPU's, in the same order per value: logistic(x) = 1 / (1 + exp(-x)).
#pragma once
#include "../../../config.hpp"
#include "../../../layers/recurrent.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ctnn::cuda {

/// The shape of a recurrent stage's kernels: H hidden units, G gates, T the number type.
template <RecurrentCell Cell, std::size_t H, class T>
struct RecurrentTile {
    static constexpr unsigned gates = static_cast<unsigned>(ctnn::detail::cell_gates(Cell));
    static constexpr unsigned hidden = static_cast<unsigned>(H);
    static constexpr unsigned gate_rows = gates * hidden;
    /// Threads: one per hidden unit up to 256, a whole number of warps.
    static constexpr unsigned threads = std::min(256u, (hidden + 31u) / 32u * 32u);
    /// Hidden units per thread.
    static constexpr unsigned units = (hidden + threads - 1) / threads;
    static constexpr std::size_t shared_limit = 48u * 1024u;
    /// Samples per block: 4, fewer where the backward pass's two gate-gradient buffers would not
    /// fit in shared memory (0: not even one sample's; the stage is then not supported on CUDA).
    static constexpr unsigned batch =
        static_cast<unsigned>(std::min<std::size_t>(4, shared_limit / (2 * gate_rows * sizeof(T))));
    static constexpr bool supported = batch > 0 && H < (std::size_t{1} << 20);
    /// Shared memory of the state buffers: forward 2 x SB x H hidden states, backward
    /// 2 x SB x G H gate gradients.
    static constexpr std::size_t forward_state = std::size_t{2} * batch * hidden * sizeof(T);
    static constexpr std::size_t backward_state = std::size_t{2} * batch * gate_rows * sizeof(T);
    static constexpr std::size_t weight_bytes = std::size_t{gate_rows} * hidden * sizeof(T);
    /// The recurrent weight lives in shared memory for the whole loop.
    static constexpr bool forward_resident = forward_state + weight_bytes <= shared_limit;
    static constexpr bool backward_resident = backward_state + weight_bytes <= shared_limit;
};

/// Where a direction's workspace and outputs are (eval/recurrent.hpp), by sequence position:
/// gates [B, T, G H] (the projection on entry to forward, the activations after), hprev [B, T, H]
/// (the state each position's step read: 0 at the direction's first), cell [B, T, H] (LSTM's
/// c, GRU's W_hn h + b_hn), dg / dgh [B, T, G H] (the gate gradients; GRU's recurrent part in
/// dgh, the same buffer otherwise).
template <class T>
struct RecurrentViews {
    T* gates;
    T* hprev;
    T* cell;
    T* dg;
    T* dgh;
    std::uint32_t batch;
    std::uint32_t steps;
    bool reverse;   ///< step s is position steps - 1 - s
    bool sequences; ///< the stage outputs every step [T, out_width], else the last [out_width]
    std::uint32_t out_width;  ///< values of one output step (both directions)
    std::uint32_t out_offset; ///< this direction's first value in an output step
    /// Each sample's length (a masked sequence, MaskZero: positions at or past it are padding,
    /// where the state is kept and the output is 0), or null.
    const T* lengths;
};

namespace kernels {

template <class T>
CTNN_HOST_DEVICE inline T logistic(T x) {
    return T(1) / (T(1) + std::exp(-x));
}

/// wt[k][r] = w[r][k] for a rows x cols row-major w (W_hh^T for the forward recurrence).
template <class T>
__global__ void transpose_kernel(const T* w, T* wt, std::uint32_t rows, std::uint32_t cols) {
    const std::uint64_t count = std::uint64_t{rows} * cols;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t k = i / rows, r = i % rows; // consecutive threads: consecutive stores
        wt[i] = w[r * cols + k];
    }
}

/// The recurrent weight the time loop reads: w itself, or (Resident) its copy in the shared
/// memory at ws, made by the block's NT threads before the loop.
template <bool Resident, unsigned NT, class T>
__device__ const T* loop_weight(const T* w, T* ws, unsigned count) {
    if constexpr (!Resident) {
        return w;
    } else {
        for (unsigned i = threadIdx.x; i < count; i += NT) ws[i] = w[i];
        __syncthreads();
        return ws;
    }
}

/// The forward recurrence of one direction (see the file comment). wt: W_hh^T [H, G H];
/// b_hn: GRU's b_hh of the n gate (added to W_hn h, not to the projection); out: the stage
/// output.
template <RecurrentCell Cell, std::size_t H, class T>
__global__ void __launch_bounds__(RecurrentTile<Cell, H, T>::threads)
    recurrent_forward(const T* wt, const T* b_hn, RecurrentViews<T> v, T* out) {
    using Tile = RecurrentTile<Cell, H, T>;
    constexpr unsigned G = Tile::gates, GH = Tile::gate_rows, SB = Tile::batch;
    constexpr unsigned NT = Tile::threads;
    CTNN_DYNAMIC_SHARED(T, shared);
    const std::uint32_t b0 = blockIdx.x * SB;
    const T* w = loop_weight<Tile::forward_resident, NT>(wt, shared + 2 * SB * H, GH * H);
    for (std::uint32_t s = 0; s < v.steps; ++s) {
        const std::uint32_t pos = v.reverse ? v.steps - 1 - s : s;
        const T* hp = shared + (s & 1u) * SB * H;
        T* hn = shared + ((s + 1) & 1u) * SB * H;
        for (unsigned u = 0; u < Tile::units; ++u) {
            const unsigned j = threadIdx.x + u * NT;
            if (j >= H) break;
            T rec[G][SB]; // W_hh h_{t-1}, row g H + j of each gate
            for (unsigned g = 0; g < G; ++g)
                for (unsigned sb = 0; sb < SB; ++sb) rec[g][sb] = T(0);
            if (s > 0) {
                for (unsigned k = 0; k < H; ++k) {
                    T hk[SB];
                    for (unsigned sb = 0; sb < SB; ++sb) hk[sb] = hp[sb * H + k];
                    for (unsigned g = 0; g < G; ++g) {
                        const T wv = w[std::size_t{k} * GH + g * H + j];
                        for (unsigned sb = 0; sb < SB; ++sb) rec[g][sb] += wv * hk[sb];
                    }
                }
            }
            for (unsigned sb = 0; sb < SB; ++sb) {
                const std::uint32_t b = b0 + sb;
                if (b >= v.batch) {
                    hn[sb * H + j] = T(0);
                    continue;
                }
                const std::size_t row = std::size_t{b} * v.steps + pos;
                const bool pad = v.lengths != nullptr && T(pos) >= v.lengths[b];
                T* gr = v.gates + row * GH;
                T h;
                if constexpr (Cell == RecurrentCell::lstm) {
                    const T i = logistic(gr[j] + rec[0][sb]);
                    const T f = logistic(gr[H + j] + rec[1][sb]);
                    const T g = std::tanh(gr[2 * H + j] + rec[2][sb]);
                    const T o = logistic(gr[3 * H + j] + rec[3][sb]);
                    T c = i * g;
                    if (s > 0) {
                        const std::uint32_t prev = v.reverse ? pos + 1 : pos - 1;
                        c = f * v.cell[(std::size_t{b} * v.steps + prev) * H + j] + c;
                    }
                    v.cell[row * H + j] = c;
                    gr[j] = i, gr[H + j] = f, gr[2 * H + j] = g, gr[3 * H + j] = o;
                    h = o * std::tanh(c);
                } else if constexpr (Cell == RecurrentCell::gru) {
                    const T r = logistic(gr[j] + rec[0][sb]);
                    const T z = logistic(gr[H + j] + rec[1][sb]);
                    const T hnv = rec[2][sb] + b_hn[j];
                    const T n = std::tanh(gr[2 * H + j] + r * hnv);
                    v.cell[row * H + j] = hnv;
                    gr[j] = r, gr[H + j] = z, gr[2 * H + j] = n;
                    h = (T(1) - z) * n;
                    if (s > 0) h += z * hp[sb * H + j];
                } else {
                    const T a = gr[j] + rec[0][sb];
                    if constexpr (Cell == RecurrentCell::rnn_tanh) h = std::tanh(a);
                    else h = a > T(0) ? a : T(0);
                    gr[j] = h;
                }
                if (pad) { // a padded step keeps the state (0 before the reverse cell's start)
                    h = s > 0 ? hp[sb * H + j] : T(0);
                    if constexpr (Cell == RecurrentCell::lstm) {
                        const std::uint32_t prev = v.reverse ? pos + 1 : pos - 1;
                        v.cell[row * H + j] =
                            s > 0 ? v.cell[(std::size_t{b} * v.steps + prev) * H + j] : T(0);
                    }
                }
                hn[sb * H + j] = h;
                if (s == 0) v.hprev[row * H + j] = T(0);
                if (s + 1 < v.steps) {
                    const std::uint32_t next = v.reverse ? pos - 1 : pos + 1;
                    v.hprev[(std::size_t{b} * v.steps + next) * H + j] = h;
                }
                if (v.sequences) out[row * v.out_width + v.out_offset + j] = pad ? T(0) : h;
                else if (s + 1 == v.steps) out[std::size_t{b} * v.out_width + v.out_offset + j] = h;
            }
        }
        __syncthreads();
    }
}

/// The backward recurrence of one direction: from d (dL/dZ of the stage output), the gate
/// gradients dg (and GRU's recurrent part dgh). w_hh: PyTorch's W_hh [G H, H].
template <RecurrentCell Cell, std::size_t H, class T>
__global__ void __launch_bounds__(RecurrentTile<Cell, H, T>::threads)
    recurrent_backward(const T* w_hh, const T* d, RecurrentViews<T> v) {
    using Tile = RecurrentTile<Cell, H, T>;
    constexpr unsigned GH = Tile::gate_rows, SB = Tile::batch, NT = Tile::threads;
    constexpr unsigned U = Tile::units;
    CTNN_DYNAMIC_SHARED(T, shared);
    const std::uint32_t b0 = blockIdx.x * SB;
    const T* w = loop_weight<Tile::backward_resident, NT>(w_hh, shared + 2 * SB * GH, GH * H);
    // Carried from step to step, per unit and sample: the part of dh that does not go through
    // W_hh (GRU's z dh; all of it across a padded step), and LSTM's dc (times f).
    T ch[U][SB], cc[U][SB];
    for (unsigned u = 0; u < U; ++u)
        for (unsigned sb = 0; sb < SB; ++sb) ch[u][sb] = T(0), cc[u][sb] = T(0);
    for (std::uint32_t s = v.steps; s-- > 0;) {
        const std::uint32_t pos = v.reverse ? v.steps - 1 - s : s;
        const T* dnext = shared + ((s + 1) & 1u) * SB * GH; // written at step s + 1
        T* dcur = shared + (s & 1u) * SB * GH;
        for (unsigned u = 0; u < U; ++u) {
            const unsigned j = threadIdx.x + u * NT;
            if (j >= H) break;
            T dh[SB];
            for (unsigned sb = 0; sb < SB; ++sb) dh[sb] = T(0);
            if (s + 1 < v.steps) {
                for (unsigned r = 0; r < GH; ++r) {
                    const T wv = w[std::size_t{r} * H + j];
                    for (unsigned sb = 0; sb < SB; ++sb) dh[sb] += wv * dnext[sb * GH + r];
                }
            }
            for (unsigned sb = 0; sb < SB; ++sb) {
                const std::uint32_t b = b0 + sb;
                T* dc = dcur + sb * GH;
                const std::size_t row = std::size_t{b} * v.steps + pos;
                const bool pad = b < v.batch && v.lengths != nullptr && T(pos) >= v.lengths[b];
                if (b >= v.batch || pad) {
                    for (unsigned g = 0; g < Tile::gates; ++g) dc[g * H + j] = T(0);
                    if (pad) { // h and c went through unchanged: so do their gradients
                        for (unsigned g = 0; g < Tile::gates; ++g)
                            v.dg[row * GH + g * H + j] = T(0), v.dgh[row * GH + g * H + j] = T(0);
                        ch[u][sb] += dh[sb];
                        if (!v.sequences && s + 1 == v.steps)
                            ch[u][sb] += d[std::size_t{b} * v.out_width + v.out_offset + j];
                    }
                    continue;
                }
                T e = dh[sb] + ch[u][sb]; // dL/dh_t
                if (v.sequences) e += d[row * v.out_width + v.out_offset + j];
                else if (s + 1 == v.steps) e += d[std::size_t{b} * v.out_width + v.out_offset + j];
                ch[u][sb] = T(0);
                const T* gr = v.gates + row * GH;
                T* dg = v.dg + row * GH;
                T* dgh = v.dgh + row * GH;
                if constexpr (Cell == RecurrentCell::lstm) {
                    const T i = gr[j], f = gr[H + j], g = gr[2 * H + j], o = gr[3 * H + j];
                    const T tc = std::tanh(v.cell[row * H + j]);
                    const T c = cc[u][sb] + e * o * (T(1) - tc * tc);
                    const T gi = c * g * i * (T(1) - i);
                    T gf = T(0);
                    if (s > 0) {
                        const std::uint32_t prev = v.reverse ? pos + 1 : pos - 1;
                        gf = c * v.cell[(std::size_t{b} * v.steps + prev) * H + j] * f * (T(1) - f);
                    }
                    const T gg = c * i * (T(1) - g * g);
                    const T go = e * tc * o * (T(1) - o);
                    cc[u][sb] = c * f;
                    dg[j] = gi, dg[H + j] = gf, dg[2 * H + j] = gg, dg[3 * H + j] = go;
                    dc[j] = gi, dc[H + j] = gf, dc[2 * H + j] = gg, dc[3 * H + j] = go;
                } else if constexpr (Cell == RecurrentCell::gru) {
                    const T r = gr[j], z = gr[H + j], n = gr[2 * H + j];
                    const T gn = e * (T(1) - z) * (T(1) - n * n);
                    const T hp = v.hprev[row * H + j]; // 0 at the first step
                    const T gz = e * (hp - n) * z * (T(1) - z);
                    const T gr_ = gn * v.cell[row * H + j] * r * (T(1) - r);
                    ch[u][sb] = e * z;
                    dg[j] = gr_, dg[H + j] = gz, dg[2 * H + j] = gn;
                    dgh[j] = gr_, dgh[H + j] = gz, dgh[2 * H + j] = gn * r;
                    dc[j] = gr_, dc[H + j] = gz, dc[2 * H + j] = gn * r;
                } else {
                    const T h = gr[j];
                    T ga;
                    if constexpr (Cell == RecurrentCell::rnn_tanh) ga = e * (T(1) - h * h);
                    else ga = h > T(0) ? e : T(0);
                    dg[j] = ga;
                    dc[j] = ga;
                }
            }
        }
        __syncthreads();
    }
}

} // namespace kernels

/// W_hh^T of one direction into wt ([H, G H]). One kernel.
template <class T>
void recurrent_transpose(const T* w_hh, T* wt, std::uint32_t rows, std::uint32_t cols,
                         stream_t stream) {
    const std::uint64_t count = std::uint64_t{rows} * cols;
    const auto grid =
        static_cast<unsigned>(std::clamp<std::uint64_t>((count + 255) / 256, 1, 1024));
    launch(&kernels::transpose_kernel<T>, grid, 256u, 0, stream, w_hh, wt, rows, cols);
}

/// The forward recurrence of one direction (v.gates holds the projection). One kernel.
template <RecurrentCell Cell, std::size_t H, class T>
void recurrent_forward(const T* wt, const T* b_hn, const RecurrentViews<T>& v, T* out,
                       stream_t stream) {
    using Tile = RecurrentTile<Cell, H, T>;
    static_assert(Tile::supported, "recurrent_forward: the layer is too wide for these kernels");
    if (v.batch == 0) return;
    const std::size_t shared =
        Tile::forward_state + (Tile::forward_resident ? Tile::weight_bytes : 0);
    launch(&kernels::recurrent_forward<Cell, H, T>, (v.batch + Tile::batch - 1) / Tile::batch,
           Tile::threads, shared, stream, wt, b_hn, v, out);
}

/// The backward recurrence of one direction: the gate gradients into v.dg (v.dgh). One kernel.
template <RecurrentCell Cell, std::size_t H, class T>
void recurrent_backward(const T* w_hh, const T* d, const RecurrentViews<T>& v, stream_t stream) {
    using Tile = RecurrentTile<Cell, H, T>;
    if (v.batch == 0) return;
    const std::size_t shared =
        Tile::backward_state + (Tile::backward_resident ? Tile::weight_bytes : 0);
    launch(&kernels::recurrent_backward<Cell, H, T>, (v.batch + Tile::batch - 1) / Tile::batch,
           Tile::threads, shared, stream, w_hh, d, v);
}

} // namespace ctnn::cuda
