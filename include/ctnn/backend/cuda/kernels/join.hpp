// ctnn/backend/cuda/kernels/join.hpp — the join stage of Add, Concat and Residual blocks.
//
//   forward:  one thread per output value (grid-stride): z = the sum of the branch outputs (in
//             branch order, as the Eigen executor adds them) or, for Concat, the value of the
//             branch whose slice of the sample holds it; then the stage's epilogue, y = Epi(z).
//             One kernel.
//   backward: one kernel, two grid-stride sweeps, no synchronization (every value is written by
//             one thread):
//               1. per output value: each computed branch's gradient, dZ (or its slice) times the
//                  epilogue derivative of the branch's last stage, i.e. that stage's dL/dZ;
//               2. per value of the block's source (when it needs a gradient): the share of the
//                  identity branches, the sum of their dZ (slices) times the derivative of the
//                  source stage's epilogue, written over the accumulator (zero without one).
//             The executor then adds the source gradient every branch's first stage produces to
//             the accumulator (accumulate: one kernel each) and hands the sum to the source stage.
//   fused:    FusedJoin, the forward of a two-branch Add evaluated in the GEMM store of the stage
//             that ends one branch (no join_forward launch; join_backward unchanged).
// Kernels take the join's geometry as a type (JoinShape: nvcc kernels take no class-type
// template arguments) and the branch pointers as a struct of arrays passed by value.
#pragma once
#include "../../../config.hpp"
#include "../../../core/type_list.hpp"
#include "../../../expr/context.hpp"
#include "../../../expr/dual.hpp"
#include "../../../graph/branch.hpp"
#include "../kernel.hpp"
#include "../launch.hpp"
#include "../types.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

namespace ctnn::cuda {

/// The geometry of a join: its operation, output and source values per sample, and its branches
/// (a type_list of graph/lowering.hpp's BranchSpan: size, offset, identity).
template <JoinOp Op, std::size_t Out, std::size_t Src, class Branches>
struct JoinShape;
template <JoinOp Op, std::size_t Out, std::size_t Src, class... Br>
struct JoinShape<Op, Out, Src, type_list<Br...>> {
    static constexpr JoinOp op = Op;
    static constexpr std::uint32_t out = static_cast<std::uint32_t>(Out);
    static constexpr std::uint32_t src = static_cast<std::uint32_t>(Src);
    static constexpr std::size_t count = sizeof...(Br);
    template <std::size_t K>
    using branch = std::tuple_element_t<K, std::tuple<Br...>>;
    static constexpr bool has_identity = (Br::identity || ...);
};

/// The branch outputs a join reads (an identity branch: the source), in branch order.
template <class T, std::size_t N>
struct JoinInputs {
    const T* y[N];
};

/// Backward pointers per branch: where a computed branch's gradient goes and its last stage's
/// epilogue input (unused for identity branches).
template <class T, std::size_t N>
struct JoinGrads {
    T* g[N];
    const T* z[N];
};

namespace detail {

/// Nothing joined in a forward store.
struct NoJoin {
    static constexpr bool active = false;
};

/// A two-branch Add join evaluated in the GEMM store of the stage that ends one of its branches
/// (join_fuses_into_previous, join_fuses_through_fold in backend/cuda/schedule.hpp): the store
/// hands it its branch's output v at index i (after the branch's epilogue, or a folded
/// BatchNorm's), and it writes the join's z = v + other[i] (in branch order: OtherFirst when the
/// other branch is branch 0, as join_forward and the Eigen path add them) and y = JoinEpi(z), with
/// ElemCtx index i as join_forward (an Add keeps the shape, so the branch's index is the join's).
/// `other` is the other branch's output: the block's source (or the model input) for an identity
/// branch. Two terms, so the sum is the same float as join_forward's.
template <class JoinEpi, bool OtherFirst, class T>
struct FusedJoin {
    static constexpr bool active = true;
    const T* other;
    T* z;
    T* y;

    CTNN_HOST_DEVICE void operator()(std::size_t i, T v, ElemCtx ctx) const {
        const T zj = OtherFirst ? other[i] + v : v + other[i];
        z[i] = zj;
        if constexpr (JoinEpi::size > 0) {
            ctx.index = i;
            y[i] = JoinEpi::apply(zj, ctx);
        }
    }
};

/// The rest of a Conv2D or Dense stage's forward store once Z = v = acc + bias is stored: Y =
/// Epi(v), or an active Fold's BatchNorm (kernels/fold.hpp; Epi is then empty), then an active
/// Join with that output (the branch's Y is then not stored: the join is its only reader).
template <class Epi, class T, class Fold, class Join>
CTNN_HOST_DEVICE void forward_store_tail(std::size_t i, T v, T* y, ElemCtx ctx, const Fold& fold,
                                         const Join& join) {
    T out = v;
    if constexpr (Fold::active) {
        out = fold(i, v, ctx);
    } else if constexpr (Epi::size > 0) {
        ElemCtx c = ctx;
        c.index = i;
        out = Epi::apply(v, c);
        if constexpr (!Join::active) y[i] = out;
    }
    if constexpr (Join::active) join(i, out, ctx);
}

/// Concat: if position j of the joined sample is in branch K's slice, v = that branch's value.
template <class Geo, std::size_t K, class T>
__device__ __forceinline__ void concat_pick(const JoinInputs<T, Geo::count>& in, std::uint64_t b,
                                            std::uint32_t j, T& v) {
    using Br = typename Geo::template branch<K>;
    if (j - Br::offset < Br::size) v = in.y[K][b * Br::size + (j - Br::offset)];
}

/// The joined value at position j of sample b.
template <class Geo, class T, std::size_t... K>
__device__ __forceinline__ T join_value(const JoinInputs<T, Geo::count>& in, std::uint64_t b,
                                        std::uint32_t j, std::index_sequence<K...>) {
    T v = T(0);
    if constexpr (Geo::op == JoinOp::sum) ((v += in.y[K][b * Geo::out + j]), ...);
    else (concat_pick<Geo, K>(in, b, j, v), ...);
    return v;
}

/// dz times the derivative of Epi at z, with the ElemCtx index i (a no-op without epilogue).
template <class Epi, class T>
__device__ __forceinline__ T times_derivative(T dz, const T* z, std::uint64_t i, ElemCtx ctx) {
    if constexpr (Epi::size > 0) {
        ElemCtx c = ctx;
        c.index = i;
        return dz * Epi::apply(expr::Dual<T>{z[i], T(1)}, c).d;
    } else {
        return dz;
    }
}

/// Sweep 1 for branch K at output value (b, j) holding dz: its gradient, if K is computed.
template <class Geo, class Epi, std::size_t K, class T>
__device__ __forceinline__ void branch_grad(const JoinGrads<T, Geo::count>& g, T dz,
                                            std::uint64_t b, std::uint32_t j, ElemCtx ctx) {
    using Br = typename Geo::template branch<K>;
    if constexpr (!Br::identity) {
        if constexpr (Geo::op == JoinOp::sum) {
            const std::uint64_t i = b * Geo::out + j;
            g.g[K][i] = times_derivative<Epi>(dz, g.z[K], i, ctx);
        } else if (j - Br::offset < Br::size) {
            const std::uint64_t i = b * Br::size + (j - Br::offset);
            g.g[K][i] = times_derivative<Epi>(dz, g.z[K], i, ctx);
        }
    }
}

template <class Geo, class... Epi, class T, std::size_t... K>
__device__ __forceinline__ void branch_grads(const JoinGrads<T, Geo::count>& g, T dz,
                                             std::uint64_t b, std::uint32_t j, ElemCtx ctx,
                                             type_list<Epi...>, std::index_sequence<K...>) {
    (branch_grad<Geo, Epi, K>(g, dz, b, j, ctx), ...);
}

/// Sweep 2: branch K's share of the source gradient at source value (b, j), if an identity.
template <class Geo, std::size_t K, class T>
__device__ __forceinline__ void add_identity(const T* dz, std::uint64_t b, std::uint32_t j, T& s) {
    using Br = typename Geo::template branch<K>;
    if constexpr (Br::identity) s += dz[b * Geo::out + Br::offset + j];
}

template <class Geo, class T, std::size_t... K>
__device__ __forceinline__ T identity_share(const T* dz, std::uint64_t b, std::uint32_t j,
                                            std::index_sequence<K...>) {
    T s = T(0);
    (add_identity<Geo, K>(dz, b, j, s), ...);
    return s;
}

} // namespace detail

namespace kernels {

template <class Geo, class Epi, class T>
__global__ void join_forward(JoinInputs<T, Geo::count> in, T* z, T* y, std::uint64_t batch,
                             ElemCtx ctx) {
    const std::uint64_t count = batch * Geo::out;
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride) {
        const std::uint64_t b = i / Geo::out;
        const auto j = static_cast<std::uint32_t>(i % Geo::out);
        const T v = detail::join_value<Geo>(in, b, j, std::make_index_sequence<Geo::count>{});
        z[i] = v;
        if constexpr (Epi::size > 0) {
            ElemCtx c = ctx;
            c.index = i;
            y[i] = Epi::apply(v, c);
        }
    }
}

/// Epis: the epilogue of each branch's last stage (a type_list, any type for identities);
/// SrcEpi: the source stage's epilogue; Acc: the source needs a gradient (acc, zsrc valid).
template <class Geo, class Epis, class SrcEpi, bool Acc, class T>
__global__ void join_backward(const T* dz, JoinGrads<T, Geo::count> g, T* acc, const T* zsrc,
                              std::uint64_t batch, ElemCtx ctx) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    const std::uint64_t first = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
    // 1. Each computed branch's dL/dZ from its part of dZ.
    const std::uint64_t count = batch * Geo::out;
    for (std::uint64_t i = first; i < count; i += stride) {
        const std::uint64_t b = i / Geo::out;
        const auto j = static_cast<std::uint32_t>(i % Geo::out);
        detail::branch_grads<Geo>(g, dz[i], b, j, ctx, Epis{},
                                  std::make_index_sequence<Geo::count>{});
    }
    // 2. The source accumulator: the identity branches' share (or zero), through the source's
    //    epilogue.
    if constexpr (Acc) {
        const std::uint64_t src_count = batch * Geo::src;
        for (std::uint64_t i = first; i < src_count; i += stride) {
            if constexpr (Geo::has_identity) {
                const std::uint64_t b = i / Geo::src;
                const auto j = static_cast<std::uint32_t>(i % Geo::src);
                const T s =
                    detail::identity_share<Geo>(dz, b, j, std::make_index_sequence<Geo::count>{});
                acc[i] = detail::times_derivative<SrcEpi>(s, zsrc, i, ctx);
            } else {
                acc[i] = T(0);
            }
        }
    }
}

/// y[i] += x[i] for i < count.
template <class T>
__global__ void accumulate(T* y, const T* x, std::uint64_t count) {
    const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
    for (std::uint64_t i = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count;
         i += stride)
        y[i] += x[i];
}

} // namespace kernels

/// Threads per block of the join kernels.
inline constexpr unsigned join_block = 256;
/// Most blocks of a join launch (grid-stride beyond).
inline constexpr unsigned join_max_blocks = 1024;

inline unsigned join_grid(std::uint64_t count) {
    const std::uint64_t blocks = (count + join_block - 1) / join_block;
    return static_cast<unsigned>(std::clamp<std::uint64_t>(blocks, 1, join_max_blocks));
}

/// Forward pass of a join stage over `batch` samples: z = join(in), y = Epi(z). One kernel.
template <class Geo, class Epi, class T>
void join_forward(const JoinInputs<T, Geo::count>& in, T* z, T* y, std::size_t batch, ElemCtx ctx,
                  stream_t stream = nullptr) {
    if (batch == 0) return;
    launch(&kernels::join_forward<Geo, Epi, T>, join_grid(std::uint64_t{batch} * Geo::out),
           join_block, 0, stream, in, z, y, std::uint64_t{batch}, ctx);
}

/// Backward pass of a join stage from its dL/dZ `dz`: the computed branches' dL/dZ into g, and
/// (Acc) the identity branches' share of the source's dL/dZ over acc. One kernel.
template <class Geo, class Epis, class SrcEpi, bool Acc, class T>
void join_backward(const T* dz, const JoinGrads<T, Geo::count>& g, T* acc, const T* zsrc,
                   std::size_t batch, ElemCtx ctx, stream_t stream = nullptr) {
    if (batch == 0) return;
    const std::uint64_t widest = std::uint64_t{batch} * std::max(Geo::out, Geo::src);
    launch(&kernels::join_backward<Geo, Epis, SrcEpi, Acc, T>, join_grid(widest), join_block, 0,
           stream, dz, g, acc, zsrc, std::uint64_t{batch}, ctx);
}

/// y += x over `count` values: a branch's share of its block source's gradient. One kernel.
template <class T>
void accumulate(T* y, const T* x, std::size_t count, stream_t stream = nullptr) {
    if (count == 0) return;
    launch(&kernels::accumulate<T>, join_grid(count), join_block, 0, stream, y, x,
           std::uint64_t{count});
}

} // namespace ctnn::cuda
