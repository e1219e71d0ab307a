// ctnn/core/shape.hpp — compile-time tensor shapes of one sample.
//
// A Shape<D...> is the shape of ONE sample; the batch dimension is always a runtime value and is
// never part of a Shape. Images use the channel-first layout [C, H, W], as PyTorch does.
#pragma once
#include "../config.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

namespace ctnn {

namespace detail {
/// Formats dimensions as "[a, b, c]".
template <class Range>
std::string dims_str(const Range& dims) {
    std::string s = "[";
    for (const auto& d : dims) s += std::string(s.size() > 1 ? ", " : "") + std::to_string(d);
    return s + "]";
}
} // namespace detail

/// The compile-time shape of one sample, e.g. Shape<784> or Shape<1, 28, 28>.
template <std::size_t... Dims>
struct Shape {
    static_assert(sizeof...(Dims) > 0, "a Shape needs at least one dimension");
    static_assert(((Dims > 0) && ...), "every dimension of a Shape must be positive");

    static constexpr std::size_t rank = sizeof...(Dims);
    static constexpr std::size_t size = (Dims * ...);
    static constexpr std::array<std::size_t, rank> dims{Dims...};

    /// "[1, 28, 28]"
    static std::string str() { return detail::dims_str(dims); }
};

namespace detail {
template <class T>
struct is_shape : std::false_type {};
template <std::size_t... D>
struct is_shape<Shape<D...>> : std::true_type {};
} // namespace detail

/// True for every Shape<...>.
template <class T>
concept ShapeType = detail::is_shape<T>::value;

} // namespace ctnn
