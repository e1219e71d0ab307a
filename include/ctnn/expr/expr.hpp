// ctnn/expr/expr.hpp — elementwise expression templates over one variable `x`.
//
// An expression such as `x * sigmoid(x)` is a small structural value whose type encodes the
// computation. It can be evaluated on a float, a double, or a Dual (which yields the derivative as
// well), on the CPU or inside a CUDA kernel. Because expressions are structural types, they can be
// template arguments: `Activation<x * sigmoid(x)>` is a layer.
#pragma once
#include "../config.hpp"
#include "dual.hpp"

#include <concepts>
#include <string>
#include <type_traits>

namespace ctnn::expr {

/// Tag base of every expression node.
struct node {};

/// An elementwise expression over the variable `x`.
template <class E>
concept Expression = std::is_base_of_v<node, E>;

/// The variable of an expression.
struct Var : node {
    template <class S>
    CTNN_HOST_DEVICE constexpr S operator()(S v) const {
        return v;
    }
    std::string str() const { return "x"; }
};
/// The variable, to write expressions: `x * sigmoid(x)`.
inline constexpr Var x{};

/// A real constant.
struct Const : node {
    float c;
    template <class S>
    CTNN_HOST_DEVICE constexpr S operator()(S) const {
        return lift<S>(static_cast<real_t<S>>(c));
    }
    std::string str() const {
        std::string s = std::to_string(c);
        while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
        return s;
    }
};

template <class Op, class A>
struct Unary : node {
    A a;
    template <class S>
    CTNN_HOST_DEVICE constexpr S operator()(S v) const {
        return Op::apply(a(v));
    }
    std::string str() const { return std::string(Op::name) + "(" + a.str() + ")"; }
};

template <class Op, class A, class B>
struct Binary : node {
    A a;
    B b;
    template <class S>
    CTNN_HOST_DEVICE constexpr S operator()(S v) const {
        return Op::apply(a(v), b(v));
    }
    std::string str() const {
        return std::string("(") + a.str() + " " + Op::name + " " + b.str() + ")";
    }
};

/// c * a for a real constant c. Its derivative is c * a' (not the product rule's 0 * a + c * a',
/// which is NaN where a is infinite or NaN): leaky_relu's derivative at NaN is its slope, as in
/// PyTorch.
template <class A>
struct Scale : node {
    float c;
    A a;
    template <class S>
    CTNN_HOST_DEVICE constexpr S operator()(S v) const {
        using R = real_t<S>;
        const S r = a(v);
        if constexpr (is_dual<S>::value) return S{static_cast<R>(c) * r.v, static_cast<R>(c) * r.d};
        else return static_cast<R>(c) * r;
    }
    std::string str() const {
        return std::string("(") + Const{{}, c}.str() + " * " + a.str() + ")";
    }
};

/// A comparison; evaluates to bool on the value part (comparisons are not differentiated).
template <class Op, class A, class B>
struct Compare : node {
    A a;
    B b;
    template <class S>
    CTNN_HOST_DEVICE constexpr bool operator()(S v) const {
        return Op::apply(value(a(v)), value(b(v)));
    }
    std::string str() const { return a.str() + " " + Op::name + " " + b.str(); }
};

/// where(c, a, b): a where c holds, else b. The derivative is that of the branch taken.
template <class C, class A, class B>
struct Where : node {
    C c;
    A a;
    B b;
    template <class S>
    CTNN_HOST_DEVICE constexpr S operator()(S v) const {
        return c(v) ? a(v) : b(v);
    }
    std::string str() const {
        return std::string("where(") + c.str() + ", " + a.str() + ", " + b.str() + ")";
    }
};

namespace ops {
// clang-format off
struct Add { static constexpr const char* name = "+"; template <class S> CTNN_HOST_DEVICE static constexpr S apply(S a, S b) { return a + b; } };
struct Sub { static constexpr const char* name = "-"; template <class S> CTNN_HOST_DEVICE static constexpr S apply(S a, S b) { return a - b; } };
struct Mul { static constexpr const char* name = "*"; template <class S> CTNN_HOST_DEVICE static constexpr S apply(S a, S b) { return a * b; } };
struct Div { static constexpr const char* name = "/"; template <class S> CTNN_HOST_DEVICE static constexpr S apply(S a, S b) { return a / b; } };
struct Neg { static constexpr const char* name = "-"; template <class S> CTNN_HOST_DEVICE static constexpr S apply(S a) { return -a; } };
struct Gt  { static constexpr const char* name = ">";  template <class R> CTNN_HOST_DEVICE static constexpr bool apply(R a, R b) { return a > b; } };
struct Ge  { static constexpr const char* name = ">="; template <class R> CTNN_HOST_DEVICE static constexpr bool apply(R a, R b) { return a >= b; } };
struct Lt  { static constexpr const char* name = "<";  template <class R> CTNN_HOST_DEVICE static constexpr bool apply(R a, R b) { return a < b; } };
struct Le  { static constexpr const char* name = "<="; template <class R> CTNN_HOST_DEVICE static constexpr bool apply(R a, R b) { return a <= b; } };
struct Exp      { static constexpr const char* name = "exp";      template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::exp(a); } };
struct Expm1    { static constexpr const char* name = "expm1";    template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::expm1(a); } };
struct Log      { static constexpr const char* name = "log";      template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::log(a); } };
struct Log1p    { static constexpr const char* name = "log1p";    template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::log1p(a); } };
struct Sqrt     { static constexpr const char* name = "sqrt";     template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::sqrt(a); } };
struct Tanh     { static constexpr const char* name = "tanh";     template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::tanh(a); } };
struct Erf      { static constexpr const char* name = "erf";      template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::erf(a); } };
struct Sigmoid  { static constexpr const char* name = "sigmoid";  template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::sigmoid(a); } };
struct Softplus { static constexpr const char* name = "softplus"; template <class S> CTNN_HOST_DEVICE static S apply(S a) { return math::softplus(a); } };
// clang-format on
} // namespace ops

/// Turns a real number or an expression into an expression node.
template <class T>
CTNN_HOST_DEVICE constexpr auto as_expr(T v) {
    if constexpr (Expression<T>) return v;
    else return Const{{}, static_cast<float>(v)};
}

template <class T>
concept Operand = Expression<T> || std::is_arithmetic_v<T>;

template <class A, class B>
concept ExprPair = Operand<A> && Operand<B> &&(Expression<A> || Expression<B>);

#define CTNN_EXPR_BINARY(OP, NODE, KIND)                                                           \
    template <class A, class B>                                                                    \
    requires ExprPair<A, B> CTNN_HOST_DEVICE constexpr auto operator OP(A a, B b) {                \
        using EA = decltype(as_expr(a));                                                           \
        using EB = decltype(as_expr(b));                                                           \
        return NODE<ops::KIND, EA, EB>{{}, as_expr(a), as_expr(b)};                                \
    }
CTNN_EXPR_BINARY(+, Binary, Add)
CTNN_EXPR_BINARY(-, Binary, Sub)
CTNN_EXPR_BINARY(/, Binary, Div)
CTNN_EXPR_BINARY(>, Compare, Gt)
CTNN_EXPR_BINARY(>=, Compare, Ge)
CTNN_EXPR_BINARY(<, Compare, Lt)
CTNN_EXPR_BINARY(<=, Compare, Le)
#undef CTNN_EXPR_BINARY
/// a * b; a real constant times an expression (either side) is a Scale node.
template <class A, class B>
requires ExprPair<A, B> CTNN_HOST_DEVICE constexpr auto operator*(A a, B b) {
    if constexpr (std::is_arithmetic_v<A>) return Scale<B>{{}, static_cast<float>(a), b};
    else if constexpr (std::is_arithmetic_v<B>) return Scale<A>{{}, static_cast<float>(b), a};
    else return Binary<ops::Mul, A, B>{{}, a, b};
}

template <Expression A>
CTNN_HOST_DEVICE constexpr auto operator-(A a) {
    return Unary<ops::Neg, A>{{}, a};
}

#define CTNN_EXPR_UNARY(FN, KIND)                                                                  \
    template <Expression A>                                                                        \
    CTNN_HOST_DEVICE constexpr auto FN(A a) {                                                      \
        return Unary<ops::KIND, A>{{}, a};                                                         \
    }
CTNN_EXPR_UNARY(exp, Exp)
CTNN_EXPR_UNARY(expm1, Expm1)
CTNN_EXPR_UNARY(log, Log)
CTNN_EXPR_UNARY(log1p, Log1p)
CTNN_EXPR_UNARY(sqrt, Sqrt)
CTNN_EXPR_UNARY(tanh, Tanh)
CTNN_EXPR_UNARY(erf, Erf)
CTNN_EXPR_UNARY(sigmoid, Sigmoid)
CTNN_EXPR_UNARY(softplus, Softplus)
#undef CTNN_EXPR_UNARY

/// where(condition, a, b) — a where the condition holds, else b.
template <class C, class A, class B>
requires Expression<C> && Operand<A> && Operand<B> CTNN_HOST_DEVICE constexpr auto where(C c, A a,
                                                                                         B b) {
    return Where<C, decltype(as_expr(a)), decltype(as_expr(b))>{{}, c, as_expr(a), as_expr(b)};
}
/// max(a, b): b where a <= b, a where b < a, else (a NaN) a + b, which is NaN: NaN propagates
/// from either side, as torch.maximum. Its derivative at a tie is that of b (ReLU'(0) = 0).
template <class A, class B>
requires ExprPair<A, B> CTNN_HOST_DEVICE constexpr auto max(A a, B b) {
    const auto ea = as_expr(a);
    const auto eb = as_expr(b);
    return where(ea <= eb, eb, where(eb < ea, ea, ea + eb));
}
/// min(a, b): b where a >= b, a where b > a, else (a NaN) a + b; NaN propagates as in max.
template <class A, class B>
requires ExprPair<A, B> CTNN_HOST_DEVICE constexpr auto min(A a, B b) {
    const auto ea = as_expr(a);
    const auto eb = as_expr(b);
    return where(ea >= eb, eb, where(eb > ea, ea, ea + eb));
}

/// Value and derivative of expression e at v, in one forward-mode pass.
template <Expression E, class T>
CTNN_HOST_DEVICE constexpr Dual<T> value_and_derivative(const E& e, T v) {
    return e(Dual<T>{v, T(1)});
}

} // namespace ctnn::expr
