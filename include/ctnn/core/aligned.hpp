// ctnn/core/aligned.hpp — an allocator for buffers that vector kernels stream through.
#pragma once
#include "../config.hpp"

#include <cstddef>
#include <new>

namespace ctnn {

/// std::allocator with 64-byte (cache-line) alignment: Model's parameter and gradient buffers
/// use it so that the fused CPU kernels' 64-byte loads and stores never straddle two cache lines
/// (glibc's malloc returns 16-byte-aligned blocks, and large ones sit 16 bytes past a page).
template <class T>
struct CacheAligned {
    using value_type = T;
    static constexpr std::align_val_t alignment{64};

    CacheAligned() = default;
    template <class U>
    constexpr CacheAligned(const CacheAligned<U>&) noexcept {} // NOLINT: rebinding converts

    [[nodiscard]] T* allocate(std::size_t n) {
        return static_cast<T*>(::operator new(n * sizeof(T), alignment));
    }
    void deallocate(T* p, std::size_t n) noexcept {
        ::operator delete(p, n * sizeof(T), alignment);
    }
    template <class U>
    friend constexpr bool operator==(const CacheAligned&, const CacheAligned<U>&) noexcept {
        return true;
    }
};

} // namespace ctnn
