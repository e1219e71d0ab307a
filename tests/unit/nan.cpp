// NaN propagates as in PyTorch (issue 17): through every activation and its derivative (the
// expressions, which both backends evaluate), through the Eigen executor (double), the portable
// fused kernels (float MLPs) and the convolution stores with ReLU and a fused max pool (float
// CNNs). tests/unit/nan_cuda.cpp runs the same model checks on the CUDA kernels, native.cpp on
// this machine's widest fused kernels.
#include "nan_checks.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <type_traits>

using namespace ctnn;
using namespace ctnn::test::nan;

namespace {

/// Value and derivative of e at NaN: value NaN, derivative as PyTorch's backward at NaN (d_nan;
/// NaN for "NaN").
template <class E>
void check_at_nan(const E& e, double d_nan, const char* what) {
    INFO(std::string(what));
    const auto v = expr::value_and_derivative(e, qnan<double>);
    CHECK(std::isnan(v.v));
    if (std::isnan(d_nan)) CHECK(std::isnan(v.d));
    else CHECK(v.d == d_nan);
    CHECK(std::isnan(e(qnan<float>)));
}

} // namespace

TEST_CASE("nan: every activation is NaN at NaN, its derivative as PyTorch's backward") {
    using expr::x;
    const double nan_d = qnan<double>;
    // relu, hardtanh, clamp: PyTorch's threshold_backward / hardtanh_backward pass the
    // gradient where the input is NaN (no comparison holds); leaky_relu scales it by the slope.
    check_at_nan(act::relu, 1.0, "relu");
    check_at_nan(act::leaky_relu<0.25f>, 0.25, "leaky_relu");
    check_at_nan(act::elu<1.0f>, 1.0, "elu");
    check_at_nan(act::sigmoid, nan_d, "sigmoid");
    check_at_nan(act::tanh, nan_d, "tanh");
    check_at_nan(act::gelu, nan_d, "gelu");
    check_at_nan(act::gelu_tanh, nan_d, "gelu_tanh");
    check_at_nan(act::silu, nan_d, "silu");
    check_at_nan(act::softplus<1.0f, 20.0f>, nan_d, "softplus");
    check_at_nan(act::identity, 1.0, "identity");
    check_at_nan(expr::max(x, 0.0f), 1.0, "max(x, 0)");
    check_at_nan(expr::max(0.0f, x), 1.0, "max(0, x)");
    check_at_nan(expr::min(expr::max(x, 0.0f), 6.0f), 1.0, "relu6");
    check_at_nan(expr::min(6.0f, x), 1.0, "min(6, x)");
    // Away from NaN, max and min are unchanged: ties take the second operand's derivative.
    CHECK(expr::max(x, 0.0f)(-2.0) == 0.0);
    CHECK(expr::max(x, 0.0f)(2.0) == 2.0);
    CHECK(expr::min(x, 1.0f)(3.0) == 1.0);
    CHECK(expr::value_and_derivative(act::relu, 0.0).d == 0.0);
    CHECK(expr::value_and_derivative(expr::max(x, 0.0f), 0.0).d == 0.0);
    CHECK(expr::value_and_derivative(expr::min(x, 1.0f), 1.0).d == 0.0);
    CHECK(expr::value_and_derivative(act::elu<1.0f>, 0.0).d == doctest::Approx(1.0));
}

TEST_CASE("nan: every activation propagates NaN forward and backward, Eigen executor (double)") {
    check_every_activation<double>(device::cpu());
}

TEST_CASE("nan: every activation propagates NaN forward and backward, fused executor (float)") {
#if CTNN_CPU_FUSED
    static_assert(cpu::fused_eligible<Sequential<Input<4>, Dense<8>, ReLU, Dense<3>>, float>);
#endif
    check_every_activation<float>(device::cpu());
}

TEST_CASE("nan: a NaN feature reaches the outputs and gradients: MLP, CNN, residual (float)") {
    check_models<float>(device::cpu());
}

TEST_CASE("nan: a NaN feature reaches the outputs and gradients: MLP, CNN, residual (double)") {
    check_models<double>(device::cpu());
}

TEST_CASE("nan: the portable fused kernels' ReLU, its derivative and max keep NaN") {
#if CTNN_CPU_FUSED
    check_simd<cpu::simd::Vec4>();
    // The instruction set this build's kernels use, where it is not the portable one (NEON on
    // aarch64; AVX2/AVX-512 are native_mlp.cpp's, built with -march=native).
    if constexpr (!std::is_same_v<cpu::simd::Native, cpu::simd::Vec4>)
        check_simd<cpu::simd::Native>();
#else
    MESSAGE("fused CPU kernels not compiled in");
#endif
}
