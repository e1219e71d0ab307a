// ctnn/backend/cuda/host/runtime.hpp — host execution of CUDA kernels: scheduler and intrinsics.
//
// run_kernel() executes a kernel's grid on the calling OS thread: blocks one after the other in a
// seeded random order; inside a block, every GPU thread is a fiber (host/fiber.hpp). In each round
// the scheduler resumes every runnable fiber once, in a freshly permuted order, and each runs
// until it finishes or reaches a synchronization point:
//   __syncthreads (and _count/_and/_or)  released when every thread of the block has arrived;
//   warp shuffles, votes, __syncwarp     released when every lane named in the mask has arrived
//                                        at the same intrinsic with the same mask;
// so the result of a kernel never depends on the order, unless the kernel has a race (a missing
// barrier), in which case different seeds give different results.
//
// Misuse a GPU would turn into a hang or undefined behaviour is reported as ctnn::cuda_error
// naming the launch site and the block: a __syncthreads reached by only some threads (the others
// exited), a shuffle waiting for a lane that exited or waits at __syncthreads, lanes of one warp
// in different intrinsics or with different masks, an invalid shuffle width, a launch geometry
// CUDA rejects (more than 1024 threads per block, 0 extents, dynamic shared memory over 48 KiB).
//
// Seeds: the per-thread base seed is CTNN_HOST_EXEC_SEED (environment, decimal or 0x-hex) or a
// fixed default, or set_seed(); launch k on an OS thread uses a seed mixed from (base, k), so the
// schedule differs per launch yet a run is reproducible. Failures print the seed.
//
// Atomics are plain read-modify-write: blocks run one at a time on one OS thread and fibers only
// switch at synchronization points, so no other GPU thread can interleave. (Two OS threads that
// host-execute kernels writing the same memory race, as two CUDA streams would.)
#pragma once
#include "../../../config.hpp"
#include "../../../core/error.hpp"
#include "../error.hpp"
#include "../types.hpp"
#include "fiber.hpp"
#include "mma.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace ctnn::cuda::host {

/// A thread or block index, as CUDA's uint3.
struct uint3 {
    unsigned x = 0, y = 0, z = 0;
};

/// Threads per warp.
inline constexpr int warp_size = 32;
/// Largest block CUDA accepts (threads).
inline constexpr unsigned max_threads_per_block = 1024;
/// Largest dynamic shared memory a launch may request without an opt-in attribute (bytes).
inline constexpr std::size_t max_dynamic_shared_bytes = 48u * 1024u;
/// Largest grid host execution accepts (blocks); a bigger grid would take hours on the CPU.
inline constexpr std::uint64_t max_host_blocks = std::uint64_t{1} << 24;

namespace detail {

/// splitmix64: the seed mixer and the scheduler's random source.
struct SplitMix {
    std::uint64_t state;
    static constexpr std::uint64_t mix(std::uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint64_t next() { return mix(state += 0x9E3779B97F4A7C15ull); }
    /// Uniform in [0, n), n > 0 (the tiny modulo bias does not matter for scheduling).
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

/// Shuffles v in place (Fisher-Yates).
template <class T>
void permute(std::vector<T>& v, SplitMix& rng) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

/// What a fiber is doing when the scheduler gets control back.
enum class Wait : std::uint8_t { runnable, barrier, warp, done, failed };
/// The warp-level intrinsic a fiber waits in.
enum class WarpOp : std::uint8_t {
    shfl,
    shfl_up,
    shfl_down,
    shfl_xor,
    ballot,
    any,
    all,
    sync,
    mma,     ///< mma.sync m16n8k16 (host/mma.hpp): value points at the lane's MmaLane
    ldmatrix ///< ldmatrix m8n8 (host/mma.hpp): value points at the lane's LdmatrixLane
};
/// The block barrier flavour a fiber waits in.
enum class BarrierOp : std::uint8_t { sync, count, all, any };

inline const char* name_of(WarpOp op) {
    switch (op) {
    case WarpOp::shfl: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::sync: return "__syncwarp";
    case WarpOp::mma: return "mma.sync.aligned.m16n8k16";
    case WarpOp::ldmatrix: return "ldmatrix.sync.aligned.m8n8";
    }
    return "?";
}

/// One GPU thread of the running block.
struct ThreadSlot {
    Fiber fiber;
    uint3 tid;
    unsigned linear = 0;
    Wait wait = Wait::runnable;
    WarpOp op = WarpOp::sync;
    BarrierOp barrier = BarrierOp::sync;
    unsigned mask = 0;     ///< warp op: the lanes named by the intrinsic
    int arg = 0;           ///< shuffle: source lane, delta or lane mask
    int width = warp_size; ///< shuffle: segment width
    int pred = 0;          ///< vote / counting barrier: the predicate
    std::uint64_t value = 0, result = 0;
};

/// 16-byte aligned unit of the dynamic shared memory buffer.
struct alignas(16) SharedUnit {
    unsigned char bytes[16];
};

/// Host-execution state of one OS thread.
struct Runtime {
    StackPool stacks;
    SchedulerContext sched;
    std::vector<ThreadSlot> slots;
    std::vector<unsigned> runnable;
    ThreadSlot* current = nullptr;
    bool in_launch = false;

    // The running launch.
    void (*invoke)(const void*) = nullptr;
    const void* closure = nullptr;
    uint3 block_idx, block_dim, grid_dim;
    std::vector<SharedUnit> dynamic_shared;
    std::size_t dynamic_shared_bytes = 0;
    CallSite where;
    SplitMix rng{0};
    std::uint64_t launch_seed = 0;
    std::string failure;
    std::exception_ptr exception;

    // Seeds.
    std::optional<std::uint64_t> base_seed_override;
    std::uint64_t launches = 0;
};

inline Runtime& runtime() {
    thread_local Runtime rt;
    return rt;
}

/// The base seed from CTNN_HOST_EXEC_SEED, or a fixed default; read once per process.
inline std::uint64_t environment_seed() {
    static const std::uint64_t seed = [] {
        const char* s = std::getenv("CTNN_HOST_EXEC_SEED");
        if (s == nullptr || *s == '\0') return std::uint64_t{0x5EED'C7AA'0000'0001ull};
        return static_cast<std::uint64_t>(std::strtoull(s, nullptr, 0));
    }();
    return seed;
}

/// The running GPU thread. Throws (outside any fiber) when used outside a kernel.
inline ThreadSlot& self() {
    Runtime& rt = runtime();
    if (rt.current == nullptr)
        throw error("CUDA thread intrinsic (threadIdx, __syncthreads, ...) used outside a kernel "
                    "run by ctnn::cuda::launch");
    return *rt.current;
}

/// Fiber side: reports a misuse and abandons the block; the scheduler throws it.
[[noreturn]] inline void fail_in_fiber() {
    Runtime& rt = runtime();
    rt.current->wait = Wait::failed;
    leave(rt.sched);
}

/// Entry function of every fiber.
inline void fiber_entry() {
    Runtime& rt = runtime();
    fiber_started(rt.sched);
    ThreadSlot& me = *rt.current;
    try {
        rt.invoke(rt.closure);
        me.wait = Wait::done;
    } catch (...) {
        rt.exception = std::current_exception();
        me.wait = Wait::failed;
    }
    leave(rt.sched);
}

inline std::string dims_string(uint3 d) {
    std::string s = "(";
    s += std::to_string(d.x);
    s += ',';
    s += std::to_string(d.y);
    s += ',';
    s += std::to_string(d.z);
    s += ')';
    return s;
}

inline std::string hex(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s = "0x";
    bool started = false;
    for (int shift = 60; shift >= 0; shift -= 4) {
        const auto d = static_cast<unsigned>((v >> shift) & 0xFu);
        if (d != 0 || started || shift == 0) {
            s += digits[d];
            started = true;
        }
    }
    return s;
}

/// Throws cuda_error for the running launch: `error_name` as CUDA would name it, `detail` what
/// happened; the message names the launch site, the block and the seed.
[[noreturn]] inline void launch_failure(const char* error_name, const std::string& detail,
                                        bool in_block) {
    Runtime& rt = runtime();
    std::string m = "host execution of a kernel launched with grid ";
    m += dims_string(rt.grid_dim);
    m += ", block ";
    m += dims_string(rt.block_dim);
    if (in_block) {
        m += ", in blockIdx ";
        m += dims_string(rt.block_idx);
    }
    m += ": ";
    m += detail;
    m += " [schedule seed ";
    m += hex(rt.launch_seed);
    m += " = launch ";
    m += std::to_string(rt.launches);
    m += " of this thread under base seed ";
    m += hex(rt.base_seed_override.value_or(environment_seed()));
    m += " (CTNN_HOST_EXEC_SEED)]";
    rt.in_launch = false;
    rt.current = nullptr;
    throw cuda_error(error_name, m, rt.where.file, rt.where.line);
}

inline std::string thread_string(const ThreadSlot& t) {
    std::string s = "thread ";
    s += dims_string(t.tid);
    s += " (warp ";
    s += std::to_string(t.linear / warp_size);
    s += ", lane ";
    s += std::to_string(t.linear % warp_size);
    s += ')';
    return s;
}

/// Result of shuffle `t` given the segment's values, per PTX shfl.sync: the source lane, or the
/// caller's own value when the source lies beyond its segment.
inline std::uint64_t shuffle_result(const ThreadSlot& t, unsigned lane, unsigned group,
                                    const ThreadSlot* warp) {
    const auto w = static_cast<unsigned>(t.width);
    const unsigned base = lane & ~(w - 1u);
    const unsigned last = base + w - 1u;
    long src = 0;
    bool in_range = true;
    switch (t.op) {
    case WarpOp::shfl:
        src = static_cast<long>(base | (static_cast<unsigned>(t.arg) & (w - 1u)));
        break;
    case WarpOp::shfl_up:
        src = static_cast<long>(lane) - static_cast<long>(static_cast<unsigned>(t.arg));
        in_range = src >= static_cast<long>(base);
        break;
    case WarpOp::shfl_down:
        src = static_cast<long>(lane) + static_cast<long>(static_cast<unsigned>(t.arg));
        in_range = src <= static_cast<long>(last);
        break;
    case WarpOp::shfl_xor:
        src = static_cast<long>(lane ^ static_cast<unsigned>(t.arg));
        in_range = src <= static_cast<long>(last);
        break;
    default: break;
    }
    if (!in_range) return t.value;
    const auto s = static_cast<unsigned>(src);
    // Reading a lane that does not take part (outside the mask, or absent from a partial warp) is
    // undefined on a GPU: return a poison pattern (NaN for floats) so a test notices.
    if (s >= 32u || ((group >> s) & 1u) == 0u) return ~std::uint64_t{0};
    return warp[s].value;
}

/// A complete group of shuffles, votes or __syncwarp: every lane's result.
inline void resolve_votes_and_shuffles(ThreadSlot* warp, unsigned lanes, unsigned group) {
    std::uint64_t ballot = 0;
    bool any = false, all = true;
    for (unsigned k = 0; k < lanes; ++k) {
        if (((group >> k) & 1u) == 0u) continue;
        const bool p = warp[k].pred != 0;
        ballot |= p ? (std::uint64_t{1} << k) : 0u;
        any = any || p;
        all = all && p;
    }
    for (unsigned k = 0; k < lanes; ++k) {
        if (((group >> k) & 1u) == 0u) continue;
        ThreadSlot& o = warp[k];
        switch (o.op) {
        case WarpOp::ballot: o.result = ballot; break;
        case WarpOp::any: o.result = any ? 1u : 0u; break;
        case WarpOp::all: o.result = all ? 1u : 0u; break;
        case WarpOp::sync: o.result = 0; break;
        default: o.result = shuffle_result(o, k, group, warp); break;
        }
    }
}

/// A complete mma or ldmatrix group: the instruction is .aligned, so every one of the warp's 32
/// lanes executes it with the same variant (arg); then computes every lane's registers (in the
/// operand structs its `value` points at: the intrinsics return nothing through `result`).
inline void resolve_matrix_op(ThreadSlot* warp, unsigned lanes, unsigned group) {
    const ThreadSlot& t = warp[0];
    if (lanes != 32u || group != ~0u) {
        std::string m = thread_string(t);
        m += " executes ";
        m += name_of(t.op);
        m += " with ";
        m += lanes != 32u ? std::to_string(lanes) + " lanes in its warp"
                          : std::string("mask ") + hex(group);
        m += ": the instruction needs all 32 lanes of a warp";
        launch_failure("cudaErrorIllegalInstruction", m, true);
    }
    for (unsigned k = 1; k < 32; ++k) {
        if (warp[k].arg != t.arg) {
            std::string m = thread_string(warp[k]);
            m += " and ";
            m += thread_string(t);
            m += " execute different variants of ";
            m += name_of(t.op);
            m += " (every lane of an .aligned instruction runs the same one)";
            launch_failure("cudaErrorIllegalInstruction", m, true);
        }
    }
    if (t.op == WarpOp::mma) {
        host::detail::MmaLane* operands[32];
        for (unsigned k = 0; k < 32; ++k)
            operands[k] = reinterpret_cast<host::detail::MmaLane*>(warp[k].value);
        host::detail::mma_m16n8k16(operands, static_cast<MmaInput>(t.arg));
    } else {
        host::detail::LdmatrixLane* operands[32];
        for (unsigned k = 0; k < 32; ++k)
            operands[k] = reinterpret_cast<host::detail::LdmatrixLane*>(warp[k].value);
        host::detail::ldmatrix_m8n8(operands, static_cast<unsigned>(t.arg) & 7u, (t.arg & 8) != 0);
    }
}

/// Releases every warp-level group whose lanes have all arrived. Appends released threads to
/// rt.runnable. Throws on lanes that disagree about the intrinsic or the mask.
inline void resolve_warps(Runtime& rt, unsigned n) {
    for (unsigned w0 = 0; w0 < n; w0 += warp_size) {
        const unsigned lanes = std::min(n - w0, static_cast<unsigned>(warp_size));
        const unsigned present = lanes == 32u ? ~0u : (1u << lanes) - 1u;
        ThreadSlot* warp = rt.slots.data() + w0;
        for (unsigned l = 0; l < lanes; ++l) {
            const ThreadSlot& t = warp[l];
            if (t.wait != Wait::warp) continue;
            const unsigned group = t.mask & present;
            bool complete = true;
            for (unsigned k = 0; k < lanes; ++k) {
                if (((group >> k) & 1u) == 0u) continue;
                const ThreadSlot& o = warp[k];
                if (o.wait != Wait::warp) {
                    complete = false;
                    continue;
                }
                if (o.mask != t.mask || o.op != t.op || o.width != t.width) {
                    std::string m = thread_string(t);
                    m += " is in ";
                    m += name_of(t.op);
                    m += "(mask ";
                    m += hex(t.mask);
                    m += ") while ";
                    m += thread_string(o);
                    m += " is in ";
                    m += name_of(o.op);
                    m += "(mask ";
                    m += hex(o.mask);
                    m += "): the lanes of a warp-synchronous intrinsic must execute the same "
                         "intrinsic with the same mask and width";
                    launch_failure("cudaErrorIllegalInstruction", m, true);
                }
            }
            if (!complete) continue;
            // Every lane of the group is here: compute all results from the arrival values.
            if (t.op == WarpOp::mma || t.op == WarpOp::ldmatrix)
                resolve_matrix_op(warp, lanes, group);
            else resolve_votes_and_shuffles(warp, lanes, group);
            for (unsigned k = 0; k < lanes; ++k) {
                if (((group >> k) & 1u) == 0u) continue;
                warp[k].wait = Wait::runnable;
                rt.runnable.push_back(w0 + k);
            }
        }
    }
}

/// Nothing is runnable and no warp group is complete: release the block barrier, finish the
/// block, or report why the block can never finish. Returns false when the block is done.
inline bool resolve_barrier(Runtime& rt, unsigned n) {
    unsigned at_barrier = 0, done = 0, in_warp = 0;
    const ThreadSlot* exited = nullptr;
    const ThreadSlot* waiting = nullptr;
    const ThreadSlot* warp_waiter = nullptr;
    for (unsigned i = 0; i < n; ++i) {
        const ThreadSlot& t = rt.slots[i];
        if (t.wait == Wait::barrier) {
            ++at_barrier;
            if (!waiting) waiting = &t;
        } else if (t.wait == Wait::done) {
            ++done;
            if (!exited) exited = &t;
        } else if (t.wait == Wait::warp) {
            ++in_warp;
            if (!warp_waiter) warp_waiter = &t;
        }
    }
    if (done == n) return false;
    if (in_warp > 0) {
        const ThreadSlot& t = *warp_waiter;
        const unsigned w0 = t.linear / warp_size * warp_size;
        std::string m = thread_string(t);
        m += " waits in ";
        m += name_of(t.op);
        m += "(mask ";
        m += hex(t.mask);
        m += ") for ";
        for (unsigned k = 0; k < warp_size && w0 + k < n; ++k) {
            const ThreadSlot& o = rt.slots[w0 + k];
            if (((t.mask >> k) & 1u) == 0u || o.wait == Wait::warp) continue;
            m += "lane ";
            m += std::to_string(k);
            m += o.wait == Wait::done ? ", which has exited" : ", which waits at __syncthreads()";
            break;
        }
        m += ": a deadlock on a GPU (every lane named in the mask must reach the intrinsic)";
        launch_failure("cudaErrorLaunchTimeout", m, true);
    }
    if (done > 0) {
        std::string m = "__syncthreads() reached by ";
        m += std::to_string(at_barrier);
        m += " of ";
        m += std::to_string(n);
        m += " threads (e.g. ";
        m += thread_string(*waiting);
        m += ") while ";
        m += std::to_string(done);
        m += " exited (e.g. ";
        m += thread_string(*exited);
        m += "): a divergent barrier, a deadlock or undefined behaviour on a GPU";
        launch_failure("cudaErrorLaunchTimeout", m, true);
    }
    // Every thread is at the barrier: release it, with the reduction of the _count/_and/_or forms.
    int count = 0;
    for (unsigned i = 0; i < n; ++i) count += rt.slots[i].pred != 0 ? 1 : 0;
    for (unsigned i = 0; i < n; ++i) {
        ThreadSlot& t = rt.slots[i];
        switch (t.barrier) {
        case BarrierOp::count: t.result = static_cast<std::uint64_t>(count); break;
        case BarrierOp::all: t.result = count == static_cast<int>(n) ? 1u : 0u; break;
        case BarrierOp::any: t.result = count > 0 ? 1u : 0u; break;
        case BarrierOp::sync: t.result = 0; break;
        }
        t.wait = Wait::runnable;
        rt.runnable.push_back(i);
    }
    return true;
}

/// Runs block rt.block_idx to completion.
inline void run_block(Runtime& rt) {
    const unsigned bx = rt.block_dim.x, by = rt.block_dim.y;
    const unsigned n = bx * by * rt.block_dim.z;
    if (rt.slots.size() < n) rt.slots.resize(n);
    rt.runnable.clear();
    for (unsigned i = 0; i < n; ++i) {
        ThreadSlot& t = rt.slots[i];
        t.tid = {i % bx, i / bx % by, i / (bx * by)};
        t.linear = i;
        t.wait = Wait::runnable;
        t.pred = 0;
        t.fiber.reset(rt.stacks.get(i), &fiber_entry);
        rt.runnable.push_back(i);
    }
    // Dynamic shared memory starts as a poison pattern (NaN floats), as uninitialized as on a GPU.
    if (!rt.dynamic_shared.empty())
        std::memset(rt.dynamic_shared.data(), 0xFF, rt.dynamic_shared.size() * sizeof(SharedUnit));

    std::vector<unsigned> round;
    for (;;) {
        // One round: every runnable thread, in a fresh permuted order, until its next sync point.
        round.swap(rt.runnable);
        rt.runnable.clear();
        permute(round, rt.rng);
        for (const unsigned i : round) {
            ThreadSlot& t = rt.slots[i];
            rt.current = &t;
            resume(rt.sched, t.fiber);
            rt.current = nullptr;
            if (t.wait == Wait::failed) {
                if (rt.exception) {
                    rt.in_launch = false;
                    std::rethrow_exception(std::exchange(rt.exception, nullptr));
                }
                std::string m = thread_string(t);
                m += ": ";
                m += rt.failure;
                launch_failure("cudaErrorIllegalInstruction", m, true);
            }
        }
        resolve_warps(rt, n);
        if (!rt.runnable.empty()) continue;
        if (!resolve_barrier(rt, n)) return;
    }
}

/// Runs `invoke(closure)` as the kernel of a grid x block launch with `shared_bytes` of dynamic
/// shared memory. Throws cuda_error for a geometry CUDA rejects or a kernel misuse.
inline void run_grid(void (*invoke)(const void*), const void* closure, dim3 grid, dim3 block,
                     std::size_t shared_bytes, CallSite where) {
    Runtime& rt = runtime();
    if (rt.in_launch)
        throw cuda_error("cudaErrorNotSupported",
                         "host execution: a kernel cannot launch kernels (dynamic parallelism)",
                         where.file, where.line);
    rt.where = where;
    rt.grid_dim = {grid.x, grid.y, grid.z};
    rt.block_dim = {block.x, block.y, block.z};
    rt.block_idx = {};
    const std::uint64_t base = rt.base_seed_override.value_or(environment_seed());
    rt.launch_seed = SplitMix::mix(base ^ SplitMix::mix(++rt.launches));
    rt.rng = SplitMix{rt.launch_seed};

    const std::uint64_t threads = std::uint64_t{block.x} * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
        launch_failure("cudaErrorInvalidConfiguration", "a grid or block extent is 0", false);
    if (threads > max_threads_per_block || block.x > 1024u || block.y > 1024u || block.z > 64u) {
        std::string m = "a block of ";
        m += std::to_string(threads);
        m += " threads exceeds the limits (1024 threads; x, y <= 1024, z <= 64)";
        launch_failure("cudaErrorInvalidConfiguration", m, false);
    }
    if (grid.x > 0x7FFFFFFFu || grid.y > 65535u || grid.z > 65535u)
        launch_failure("cudaErrorInvalidConfiguration",
                       "grid extents exceed (2^31 - 1, 65535, 65535)", false);
    const std::uint64_t blocks = std::uint64_t{grid.x} * grid.y * grid.z;
    if (blocks > max_host_blocks)
        launch_failure("cudaErrorInvalidConfiguration",
                       "more than 2^24 blocks is too many for host execution", false);
    if (shared_bytes > max_dynamic_shared_bytes) {
        std::string m = std::to_string(shared_bytes);
        m += " bytes of dynamic shared memory exceed the 48 KiB a launch may use";
        launch_failure("cudaErrorInvalidValue", m, false);
    }

    rt.invoke = invoke;
    rt.closure = closure;
    rt.dynamic_shared_bytes = shared_bytes;
    rt.dynamic_shared.resize((shared_bytes + sizeof(SharedUnit) - 1) / sizeof(SharedUnit));
    rt.failure.clear();
    rt.exception = nullptr;
    rt.in_launch = true;

    // Blocks in a seeded random order: a kernel whose result depends on block order is caught.
    std::vector<std::uint32_t> order(static_cast<std::size_t>(blocks));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
    permute(order, rt.rng);
    for (const std::uint32_t b : order) {
        rt.block_idx = {b % grid.x, b / grid.x % grid.y, b / (grid.x * grid.y)};
        run_block(rt);
    }
    rt.in_launch = false;
}

/// Fiber side of a block barrier.
inline int barrier(BarrierOp op, int pred) {
    ThreadSlot& t = self();
    t.wait = Wait::barrier;
    t.barrier = op;
    t.pred = pred;
    suspend(runtime().sched, t.fiber);
    return static_cast<int>(t.result);
}

/// Fiber side of a warp-level intrinsic: arrives with (mask, value, arg, width, pred), returns
/// the 64-bit result once every lane of the mask has arrived.
inline std::uint64_t warp_arrive(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                                 int pred) {
    ThreadSlot& t = self();
    if (((mask >> (t.linear % warp_size)) & 1u) == 0u) {
        Runtime& rt = runtime();
        rt.failure = name_of(op);
        rt.failure += " called with mask ";
        rt.failure += hex(mask);
        rt.failure += " that does not name the calling lane";
        fail_in_fiber();
    }
    if (width < 1 || width > warp_size || (width & (width - 1)) != 0) {
        Runtime& rt = runtime();
        rt.failure = name_of(op);
        rt.failure += " called with width ";
        rt.failure += std::to_string(width);
        rt.failure += " (must be a power of 2 in [1, 32])";
        fail_in_fiber();
    }
    t.wait = Wait::warp;
    t.op = op;
    t.mask = mask;
    t.value = value;
    t.arg = arg;
    t.width = width;
    t.pred = pred;
    suspend(runtime().sched, t.fiber);
    return t.result;
}

template <class T>
std::uint64_t to_bits(T v) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                  "warp shuffles move trivially copyable values of at most 8 bytes");
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T>
T from_bits(std::uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

} // namespace detail

/// Sets this OS thread's base seed of the host-execution schedule and restarts its launch
/// sequence, so the following launches are scheduled reproducibly.
inline void set_seed(std::uint64_t seed) {
    detail::runtime().base_seed_override = seed;
    detail::runtime().launches = 0;
}
/// Returns to the base seed of CTNN_HOST_EXEC_SEED (or the default) and restarts the sequence.
inline void reset_seed() {
    detail::runtime().base_seed_override.reset();
    detail::runtime().launches = 0;
}
/// The schedule seed of the last host-executed launch on this OS thread.
inline std::uint64_t last_launch_seed() { return detail::runtime().launch_seed; }

/// Executes kernel(args...) on the host over grid x block (see the file comment). The kernel's
/// parameters are copied once, as a CUDA launch copies them, and every GPU thread calls the
/// kernel with that copy.
template <class... P, class... A>
void run_kernel(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shared_bytes,
                CallSite where, A&&... args) {
    static_assert((!std::is_reference_v<P> && ...),
                  "kernel parameters are passed by value (CUDA copies them to the device)");
    struct Closure {
        void (*kernel)(P...);
        std::tuple<P...> params;
    };
    const Closure closure{kernel, std::tuple<P...>(std::forward<A>(args)...)};
    detail::run_grid(
        [](const void* c) {
            const auto& cl = *static_cast<const Closure*>(c);
            std::apply(cl.kernel, cl.params);
        },
        &closure, grid, block, shared_bytes, where);
}

// --- Intrinsics (reached through the CUDA spellings defined in backend/cuda/kernel.hpp) ------

/// threadIdx of the running GPU thread.
inline const uint3& thread_idx() { return detail::self().tid; }
/// blockIdx of the running block.
inline const uint3& block_idx() {
    (void)detail::self();
    return detail::runtime().block_idx;
}
/// blockDim of the running launch.
inline const uint3& block_dim() {
    (void)detail::self();
    return detail::runtime().block_dim;
}
/// gridDim of the running launch.
inline const uint3& grid_dim() {
    (void)detail::self();
    return detail::runtime().grid_dim;
}
/// The dynamic shared memory of the running block (CTNN_DYNAMIC_SHARED), 16-byte aligned.
template <class T>
T* dynamic_shared() {
    (void)detail::self();
    return reinterpret_cast<T*>(detail::runtime().dynamic_shared.data());
}

/// __syncthreads(): waits until every thread of the block arrives.
inline void syncthreads() { (void)detail::barrier(detail::BarrierOp::sync, 0); }
/// __syncthreads_count(pred): barrier; returns how many threads passed a nonzero pred.
inline int syncthreads_count(int pred) { return detail::barrier(detail::BarrierOp::count, pred); }
/// __syncthreads_and(pred): barrier; nonzero iff every thread's pred is nonzero.
inline int syncthreads_and(int pred) { return detail::barrier(detail::BarrierOp::all, pred); }
/// __syncthreads_or(pred): barrier; nonzero iff some thread's pred is nonzero.
inline int syncthreads_or(int pred) { return detail::barrier(detail::BarrierOp::any, pred); }

/// __syncwarp(mask): waits until every lane named in mask arrives.
inline void syncwarp(unsigned mask = 0xFFFFFFFFu) {
    (void)detail::warp_arrive(detail::WarpOp::sync, mask, 0, 0, warp_size, 0);
}
/// __shfl_sync: var of lane (srcLane mod width) of the caller's width-segment.
template <class T>
T shfl_sync(unsigned mask, T var, int src_lane, int width = warp_size) {
    return detail::from_bits<T>(
        detail::warp_arrive(detail::WarpOp::shfl, mask, detail::to_bits(var), src_lane, width, 0));
}
/// __shfl_up_sync: var of lane - delta, or the caller's own var below its segment.
template <class T>
T shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warp_size) {
    return detail::from_bits<T>(detail::warp_arrive(
        detail::WarpOp::shfl_up, mask, detail::to_bits(var), static_cast<int>(delta), width, 0));
}
/// __shfl_down_sync: var of lane + delta, or the caller's own var beyond its segment.
template <class T>
T shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warp_size) {
    return detail::from_bits<T>(detail::warp_arrive(
        detail::WarpOp::shfl_down, mask, detail::to_bits(var), static_cast<int>(delta), width, 0));
}
/// __shfl_xor_sync: var of lane ^ lane_mask, or the caller's own var beyond its segment.
template <class T>
T shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warp_size) {
    return detail::from_bits<T>(detail::warp_arrive(detail::WarpOp::shfl_xor, mask,
                                                    detail::to_bits(var), lane_mask, width, 0));
}
/// __ballot_sync: bit k set iff lane k of mask passed a nonzero pred.
inline unsigned ballot_sync(unsigned mask, int pred) {
    return static_cast<unsigned>(
        detail::warp_arrive(detail::WarpOp::ballot, mask, 0, 0, warp_size, pred));
}
/// __any_sync: nonzero iff some lane of mask passed a nonzero pred.
inline int any_sync(unsigned mask, int pred) {
    return static_cast<int>(detail::warp_arrive(detail::WarpOp::any, mask, 0, 0, warp_size, pred));
}
/// __all_sync: nonzero iff every lane of mask passed a nonzero pred.
inline int all_sync(unsigned mask, int pred) {
    return static_cast<int>(detail::warp_arrive(detail::WarpOp::all, mask, 0, 0, warp_size, pred));
}

/// mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 (Input): d = a b + c with
/// this lane's fragments (host/mma.hpp gives the layouts); every lane of the warp calls it.
template <MmaInput Input>
void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                  const float (&c)[4]) {
    detail::MmaLane x{};
    std::memcpy(x.a, a, sizeof x.a);
    std::memcpy(x.b, b, sizeof x.b);
    std::memcpy(x.c, c, sizeof x.c);
    (void)detail::warp_arrive(detail::WarpOp::mma, ~0u, reinterpret_cast<std::uintptr_t>(&x),
                              static_cast<int>(Input), warp_size, 0);
    std::memcpy(d, x.d, sizeof x.d);
}

/// ldmatrix.sync.aligned.m8n8.x`N`{.trans}.shared.b16: this lane gives the address of one row of
/// 8 16-bit elements (lanes 8j .. 8j + 7: matrix j) and receives one register per matrix.
template <unsigned N, bool Trans>
void ldmatrix_m8n8(std::uint32_t (&r)[N], const void* row) {
    static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
    detail::LdmatrixLane x{row, {}};
    (void)detail::warp_arrive(detail::WarpOp::ldmatrix, ~0u, reinterpret_cast<std::uintptr_t>(&x),
                              static_cast<int>(N | (Trans ? 8u : 0u)), warp_size, 0);
    std::memcpy(r, x.r, sizeof r);
}

/// atomicAdd: *address += val; returns the old value.
template <class T>
T atomic_add(T* address, T val) {
    const T old = *address;
    *address = static_cast<T>(old + val);
    return old;
}
/// atomicSub: *address -= val; returns the old value.
template <class T>
T atomic_sub(T* address, T val) {
    const T old = *address;
    *address = static_cast<T>(old - val);
    return old;
}
/// atomicMax: *address = max(*address, val); returns the old value.
template <class T>
T atomic_max(T* address, T val) {
    const T old = *address;
    *address = old < val ? val : old;
    return old;
}
/// atomicMin: *address = min(*address, val); returns the old value.
template <class T>
T atomic_min(T* address, T val) {
    const T old = *address;
    *address = val < old ? val : old;
    return old;
}
/// atomicExch: *address = val; returns the old value.
template <class T>
T atomic_exch(T* address, T val) {
    const T old = *address;
    *address = val;
    return old;
}
/// atomicCAS: if *address == compare, *address = val; returns the old value.
template <class T>
T atomic_cas(T* address, T compare, T val) {
    const T old = *address;
    if (old == compare) *address = val;
    return old;
}

/// rsqrtf: 1 / sqrt(x) (the GPU's is approximate, within 2 ulp).
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
/// __expf: e^x (the GPU's fast intrinsic has a larger error, about 2 + 1.2|x| ulp).
inline float fast_expf(float x) { return std::exp(x); }
/// __logf: ln x (the GPU's fast intrinsic is approximate).
inline float fast_logf(float x) { return std::log(x); }
/// __fdividef: a / b (the GPU's fast division is approximate).
inline float fast_dividef(float a, float b) { return a / b; }
/// __saturatef: x clamped to [0, 1] (NaN -> 0).
inline float saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }
/// __popc: the number of set bits.
inline int popc(unsigned x) { return __builtin_popcount(x); }
/// __ffs: 1 + index of the least significant set bit, 0 for 0.
inline int ffs(int x) { return __builtin_ffs(x); }
/// __clz: the number of leading zero bits (32 for 0).
inline int clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }

} // namespace ctnn::cuda::host
