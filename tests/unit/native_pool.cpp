// The fused CPU kernels as this machine runs them: native*.cpp alone are built
// for the build host's CPU (-march=native with CTNN_NATIVE_ARCH, as the examples and benchmarks
// are), so its cases run the AVX-512 or AVX2 kernels that the portable unit tests (4-wide kernels)
// never reach. Each case is a check of the portable tests, at the shapes where the wide kernels
// differ: rows of 14 and 28 columns, the CNN example's channel counts. This file: the pooling in
// the convolution's store and the vectorized max-pool backward; the convolutions: native.cpp.
#include "conv_checks.hpp"
#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

using namespace ctnn;
using namespace ctnn::test;

TEST_CASE("native: Conv2D, ReLU, MaxPool2D<2> in inference (the pool in the store)") {
    // The second convolution (32 -> 64 channels, 3 x 3) runs as Winograd, whose store pools
    // whatever the row width; the first is direct (one input channel), which pools where a row
    // pair fits its register block (poolable_width: 28 columns do with AVX-512, not with AVX2).
    check_pool_fusion<Sequential<Input<1, 28, 28>, Conv2D<32, 3, Same>, ReLU, MaxPool2D<2>,
                                 Conv2D<64, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<10>>>(
        2, 67, poolable_width(28) + 1);
    // Odd sizes: 15 x 13 (the last row and column are not pooled); 7 output channels.
    check_pool_fusion<
        Sequential<Input<3, 15, 13>, Conv2D<7, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        3, 68, poolable_width(13));
    // Training pools in the store too (Y and the pooled output): gradients against double.
    check_float_gradients<
        Sequential<Input<3, 15, 13>, Conv2D<7, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 69);
    check_float_gradients<
        Sequential<Input<17, 9, 11>, Conv2D<20, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(
        2, 70);
}

TEST_CASE("native: vectorized 2 x 2 max-pool backward equals the generic window loop") {
#if CTNN_CPU_FUSED && defined(__AVX512F__)
    // Widths with whole registers (32), a partial one (28 = 16 + 12), a single partial (6, 14);
    // values with ties (ReLU zeros, repeats) and NaNs, where the first maximum must win.
    const auto check = [](auto window) {
        constexpr ctnn::detail::Window2D G = decltype(window)::value;
        static_assert(cpu::detail::max_pool2_vectorized<G>);
        constexpr std::size_t batch = 3, in = batch * G.c * G.h * G.w;
        constexpr std::size_t out = batch * G.c * G.oh * G.ow;
        std::vector<float> x(in), dz(out), fast(in, -1.0f), ref(in, -2.0f);
        for (std::size_t i = 0; i < in; ++i) {
            const float v = std::sin(0.37f * static_cast<float>(i));
            x[i] = i % 5 == 0 ? 0.0f : i % 7 == 0 ? 0.5f : v > 0.2f ? v : 0.0f; // ties, zeros
        }
        x[3] = std::nanf(""), x[G.w + 6] = std::nanf(""), x[in - 1] = std::nanf("");
        for (std::size_t i = 0; i < out; ++i) dz[i] = 1.0f + static_cast<float>(i);
        cpu::detail::max_pool2_backward(G, x.data(), dz.data(), batch, fast.data());
        eigen::detail::pool_backward<PoolOp::max>(G, x.data(), dz.data(), batch, ref.data());
        std::size_t differ = 0;
        for (std::size_t i = 0; i < in; ++i) differ += fast[i] != ref[i];
        CHECK_MESSAGE(differ == 0, "width " << G.w << ": " << differ << " values differ");
    };
    const auto window = [](std::size_t c, std::size_t h, std::size_t w) {
        ctnn::detail::Window2D g;
        g.c = c, g.h = h, g.w = w, g.kh = g.kw = g.sh = g.sw = 2, g.oh = h / 2, g.ow = w / 2;
        return g;
    };
    check(std::integral_constant<ctnn::detail::Window2D, window(3, 4, 32)>{});
    check(std::integral_constant<ctnn::detail::Window2D, window(2, 6, 28)>{});
    check(std::integral_constant<ctnn::detail::Window2D, window(5, 2, 14)>{});
    check(std::integral_constant<ctnn::detail::Window2D, window(1, 8, 6)>{});
    // Through a model: float (the vectorized backward) against double (the generic loop).
    check_float_gradients<
        Sequential<Input<3, 8, 28>, Conv2D<4, 3, Same>, ReLU, MaxPool2D<2>, Flatten, Dense<3>>>(2,
                                                                                                91);
#else
    MESSAGE("AVX-512 not compiled in: the generic pool loop is used");
#endif
}
