// ctnn/backend/cpu/fused/blocks.hpp — the fused Dense-chain executor's building blocks: how an
// epilogue is applied, an aligned copyable buffer, register-blocked transposes (with sums of
// several sources) and column sums, the split of rows between threads; and which stage lists it
// takes (all_dense, up to fused_max_width).
#pragma once
#include "../../../config.hpp"
#include "../../../core/type_list.hpp"
#include "../../../expr/context.hpp"
#include "../../../graph/lowering.hpp"
#include "../../../layers/activation.hpp"
#include "../conv.hpp"
#include "../simd.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace ctnn::cpu {

/// The widest layer (inputs or outputs) a network may have for the fused CPU executor: 1024 with
/// AVX-512, 256 with AVX2, 128 with the portable kernels (where each was measured to beat Eigen),
/// 0 when the fused kernels are not compiled in.
#if CTNN_CPU_FUSED
inline constexpr std::size_t fused_max_width = simd::Native::max_width;
#else
inline constexpr std::size_t fused_max_width = 0;
#endif

namespace detail {

template <class List>
struct all_dense;
template <class... S>
struct all_dense<type_list<S...>> {
    static constexpr bool value = sizeof...(S) > 0 &&
                                  ((S::kind == LayerKind::dense && !per_step_dense<S> &&
                                    S::in_size <= fused_max_width &&
                                    S::out_size <= fused_max_width) &&
                                   ...);
};

} // namespace detail

} // namespace ctnn::cpu

#if CTNN_CPU_FUSED
namespace ctnn::cpu::detail {

/// How a stage's epilogue is applied: nothing to apply, ReLU on the accumulators, or the general
/// Epilogue::apply element by element on the slice (and its dual-number derivative).
enum class EpiKind { none, relu, general };

template <class Epi>
constexpr EpiKind epi_kind() {
    if constexpr (Epi::size == 0) return EpiKind::none;
    else if constexpr (epilogue_is_relu<Epi>) return EpiKind::relu;
    else return EpiKind::general;
}

/// A heap array of floats aligned to a cache line, copyable (a Model copies its executor).
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(std::size_t n) : data_(alloc(n)), size_(n) {
        if (n) std::memset(data_.get(), 0, n * sizeof(float));
    }
    Buffer(const Buffer& o) : data_(alloc(o.size_)), size_(o.size_) {
        if (size_) std::memcpy(data_.get(), o.data_.get(), size_ * sizeof(float));
    }
    Buffer& operator=(const Buffer& o) {
        if (this != &o) *this = Buffer(o);
        return *this;
    }
    Buffer(Buffer&&) noexcept = default;
    Buffer& operator=(Buffer&&) noexcept = default;
    ~Buffer() = default;
    [[nodiscard]] float* data() noexcept { return data_.get(); }
    [[nodiscard]] const float* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    struct Free {
        void operator()(float* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
    };
    static float* alloc(std::size_t n) {
        return n ? static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t{64}))
                 : nullptr;
    }
    std::unique_ptr<float[], Free> data_;
    std::size_t size_ = 0;
};

/// One width x width block of transpose_sum: rows [r, r + width), columns [c0, c0 + width).
template <class Isa, std::size_t Lds, std::size_t Ldd>
CTNN_FORCEINLINE void transpose_block(const float* const* src, unsigned n, float* dst,
                                      std::size_t r, std::size_t c0) {
    constexpr std::size_t w = Isa::width;
    typename Isa::reg t[w];
    CTNN_CPU_UNROLL
    for (std::size_t i = 0; i < w; ++i) t[i] = Isa::load(src[0] + (r + i) * Lds + c0);
    for (unsigned u = 1; u < n; ++u) CTNN_CPU_UNROLL
    for (std::size_t i = 0; i < w; ++i)
        t[i] = Isa::add(t[i], Isa::load(src[u] + (r + i) * Lds + c0));
    Isa::transpose(t);
    CTNN_CPU_UNROLL
    for (std::size_t i = 0; i < w; ++i) Isa::store(dst + (c0 + i) * Ldd + r, t[i]);
}

/// dst[c * Ldd + r] = sum over the n sources of src[r * Lds + c], for r in [r_begin, r_end) and
/// c < Cols (the sources added in order). Blocks of width x width in registers where the
/// instruction set has a transpose (AVX-512: 16 x 16), the rest element by element in blocks of
/// 16 rows (16 read streams, contiguous writes). The register blocks go column band by column
/// band, so the stores advance along `width` rows of dst at a time (streams the prefetchers
/// follow), not across all of dst's Cols rows for every band of rows (measured: docs/cpu.md,
/// "Measured decisions").
template <class Isa, std::size_t Lds, std::size_t Ldd, std::size_t Cols>
void transpose_sum(const float* const* src, unsigned n, float* dst, std::size_t r_begin,
                   std::size_t r_end) {
    // Element by element: rows [r0, r0 + nr) of columns [c0, Cols).
    const auto scalar = [&](std::size_t r0, std::size_t nr, std::size_t c0) {
        for (std::size_t c = c0; c < Cols; ++c)
            for (std::size_t i = 0; i < nr; ++i) {
                float v = src[0][(r0 + i) * Lds + c];
                for (unsigned u = 1; u < n; ++u) v += src[u][(r0 + i) * Lds + c];
                dst[c * Ldd + r0 + i] = v;
            }
    };
    std::size_t r0 = r_begin;
    if constexpr (requires(typename Isa::reg(&t)[Isa::width]) { Isa::transpose(t); }) {
        constexpr std::size_t w = Isa::width;
        constexpr std::size_t full = Cols / w * w;                        // columns in whole blocks
        const std::size_t r_blocks = r_begin + (r_end - r_begin) / w * w; // rows in whole blocks
        for (std::size_t c0 = 0; c0 < full; c0 += w)
            for (std::size_t r = r_begin; r < r_blocks; r += w)
                transpose_block<Isa, Lds, Ldd>(src, n, dst, r, c0);
        for (; r0 < r_blocks; r0 += w) scalar(r0, w, full); // columns [full, Cols)
    }
    for (; r0 < r_end; r0 += 16) scalar(r0, std::min<std::size_t>(16, r_end - r0), 0);
}

/// sum[c] += (or, with overwrite, =) the sum over rows r < m of d[r * Ld + c], for
/// c < NV * width. The registers of up
/// to 8 columns at a time, each with P row phases, give at least 8 independent addition chains:
/// one chain per column register (the plain loop) is bound by the latency of the addition, which
/// made the bias gradients of workload B's 64-wide layers cost a sixth of its backward pass.
template <class Isa, std::size_t NV, std::size_t Ld, std::size_t V0 = 0>
void column_sums(const float* d, std::size_t m, float* sum, bool overwrite) {
    if constexpr (V0 < NV) {
        using reg = typename Isa::reg;
        constexpr std::size_t w = Isa::width;
        constexpr std::size_t G = std::min<std::size_t>(8, NV - V0); // column registers
        constexpr std::size_t P = std::max<std::size_t>(1, 8 / G);   // row phases
        reg acc[P][G];
        CTNN_CPU_UNROLL
        for (std::size_t p = 0; p < P; ++p) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v) acc[p][v] = Isa::zero();
        const float* col = d + V0 * w;
        std::size_t r = 0;
        for (; r + P <= m; r += P) CTNN_CPU_UNROLL
        for (std::size_t p = 0; p < P; ++p) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v)
            acc[p][v] = Isa::add(acc[p][v], Isa::load(col + (r + p) * Ld + v * w));
        for (; r < m; ++r) CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v)
            acc[0][v] = Isa::add(acc[0][v], Isa::load(col + r * Ld + v * w));
        CTNN_CPU_UNROLL
        for (std::size_t v = 0; v < G; ++v) {
            reg t = overwrite ? Isa::zero() : Isa::load(sum + (V0 + v) * w);
            CTNN_CPU_UNROLL
            for (std::size_t p = 0; p < P; ++p) t = Isa::add(t, acc[p][v]);
            Isa::store(sum + (V0 + v) * w, t);
        }
        column_sums<Isa, NV, Ld, V0 + G>(d, m, sum, overwrite);
    }
}

/// Part t of `parts` of [0, n), cut at multiples of 16.
inline std::pair<std::size_t, std::size_t> part16(std::size_t n, unsigned t, unsigned parts) {
    const auto at = [&](unsigned i) { return std::min(n, (n * i / parts + 15) / 16 * 16); };
    return {t == 0 ? 0 : at(t), t + 1 == parts ? n : at(t + 1)};
}

} // namespace ctnn::cpu::detail
#endif
