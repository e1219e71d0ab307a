// ctnn/backend/cuda/host/fiber.hpp — fibers for the host execution of CUDA kernels.
//
// Each GPU thread of a block runs as a fiber: a ucontext (POSIX makecontext/swapcontext) on its
// own small stack. A fiber runs until it reaches a synchronization point (__syncthreads, a warp
// shuffle or vote, __syncwarp) and then switches back to the scheduler, which resumes it once the
// point is satisfied. ucontext is used because it is portable across glibc targets (x86-64 and
// aarch64 / Jetson) and needs no assembly; its cost (a signal-mask syscall per switch) is small
// next to the test shapes host execution is meant for.
//
// Stacks: CTNN_HOST_EXEC_STACK_BYTES each (64 KiB, 256 KiB under AddressSanitizer whose redzones
// make frames larger), mapped once per OS thread with a PROT_NONE guard page below each, so a
// kernel that overflows its fiber stack faults instead of corrupting memory. They are reused by
// every later block and launch on that OS thread.
//
// AddressSanitizer: every switch is announced with __sanitizer_start_switch_fiber /
// __sanitizer_finish_switch_fiber, so ASan knows which stack is live and reports no false
// stack-buffer errors; a reused stack is unpoisoned before a new fiber starts on it.
#pragma once
#include "../../../config.hpp"
#include "../../../core/error.hpp"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CTNN_HOST_EXEC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTNN_HOST_EXEC_ASAN 1
#endif
#endif
#ifndef CTNN_HOST_EXEC_ASAN
#define CTNN_HOST_EXEC_ASAN 0
#endif

#if CTNN_HOST_EXEC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef CTNN_HOST_EXEC_STACK_BYTES
#if CTNN_HOST_EXEC_ASAN
#define CTNN_HOST_EXEC_STACK_BYTES (256u * 1024u)
#else
#define CTNN_HOST_EXEC_STACK_BYTES (64u * 1024u)
#endif
#endif

namespace ctnn::cuda::host::detail {

/// Usable bytes of each fiber stack.
inline constexpr std::size_t fiber_stack_bytes = CTNN_HOST_EXEC_STACK_BYTES;

/// One fiber stack: [lo, lo + size) usable, a guard page below lo.
struct FiberStack {
    std::byte* lo = nullptr;
    std::size_t size = 0;
};

/// Fiber stacks of one OS thread, mapped on first use and kept until the thread exits.
class StackPool {
public:
    StackPool() = default;
    StackPool(const StackPool&) = delete;
    StackPool& operator=(const StackPool&) = delete;
    ~StackPool() {
        for (const Mapping& m : maps_) ::munmap(m.base, m.bytes);
    }

    /// The i-th stack, mapping more stacks if needed. Throws ctnn::error if mmap fails.
    FiberStack get(std::size_t i) {
        while (maps_.size() <= i) grow();
        const Mapping& m = maps_[i];
        return {static_cast<std::byte*>(m.base) + page(), m.bytes - page()};
    }

private:
    struct Mapping {
        void* base;
        std::size_t bytes;
    };
    static std::size_t page() {
        const long p = ::sysconf(_SC_PAGESIZE);
        return p > 0 ? static_cast<std::size_t>(p) : 4096u;
    }
    void grow() {
        const std::size_t pg = page();
        const std::size_t usable = (fiber_stack_bytes + pg - 1) / pg * pg;
        const std::size_t bytes = usable + pg;
        void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) {
            std::string m = "host execution: cannot map a fiber stack of ";
            m += std::to_string(bytes);
            m += " bytes";
            throw error(m);
        }
        // The lowest page is the guard: a stack overflow faults there.
        ::mprotect(base, pg, PROT_NONE);
        maps_.push_back({base, bytes});
    }
    std::vector<Mapping> maps_;
};

/// The scheduler side of fiber switching on one OS thread: its saved context and, under ASan, the
/// bounds of its stack (learned when a fiber first starts).
struct SchedulerContext {
    ucontext_t ctx{};
    const void* asan_bottom = nullptr;
    std::size_t asan_size = 0;
};

/// One fiber: its context, stack and ASan fake-stack handle.
struct Fiber {
    ucontext_t ctx{};
    FiberStack stack{};
    void* asan_fake_stack = nullptr;

    /// Prepares the fiber to run entry() from the top of `s` at its next resume().
    void reset(FiberStack s, void (*entry)()) {
        stack = s;
        asan_fake_stack = nullptr;
#if CTNN_HOST_EXEC_ASAN
        // A fiber abandoned mid-kernel (a failed launch) may have left poisoned frames here.
        ASAN_UNPOISON_MEMORY_REGION(s.lo, s.size);
#endif
        ::getcontext(&ctx);
        ctx.uc_stack.ss_sp = s.lo;
        ctx.uc_stack.ss_size = s.size;
        ctx.uc_link = nullptr;
        ::makecontext(&ctx, entry, 0);
    }
};

/// Scheduler -> fiber: runs `f` until it switches back.
inline void resume(SchedulerContext& sched, Fiber& f) {
#if CTNN_HOST_EXEC_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack.lo, f.stack.size);
#endif
    ::swapcontext(&sched.ctx, &f.ctx);
#if CTNN_HOST_EXEC_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

/// First statement of a fiber's entry function.
inline void fiber_started(SchedulerContext& sched) {
#if CTNN_HOST_EXEC_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &sched.asan_bottom, &sched.asan_size);
#else
    (void)sched;
#endif
}

/// Fiber -> scheduler; returns when the scheduler resumes `f` again.
inline void suspend(SchedulerContext& sched, Fiber& f) {
#if CTNN_HOST_EXEC_ASAN
    __sanitizer_start_switch_fiber(&f.asan_fake_stack, sched.asan_bottom, sched.asan_size);
#endif
    ::swapcontext(&f.ctx, &sched.ctx);
#if CTNN_HOST_EXEC_ASAN
    __sanitizer_finish_switch_fiber(f.asan_fake_stack, &sched.asan_bottom, &sched.asan_size);
#endif
}

/// Fiber -> scheduler for good: the fiber finished or is abandoned; it is never resumed.
/// Objects still alive on the fiber's stack are not destroyed.
[[noreturn]] inline void leave(SchedulerContext& sched) {
#if CTNN_HOST_EXEC_ASAN
    __sanitizer_start_switch_fiber(nullptr, sched.asan_bottom, sched.asan_size);
#endif
    ::setcontext(&sched.ctx);
    __builtin_unreachable();
}

} // namespace ctnn::cuda::host::detail
