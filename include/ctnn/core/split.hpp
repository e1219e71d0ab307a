// ctnn/core/split.hpp — a seeded train / validation / test split of a Dataset.
//
// Every sample lands in exactly one part; the same seed gives the same parts on every platform
// (the shuffle draws from ctnn's counter-based Philox generator, not from <random>).
#pragma once
#include "../config.hpp"
#include "dataset.hpp"
#include "error.hpp"
#include "random.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace ctnn {

/// The share of the samples each part gets: each finite and >= 0, summing to 1 (within 1e-9).
/// Part sizes are floor(fraction * n), and the samples left over by rounding go one each to
/// the parts with the largest remainders (ties: train, then validation, then test).
struct SplitFractions {
    double train = 0.8;
    double validation = 0.1;
    double test = 0.1;
};

/// Exact part sizes: they must add up to the dataset's size.
struct SplitCounts {
    std::size_t train = 0;
    std::size_t validation = 0;
    std::size_t test = 0;
};

/// How split_dataset draws the parts.
struct SplitOptions {
    std::uint64_t seed = 0; ///< the same seed, data size and sizes give the same parts
    bool stratify = false;  ///< keep each class's share in every part as far as sizes allow
                            ///< (needs labels)
};

/// Sample indices of each part, each in increasing order (the dataset's order).
struct SplitIndices {
    std::vector<std::size_t> train;
    std::vector<std::size_t> validation;
    std::vector<std::size_t> test;
};

/// The three parts of a dataset. A part of size 0 is an empty Dataset with the source's
/// feature_count, sample_shape and target_count.
struct DatasetParts {
    Dataset train;
    Dataset validation;
    Dataset test;
};

namespace detail {

/// Part sizes from fractions by the largest-remainder rule (see SplitFractions).
[[nodiscard]] inline std::array<std::size_t, 3> split_sizes(const std::array<double, 3>& f,
                                                            std::size_t n) {
    std::array<std::size_t, 3> size{};
    std::array<double, 3> rest{};
    std::size_t taken = 0;
    for (std::size_t p = 0; p < 3; ++p) {
        const double exact = f[p] * static_cast<double>(n);
        size[p] = std::min(static_cast<std::size_t>(std::floor(exact)), n - taken);
        rest[p] = exact - static_cast<double>(size[p]);
        taken += size[p];
    }
    while (taken < n) {
        std::size_t best = 0;
        for (std::size_t p = 1; p < 3; ++p)
            if (rest[p] > rest[best]) best = p;
        ++size[best];
        rest[best] = -1.0; // one extra sample per part (fractions adding up to 1 leave < 3)
        ++taken;
    }
    return size;
}

/// The high 64 bits of a * b.
[[nodiscard]] constexpr std::uint64_t mul_high(std::uint64_t a, std::uint64_t b) noexcept {
    const std::uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    const std::uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
    return a_hi * b_hi + (hi_lo >> 32) + (cross >> 32);
}

/// Fisher-Yates shuffle of `v`, deterministic for (seed, stream).
inline void seeded_shuffle(std::vector<std::size_t>& v, std::uint64_t seed, std::uint64_t stream) {
    const CounterRng rng{seed, stream};
    for (std::size_t i = v.size(); i > 1; --i) {
        // A uniform index in [0, i): 64 random bits times i, high part (Lemire's method; the bias
        // is below i / 2^64).
        const std::uint64_t r = (std::uint64_t{rng.bits(2 * i)} << 32) | rng.bits(2 * i + 1);
        const auto j = static_cast<std::size_t>(mul_high(r, i));
        std::swap(v[i - 1], v[j]);
    }
}

/// The samples of `src` at `idx`, in that order.
[[nodiscard]] inline Dataset take_samples(const Dataset& src, std::span<const std::size_t> idx) {
    Dataset d;
    d.feature_count = src.feature_count;
    d.sample_shape = src.sample_shape;
    d.target_count = src.target_count;
    const std::size_t f = src.feature_count;
    d.features.reserve(idx.size() * f);
    for (const std::size_t i : idx)
        d.features.insert(d.features.end(),
                          src.features.begin() + static_cast<std::ptrdiff_t>(i * f),
                          src.features.begin() + static_cast<std::ptrdiff_t>((i + 1) * f));
    if (src.has_labels()) {
        d.labels.reserve(idx.size());
        for (const std::size_t i : idx) d.labels.push_back(src.labels[i]);
    }
    if (src.has_targets()) {
        const std::size_t t = src.target_count;
        d.targets.reserve(idx.size() * t);
        for (const std::size_t i : idx)
            d.targets.insert(d.targets.end(),
                             src.targets.begin() + static_cast<std::ptrdiff_t>(i * t),
                             src.targets.begin() + static_cast<std::ptrdiff_t>((i + 1) * t));
    }
    return d;
}

/// Splits indices 0..n-1 into parts of the given sizes (summing to n); see split_indices.
[[nodiscard]] inline SplitIndices split_by_sizes(std::size_t n,
                                                 const std::array<std::size_t, 3>& sizes,
                                                 std::span<const std::int32_t> labels,
                                                 const SplitOptions& opt) {
    std::array<std::vector<std::size_t>, 3> part;
    if (!opt.stratify) {
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i) order[i] = i;
        seeded_shuffle(order, opt.seed, 0);
        std::size_t at = 0;
        for (std::size_t p = 0; p < 3; ++p) {
            part[p].assign(order.begin() + static_cast<std::ptrdiff_t>(at),
                           order.begin() + static_cast<std::ptrdiff_t>(at + sizes[p]));
            at += sizes[p];
        }
    } else {
        // Each class is shuffled on its own stream and cut in the parts' proportions (floors
        // first); the samples left over by rounding then go where the remainder is largest
        // while both the part and the class have room, and last wherever there is room.
        std::map<std::int32_t, std::vector<std::size_t>> classes;
        for (std::size_t i = 0; i < n; ++i) classes[labels[i]].push_back(i);
        struct Class {
            std::vector<std::size_t> members;
            std::array<std::size_t, 3> take{};
            std::size_t left = 0;
        };
        std::vector<Class> cls;
        std::array<std::size_t, 3> need = sizes;
        for (auto& [label, members] : classes) {
            Class c;
            c.members = std::move(members);
            seeded_shuffle(c.members, opt.seed, 1 + static_cast<std::uint32_t>(label));
            c.left = c.members.size();
            for (std::size_t p = 0; p < 3; ++p) {
                const double exact = static_cast<double>(sizes[p]) *
                                     static_cast<double>(c.members.size()) / static_cast<double>(n);
                c.take[p] =
                    std::min({static_cast<std::size_t>(std::floor(exact)), need[p], c.left});
                need[p] -= c.take[p];
                c.left -= c.take[p];
            }
            cls.push_back(std::move(c));
        }
        struct Rest {
            double rest;
            std::size_t c, p;
        };
        std::vector<Rest> rests;
        for (std::size_t c = 0; c < cls.size(); ++c)
            for (std::size_t p = 0; p < 3; ++p) {
                const double exact = static_cast<double>(sizes[p]) *
                                     static_cast<double>(cls[c].members.size()) /
                                     static_cast<double>(n);
                rests.push_back({exact - std::floor(exact), c, p});
            }
        std::stable_sort(rests.begin(), rests.end(),
                         [](const Rest& a, const Rest& b) { return a.rest > b.rest; });
        for (const Rest& r : rests)
            if (need[r.p] > 0 && cls[r.c].left > 0) {
                ++cls[r.c].take[r.p];
                --cls[r.c].left;
                --need[r.p];
            }
        for (Class& c : cls)
            for (std::size_t p = 0; p < 3; ++p) {
                const std::size_t more = std::min(need[p], c.left);
                c.take[p] += more;
                c.left -= more;
                need[p] -= more;
            }
        for (const Class& c : cls) {
            std::size_t at = 0;
            for (std::size_t p = 0; p < 3; ++p) {
                part[p].insert(part[p].end(), c.members.begin() + static_cast<std::ptrdiff_t>(at),
                               c.members.begin() + static_cast<std::ptrdiff_t>(at + c.take[p]));
                at += c.take[p];
            }
        }
    }
    for (auto& p : part) std::sort(p.begin(), p.end());
    return {std::move(part[0]), std::move(part[1]), std::move(part[2])};
}

[[nodiscard]] inline std::array<std::size_t, 3> checked_sizes(const SplitFractions& f,
                                                              std::size_t n) {
    const std::array<double, 3> fr{f.train, f.validation, f.test};
    constexpr const char* names[] = {"train", "validation", "test"};
    for (std::size_t p = 0; p < 3; ++p)
        if (!std::isfinite(fr[p]) || fr[p] < 0.0 || fr[p] > 1.0)
            throw argument_error(std::string("split: the ") + names[p] + " fraction is " +
                                 std::to_string(fr[p]) + "; each fraction must be in [0, 1]");
    const double total = fr[0] + fr[1] + fr[2];
    if (std::abs(total - 1.0) > 1e-9)
        throw argument_error("split: the fractions add up to " + std::to_string(total) +
                             ", not 1 (train " + std::to_string(fr[0]) + ", validation " +
                             std::to_string(fr[1]) + ", test " + std::to_string(fr[2]) +
                             "); every sample must land in exactly one part");
    return split_sizes(fr, n);
}

[[nodiscard]] inline std::array<std::size_t, 3> checked_sizes(const SplitCounts& c, std::size_t n) {
    const std::size_t total = c.train + c.validation + c.test;
    if (total != n || c.train > n || c.validation > n || c.test > n)
        throw argument_error("split: the counts (train " + std::to_string(c.train) +
                             ", validation " + std::to_string(c.validation) + ", test " +
                             std::to_string(c.test) + ") must add up to the " + std::to_string(n) +
                             " samples of the dataset");
    return {c.train, c.validation, c.test};
}

inline void check_stratify(const Dataset& data, const SplitOptions& opt) {
    if (opt.stratify && !data.has_labels())
        throw argument_error("split: stratify needs class labels, and the dataset has none");
}

} // namespace detail

/// The indices of a seeded split of `data` into parts of the given sizes: fractions
/// (SplitFractions) or exact counts (SplitCounts). Throws argument_error for fractions outside
/// [0, 1] or not adding up to 1, counts not adding up to data.size(), or stratify without labels;
/// shape_error for an inconsistent dataset.
template <class Sizes>
    requires std::same_as<Sizes, SplitFractions> || std::same_as<Sizes, SplitCounts>
[[nodiscard]] SplitIndices split_indices(const Dataset& data, const Sizes& sizes,
                                         const SplitOptions& options = {}) {
    data.validate();
    detail::check_stratify(data, options);
    const std::size_t n = data.size();
    return detail::split_by_sizes(n, detail::checked_sizes(sizes, n), data.labels, options);
}

/// A seeded split of `data` into train, validation and test parts (see split_indices): each
/// part holds its samples (features, labels, targets) in the dataset's order; the same seed
/// gives the same parts. A validation or test fraction of 0 gives an empty part.
///
///     auto [train, val, test] = ctnn::split_dataset(data, ctnn::SplitFractions{0.7, 0.15, 0.15},
///                                                   {.seed = 42, .stratify = true});
template <class Sizes>
    requires std::same_as<Sizes, SplitFractions> || std::same_as<Sizes, SplitCounts>
[[nodiscard]] DatasetParts split_dataset(const Dataset& data, const Sizes& sizes,
                                         const SplitOptions& options = {}) {
    const SplitIndices idx = split_indices(data, sizes, options);
    return {detail::take_samples(data, idx.train), detail::take_samples(data, idx.validation),
            detail::take_samples(data, idx.test)};
}

} // namespace ctnn
