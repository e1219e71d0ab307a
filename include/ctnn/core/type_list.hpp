// ctnn/core/type_list.hpp — a flat list of types and the few algorithms ctnn needs over it.
#pragma once
#include "../config.hpp"

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ctnn {

/// A flat, alias-based list of types (in the spirit of Boost.Mp11's mp_list).
template <class... T>
struct type_list {
    static constexpr std::size_t size = sizeof...(T);
};

namespace detail {

template <class List, class T>
struct push_back;
template <class... T, class U>
struct push_back<type_list<T...>, U> {
    using type = type_list<T..., U>;
};
template <class List, class T>
using push_back_t = typename push_back<List, T>::type;

template <class... Lists>
struct concat;
template <>
struct concat<> {
    using type = type_list<>;
};
template <class... T>
struct concat<type_list<T...>> {
    using type = type_list<T...>;
};
template <class... T, class... U, class... Rest>
struct concat<type_list<T...>, type_list<U...>, Rest...> {
    using type = typename concat<type_list<T..., U...>, Rest...>::type;
};
/// The concatenation of type_lists.
template <class... Lists>
using concat_t = typename concat<Lists...>::type;

template <class List>
struct last;
template <class T0, class... T>
struct last<type_list<T0, T...>> {
    using type = typename last<type_list<T...>>::type;
};
template <class T0>
struct last<type_list<T0>> {
    using type = T0;
};

template <class List>
struct pop_back;
template <class... T>
struct pop_back<type_list<T...>> {
    template <std::size_t... I>
    static auto impl(std::index_sequence<I...>)
        -> type_list<std::tuple_element_t<I, std::tuple<T...>>...>;
    using type = decltype(impl(std::make_index_sequence<sizeof...(T) - 1>{}));
};

template <std::size_t I, class... S>
std::tuple_element_t<I, std::tuple<S...>> stage_at_impl(type_list<S...>);
/// Element I of a type_list (of a stage list, mostly).
template <class List, std::size_t I>
using stage_at = decltype(stage_at_impl<I>(List{}));

/// Calls f.template operator()<T, I>() for each element T at index I, in order.
template <class... T, class F>
constexpr void for_each_type(type_list<T...>, F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f.template operator()<T, I>(), ...); }
    (std::index_sequence_for<T...>{});
}

} // namespace detail
} // namespace ctnn
