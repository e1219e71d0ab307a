// ctnn/core/random.hpp — counter-based random numbers (Philox4x32-10).
//
// Every random number ctnn draws (initialization, dropout masks, shuffling) is a pure function of
// (seed, stream, counter). The same numbers come out on the CPU, inside CUDA kernels and in the
// host execution of those kernels, in any thread order, so a run is reproducible bit for bit.
#pragma once
#include "../config.hpp"

#include <cmath>
#include <cstdint>

namespace ctnn {

/// The Philox4x32-10 block function (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
struct Philox4x32 {
    std::uint32_t c[4];

    CTNN_HOST_DEVICE static constexpr Philox4x32 generate(std::uint32_t c0, std::uint32_t c1,
                                                          std::uint32_t c2, std::uint32_t c3,
                                                          std::uint32_t k0, std::uint32_t k1) {
        constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
        constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
        for (int round = 0; round < 10; ++round) {
            const std::uint64_t p0 = std::uint64_t{m0} * c0;
            const std::uint64_t p1 = std::uint64_t{m1} * c2;
            const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
            const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
            c1 = static_cast<std::uint32_t>(p1);
            c3 = static_cast<std::uint32_t>(p0);
            c0 = n0;
            c2 = n2;
            k0 += w0;
            k1 += w1;
        }
        return Philox4x32{{c0, c1, c2, c3}};
    }
};

/// A stateless generator: uniform(i) is the i-th number of the stream (seed, stream).
struct CounterRng {
    std::uint64_t seed = 0;
    std::uint64_t stream = 0;

    /// 32 random bits for counter i.
    CTNN_HOST_DEVICE constexpr std::uint32_t bits(std::uint64_t i) const {
        const auto r = Philox4x32::generate(
            static_cast<std::uint32_t>(i >> 2), static_cast<std::uint32_t>(i >> 34),
            static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32),
            static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
        return r.c[i & 3u];
    }
    /// Uniform float in [0, 1), 24 bits of randomness.
    CTNN_HOST_DEVICE constexpr float uniform(std::uint64_t i) const {
        return static_cast<float>(bits(i) >> 8) * (1.0f / 16777216.0f);
    }
    /// Uniform double in [0, 1), 53 bits of randomness (two draws).
    CTNN_HOST_DEVICE constexpr double uniform_double(std::uint64_t i) const {
        const std::uint64_t hi = bits(2 * i) >> 5, lo = bits(2 * i + 1) >> 6;
        return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);
    }
    /// Standard normal (Box-Muller on two uniforms).
    CTNN_HOST_DEVICE double normal(std::uint64_t i) const {
        const double u1 = 1.0 - uniform_double(2 * i); // (0, 1]
        const double u2 = uniform_double(2 * i + 1);
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
};

/// A cheap counter-based hash for per-element random decisions (Dropout masks): two rounds of a
/// well-mixing 32-bit finalizer ("lowbias32", C. Wellons) over (key, index). Unlike Philox it
/// costs a handful of integer operations per element and vectorizes, which matters because a
/// mask bit is drawn for every activation in both the forward and the backward pass. The key is
/// derived with Philox from (seed, stream), so streams remain independent.
struct MaskHash {
    std::uint32_t k0 = 0, k1 = 0;

    CTNN_HOST_DEVICE static constexpr std::uint32_t mix(std::uint32_t x) {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        return x;
    }
    /// The hash for (seed, stream).
    CTNN_HOST_DEVICE static constexpr MaskHash make(std::uint64_t seed, std::uint64_t stream) {
        const auto r = Philox4x32::generate(static_cast<std::uint32_t>(stream),
                                            static_cast<std::uint32_t>(stream >> 32), 0x6d61736bu,
                                            0, static_cast<std::uint32_t>(seed),
                                            static_cast<std::uint32_t>(seed >> 32));
        return {r.c[0], r.c[1]};
    }
    /// 32 random bits for element i.
    CTNN_HOST_DEVICE constexpr std::uint32_t bits(std::uint32_t i) const {
        return mix(mix(i ^ k0) + k1);
    }
    /// Uniform float in [0, 1) for element i.
    CTNN_HOST_DEVICE constexpr float uniform(std::uint32_t i) const {
        return static_cast<float>(bits(i) >> 8) * (1.0f / 16777216.0f);
    }
};

} // namespace ctnn
